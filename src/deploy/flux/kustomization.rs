//! Flux `Kustomization` (`kustomize.toolkit.fluxcd.io`): which files of this repository it
//! deploys, and how it rewrites them on the way.
//!
//! Why: the object a cluster gets from a Flux Kustomization is its folder's YAML after
//! `targetNamespace`, `namePrefix` / `nameSuffix`, `patches`, `images`, `components` and
//! post-build substitution; identity must be judged on that, and the folder decides which
//! Kustomizations share an object.
//!
//! Followed: kustomize-controller builds `spec.path` of its source with fluxcd/pkg
//! `kustomize/kustomize_generator.go` (`Generator.WriteFile` / `GenerateManifest`): a folder
//! holding a kustomization file is built by kustomize; otherwise a kustomization is generated
//! listing every `.yaml` / `.yml` file under the folder, recursively, and every sub-folder
//! holding a kustomization file as one resource (`findOrGenerateKustomization`,
//! `scanManifests`, which does not descend into it). The generator then writes into that
//! kustomization `namespace` (`spec.targetNamespace`), `namePrefix`, `nameSuffix`
//! (`spec.namePrefix` / `spec.nameSuffix`), appends `spec.patches` (each `patch` with its
//! `target` selector) and `spec.components`, and merges `spec.images` by name; the controller
//! substitutes variables after the build (see [`super::substitute`]). `spec.prune: true` deletes
//! objects that leave the output, and deleting the Kustomization deletes what it applied
//! (garbage collection, kustomize-controller docs "Prune").
//!
//! Two paths, one result: a Kustomization with `patches`, `images` or `components` is built with
//! kustomize over exactly that kustomization ([`Kustomization::build_edit`], rendered by the
//! sandboxed kustomize renderer); one without them is rewritten in-process
//! ([`Kustomization::rewrite`]: namespace, prefix and suffix, substitution), the fast path, which
//! gives what kustomize would for those fields.

use std::collections::BTreeMap;

use serde_json::Value;

use super::source::SourceRef;
use super::substitute;
use super::{is_flux, named, non_empty, normalize_path};
use crate::manifest::Origin;
use crate::render::{KustomizeEdit, KustomizeImage, KustomizePatch};

/// The Kustomization API group.
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// One `spec.postBuild.substituteFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    pub name: String,
    /// A missing object is skipped rather than failing the build.
    pub optional: bool,
}

/// The parts of a Kustomization clobbercheck uses, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Kustomization {
    pub namespace: String,
    pub name: String,
    pub origin: Origin,
    /// `spec.sourceRef` (namespace defaulted to the Kustomization's).
    pub source: Option<SourceRef>,
    /// `spec.path`, normalised (empty: the source's root).
    pub path: String,
    /// `spec.prune`.
    pub prune: bool,
    /// `spec.kubeConfig.secretRef.name`: the remote cluster it applies to.
    pub kube_config: Option<String>,
    pub target_namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    /// Whether `spec.postBuild` is written (substitution runs only then).
    pub post_build: bool,
    /// `spec.postBuild.substitute`, newlines removed.
    pub substitute: BTreeMap<String, String>,
    pub substitute_from: Vec<SubstituteReference>,
    /// `spec.patches`: strategic-merge or JSON 6902 patches with their target selectors.
    pub patches: Vec<KustomizePatch>,
    /// `spec.images`: image name, tag and digest overrides.
    pub images: Vec<KustomizeImage>,
    /// `spec.components`, relative to `spec.path`.
    pub components: Vec<String>,
    /// `spec.ignoreMissingComponents`.
    pub ignore_missing_components: bool,
}

/// The selector fields of a `spec.patches[].target` (fluxcd/pkg `apis/kustomize` `Selector`).
const SELECTOR_FIELDS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];

