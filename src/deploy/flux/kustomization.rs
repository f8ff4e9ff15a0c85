//! Flux `Kustomization` (`kustomize.toolkit.fluxcd.io`): which files of this repository it
//! deploys, and how it rewrites them on the way.
//!
//! Why: the object a cluster gets from a Flux Kustomization is its folder's YAML after
//! `targetNamespace`, `namePrefix` / `nameSuffix` and post-build substitution; identity must be
//! judged on that, and the folder decides which Kustomizations share an object.
//!
//! Followed: kustomize-controller builds `spec.path` of its source with fluxcd/pkg
//! `kustomize/kustomize_generator.go`: a folder holding a kustomization file is built by
//! kustomize; otherwise a kustomization is generated listing every `.yaml` / `.yml` file under
//! the folder, recursively, and every sub-folder holding a kustomization file as one resource
//! (`scanManifests`, which does not descend into it). The generator then sets `namespace`
//! (`spec.targetNamespace`), `namePrefix`, `nameSuffix` (`spec.namePrefix` / `spec.nameSuffix`),
//! and the controller substitutes variables after the build (see [`super::substitute`]).
//! `spec.prune: true` deletes objects that leave the output, and deleting the Kustomization
//! deletes what it applied (garbage collection, kustomize-controller docs "Prune").
//!
//! Not followed: `spec.patches`, `spec.images` and `spec.components` change content, not which
//! objects exist; they are not applied (README, "Flux model").

use std::collections::BTreeMap;

use serde_json::Value;

use super::source::SourceRef;
use super::substitute;
use super::{is_flux, named, non_empty, normalize_path};
use crate::manifest::Origin;

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
#[derive(Debug, Clone)]
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
}

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
            namespace,
            name,
            origin: origin.clone(),
        })
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
    /// `SubstituteVariables` does without its `Always` option.
    pub fn rewrite(&self, value: &Value, vars: &BTreeMap<String, String>) -> Option<Value> {
        let renames = self.name_prefix.is_some() || self.name_suffix.is_some();
        let substitutes = self.post_build && !vars.is_empty() && !substitute::disabled(value);
        if self.target_namespace.is_none() && !renames && !substitutes {
            return None;
        }
        let mut out = value.clone();
        if let (Some(namespace), Some(metadata)) =
            (&self.target_namespace, out["metadata"].as_object_mut())
        {
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
    }
}