impl Kustomization {
    /// Reads a Kustomization document; `None` for anything else (kustomize's own
    /// `kustomize.config.k8s.io` Kustomization included).
    pub fn from_value(value: &Value, origin: &Origin, default_namespace: &str) -> Option<Self> {
        if !is_flux(value, KUSTOMIZE_GROUP, "Kustomization") {
            return None;
        }
        let (name, namespace) = named(value, default_namespace)?;
        let (name, namespace) = (name.to_string(), namespace.to_string());
        let spec = &value["spec"];
        let post_build = &spec["postBuild"];
        let text = |v: &Value| non_empty(v).map(str::to_string);
        Some(Self {
            source: SourceRef::read(&spec["sourceRef"], &namespace),
            path: normalize_path(non_empty(&spec["path"]).unwrap_or_default()),
            prune: spec["prune"].as_bool() == Some(true),
            kube_config: text(&spec["kubeConfig"]["secretRef"]["name"]),
            target_namespace: text(&spec["targetNamespace"]),
            name_prefix: text(&spec["namePrefix"]),
            name_suffix: text(&spec["nameSuffix"]),
            post_build: post_build.is_object(),
            substitute: post_build["substitute"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), scalar(v).replace('\n', "")))
                .collect(),
            substitute_from: post_build["substituteFrom"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| {
                    Some(SubstituteReference {
                        kind: non_empty(&r["kind"])?.to_string(),
                        name: non_empty(&r["name"])?.to_string(),
                        optional: r["optional"].as_bool() == Some(true),
                    })
                })
                .collect(),
            patches: spec["patches"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let target = p["target"].as_object().map(|t| {
                        SELECTOR_FIELDS
                            .iter()
                            .filter_map(|k| {
                                Some((k.to_string(), non_empty(t.get(*k)?)?.to_string()))
                            })
                            .collect()
                    });
                    Some(KustomizePatch {
                        patch: p["patch"].as_str()?.to_string(),
                        target,
                    })
                })
                .collect(),
            images: spec["images"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    Some(KustomizeImage {
                        name: non_empty(&i["name"])?.to_string(),
                        new_name: text(&i["newName"]),
                        new_tag: text(&i["newTag"]),
                        digest: text(&i["digest"]),
                    })
                })
                .collect(),
            components: spec["components"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| non_empty(c).map(str::to_string))
                .collect(),
            ignore_missing_components: spec["ignoreMissingComponents"].as_bool() == Some(true),
            namespace,
            name,
            origin: origin.clone(),
        })
    }

    /// Whether kustomize-controller's build changes what is written beyond what [`Self::rewrite`]
    /// follows in-process (`spec.patches`, `spec.images`, `spec.components`): then its output is
    /// the kustomize build of [`Self::build_edit`], rendered as the target [`Self::build_target`].
    pub fn builds(&self) -> bool {
        !self.patches.is_empty() || !self.images.is_empty() || !self.components.is_empty()
    }

    /// The name of the render target that builds this Kustomization's output (when it
    /// [`builds`](Self::builds)): its folder and itself, so that its output is told from the
    /// folder's own and from another Kustomization's build of the same folder.
    pub fn build_target(&self) -> String {
        let path = if self.path.is_empty() {
            "."
        } else {
            self.path.as_str()
        };
        format!("{path} (Kustomization {}/{})", self.namespace, self.name)
    }

    /// What kustomize-controller writes into the kustomization it builds (fluxcd/pkg
    /// `Generator.GenerateManifest`); `generate` when the folder holds no kustomization file.
    pub fn build_edit(&self, generate: bool) -> KustomizeEdit {
        KustomizeEdit {
            name_prefix: self.name_prefix.clone(),
            name_suffix: self.name_suffix.clone(),
            namespace: self.target_namespace.clone(),
            common_labels: BTreeMap::new(),
            patches: self.patches.clone(),
            images: self.images.clone(),
            components: self.components.clone(),
            ignore_missing_components: self.ignore_missing_components,
            flux: true,
            generate,
        }
    }

    /// Whether the repository file `path` is in this Kustomization's output: under its folder
    /// (the generated kustomization lists the whole subtree; a kustomize folder's rendered output
    /// has the folder's kustomization file as origin).
    pub fn covers(&self, path: &str) -> bool {
        self.path.is_empty()
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// The document as this Kustomization applies it, `None` when it applies it as written:
    /// `targetNamespace`, `namePrefix` / `nameSuffix` (not on CustomResourceDefinitions, whose
    /// names are fixed by their group), then substitution of `vars` unless the object opts out.
    /// Substitution runs when `postBuild` is written and some variable is known, as
    /// `SubstituteVariables` does without its `Always` option. A Kustomization that
    /// [`builds`](Self::builds) rewrites its build's output, where kustomize already applied the
    /// namespace, prefix and suffix: only substitution is left.
    pub fn rewrite(&self, value: &Value, vars: &BTreeMap<String, String>) -> Option<Value> {
        let built = self.builds();
        let namespace = self.target_namespace.as_ref().filter(|_| !built);
        let renames = !built && (self.name_prefix.is_some() || self.name_suffix.is_some());
        let substitutes = self.substitutes(value, vars);
        if namespace.is_none() && !renames && !substitutes {
            return None;
        }
        let mut out = value.clone();
        if let (Some(namespace), Some(metadata)) = (namespace, out["metadata"].as_object_mut()) {
            metadata.insert("namespace".into(), Value::String(namespace.clone()));
        }
        let crd = value["kind"].as_str() == Some("CustomResourceDefinition");
        if renames
            && !crd
            && let Some(name) = out["metadata"]["name"].as_str()
        {
            let renamed = format!(
                "{}{name}{}",
                self.name_prefix.as_deref().unwrap_or_default(),
                self.name_suffix.as_deref().unwrap_or_default()
            );
            out["metadata"]["name"] = Value::String(renamed);
        }
        if substitutes {
            // Invalid variable names are reported once per Kustomization when it is learned;
            // then the build fails in Flux and the document stays as written here.
            if let Ok(done) = substitute::document(&out, vars, false) {
                out = done;
            }
        }
        (out != *value).then_some(out)
    }

    /// Whether post-build substitution runs on a document: `postBuild` is written, some
    /// variable is known and the object does not opt out.
    fn substitutes(&self, value: &Value, vars: &BTreeMap<String, String>) -> bool {
        self.post_build && !vars.is_empty() && !substitute::disabled(value)
    }

    /// The variable a document leaves unresolved without a default, which fails the build when
    /// kustomize-controller runs with `--feature-gates=StrictPostBuildSubstitutions=true`
    /// (fluxcd/pkg `kustomize/kustomize_varsub.go`, `varSubstitution` with `strict`).
    pub fn unresolved(&self, value: &Value, vars: &BTreeMap<String, String>) -> Option<String> {
        if !self.substitutes(value, vars) {
            return None;
        }
        match substitute::document(value, vars, true) {
            Err(substitute::SubstituteError::NotSet(name)) => Some(name),
            _ => None,
        }
    }
}

/// A scalar as text (YAML may have read `3` or `true`).
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kustomization(spec: Value) -> Kustomization {
        let doc = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                         "metadata": {"name": "apps", "namespace": "flux-system"}, "spec": spec});
        let origin = Origin {
            path: "clusters/prod/apps.yaml".into(),
            line: 1,
            end_line: 1,
            target: None,
            generator: None,
        };
        Kustomization::from_value(&doc, &origin, "default").unwrap()
    }

    #[test]
    fn covers_the_folder_recursively() {
        let k = kustomization(json!({"path": "./apps/prod/", "prune": true}));
        assert_eq!(k.path, "apps/prod");
        assert!(k.prune);
        assert!(k.covers("apps/prod/web.yaml"));
        assert!(k.covers("apps/prod/deep/web.yaml"));
        assert!(!k.covers("apps/production/web.yaml"));
        assert!(kustomization(json!({"path": "./"})).covers("anything.yaml"));
    }

    #[test]
    fn rewrites_namespace_name_and_variables() {
        let k = kustomization(json!({"path": "apps", "targetNamespace": "prod",
            "namePrefix": "p-", "postBuild": {"substitute": {"tier": "gold"}}}));
        let doc = json!({"kind": "ConfigMap", "metadata": {"name": "web-${tier}"}});
        let out = k.rewrite(&doc, &k.substitute).unwrap();
        assert_eq!(out["metadata"]["name"], "p-web-gold");
        assert_eq!(out["metadata"]["namespace"], "prod");
        let plain = kustomization(json!({"path": "apps"}));
        assert!(plain.rewrite(&doc, &BTreeMap::new()).is_none());
        assert!(!k.builds());
    }

    #[test]
    fn patches_images_and_components_make_a_kustomize_build() {
        let k = kustomization(
            json!({"path": "apps", "namePrefix": "p-", "targetNamespace": "prod",
            "patches": [{"patch": "- op: remove\n  path: /spec\n",
                         "target": {"kind": "Service", "labelSelector": "a=b", "bogus": "x"}},
                        {"target": {"kind": "Service"}}],
            "images": [{"name": "nginx", "newTag": "1.27"}, {"newTag": "x"}],
            "components": ["../components/a", ""],
            "ignoreMissingComponents": true,
            "postBuild": {"substitute": {"tier": "gold"}}}),
        );
        assert!(k.builds());
        assert_eq!(k.patches.len(), 1, "a patch without text is not one");
        let target = k.patches[0].target.as_ref().unwrap();
        assert_eq!(target.len(), 2, "{target:?}");
        assert_eq!(target["labelSelector"], "a=b");
        assert_eq!(k.images.len(), 1);
        assert_eq!(k.images[0].new_tag.as_deref(), Some("1.27"));
        assert_eq!(k.components, vec!["../components/a"]);
        assert_eq!(k.build_target(), "apps (Kustomization flux-system/apps)");
        let edit = k.build_edit(true);
        assert!(edit.flux && edit.generate && edit.ignore_missing_components);
        assert_eq!(edit.namespace.as_deref(), Some("prod"));
        assert_eq!(edit.name_prefix.as_deref(), Some("p-"));
        // kustomize already applied namespace and prefix to the build's output: only
        // substitution is left.
        let built = json!({"kind": "ConfigMap", "metadata": {"name": "p-web-${tier}", "namespace": "prod"}});
        let out = k.rewrite(&built, &k.substitute).unwrap();
        assert_eq!(out["metadata"]["name"], "p-web-gold");
        let done = json!({"kind": "ConfigMap", "metadata": {"name": "p-web", "namespace": "prod"}});
        assert!(k.rewrite(&done, &k.substitute).is_none());
    }

    #[test]
    fn strict_substitution_names_the_unresolved_variable() {
        let k =
            kustomization(json!({"path": "apps", "postBuild": {"substitute": {"env": "prod"}}}));
        let doc = json!({"kind": "ConfigMap", "metadata": {"name": "web-${env}"},
                         "data": {"a": "${tier:=gold}", "b": "${region}"}});
        assert_eq!(k.unresolved(&doc, &k.substitute).as_deref(), Some("region"));
        let resolved = json!({"kind": "ConfigMap", "metadata": {"name": "web-${env}"}});
        assert_eq!(k.unresolved(&resolved, &k.substitute), None);
        // Without variables substitution does not run at all, strict or not.
        assert_eq!(k.unresolved(&doc, &BTreeMap::new()), None);
    }
}
