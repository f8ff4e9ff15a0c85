//! ApplicationSets expanded offline, at PR time, into the Applications Argo CD would generate.
//!
//! Why: the modern form of the outage is a PR that adds only a folder, which an ApplicationSet's
//! git generator turns into an Application named like an existing one. Expanding every set of a
//! revision lets the generated Applications be objects like any other (identity, duplicates,
//! overwrites, placement), each with the generator element that produced it.
//!
//! The expander is pure: an ApplicationSet value, its origin and an [`ExpandContext`] (the
//! revision's files and a reader for them, the known clusters, and the rule deciding whether a
//! `repoURL` is this repository) give an [`Expansion`]. It follows Argo CD's controller
//! (argoproj/argo-cd `applicationset/controllers/template/template.go` `GenerateApplications`,
//! `applicationset/generators/*.go`, `applicationset/utils/utils.go`): each top-level generator
//! yields parameter sets (filtered by its `selector`), the set's `template` (merged under the
//! generator's own `template`) is rendered once per parameter set, `templatePatch` is applied, the
//! resources finalizer is added unless `preserveResourcesOnDeletion`, and the Application's
//! namespace is the set's. Generators that need outside systems are reported, never guessed.

mod generators;
pub mod template;

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use serde_json::{Map, Value};

use crate::manifest::field::field;
use crate::manifest::{LazyValue, Origin};
use template::Syntax;

/// Finalizer Argo CD adds to generated Applications (`argoappsv1.ResourcesFinalizerName`).
const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// A cluster the `clusters` generator can offer: from an Argo CD cluster Secret of the revision
/// (`argocd.argoproj.io/secret-type: cluster`) or from `argocd.clusters` of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub server: String,
    pub project: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The Secret document it was read from (`None`: the configuration).
    pub origin: Option<Origin>,
}

impl Cluster {
    /// Reads an Argo CD cluster Secret; `None` for any other document. `data` is base64 (as the
    /// API server stores it), `stringData` plain; only `name`, `server` and `project` are read,
    /// never credentials.
    pub fn from_secret(value: &Value, origin: &Origin) -> Option<Self> {
        if field(value, "kind").as_str() != Some("Secret")
            || field(value, "apiVersion").as_str() != Some("v1")
        {
            return None;
        }
        let metadata = &value["metadata"];
        if metadata["labels"]["argocd.argoproj.io/secret-type"].as_str() != Some("cluster") {
            return None;
        }
        let field = |key: &str| -> String {
            if let Some(s) = value["stringData"][key].as_str() {
                return s.to_string();
            }
            value["data"][key]
                .as_str()
                .and_then(|b| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .ok()
                })
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let strings = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        };
        Some(Self {
            name: field("name"),
            server: field("server"),
            project: field("project"),
            labels: strings(&metadata["labels"]),
            annotations: strings(&metadata["annotations"]),
            origin: Some(origin.clone()),
        })
    }
}

/// What makes a generated Application new in a PR: any of its producer's evidence being new.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Evidence {
    /// A directory of the git directory generator: new when base has no file under it.
    Directory(String),
    /// A file of the git files generator: new when base does not have it.
    File(String),
    /// A document (the ApplicationSet itself, a cluster Secret): new as any definition is.
    Document(Origin),
}

/// The generator element that produced an Application, for messages and for newness.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Producer {
    /// `ApplicationSet services, from directory services/core`.
    pub description: String,
    pub evidence: Vec<Evidence>,
}

/// One generated Application.
#[derive(Debug, Clone)]
pub struct Generated {
    pub value: Value,
    pub producer: Producer,
}

/// What expanding one ApplicationSet gave.
#[derive(Debug, Default)]
pub struct Expansion {
    /// `metadata.name` of the set (empty when it has none).
    pub name: String,
    pub applications: Vec<Generated>,
    /// Generators that could not be expanded offline (one line naming the set and them).
    pub notices: Vec<String>,
    /// Template and generator errors (Argo CD would refuse these too).
    pub errors: Vec<String>,
}

/// Everything outside the ApplicationSet that expansion may read.
pub struct ExpandContext<'a> {
    /// Every file path of the revision.
    pub files: &'a [String],
    /// Reads a file of the revision (git files generator).
    pub read: &'a (dyn Fn(&str) -> Result<Vec<u8>, String> + Sync),
    /// Clusters for the `clusters` generator.
    pub clusters: &'a [Cluster],
    /// Whether a generator's `repoURL` at `revision` is this repository at the revision under
    /// review (the git generator reads nothing elsewhere).
    pub deploys_from_here: &'a (dyn Fn(&str, Option<&str>) -> bool + Sync),
    directories: std::sync::OnceLock<Vec<String>>,
}

impl<'a> ExpandContext<'a> {
    /// A context over one revision; see the fields for what each part is.
    pub fn new(
        files: &'a [String],
        read: &'a (dyn Fn(&str) -> Result<Vec<u8>, String> + Sync),
        clusters: &'a [Cluster],
        deploys_from_here: &'a (dyn Fn(&str, Option<&str>) -> bool + Sync),
    ) -> Self {
        Self {
            files,
            read,
            clusters,
            deploys_from_here,
            directories: std::sync::OnceLock::new(),
        }
    }

    /// Every directory of the revision, as the repo server's `GetGitDirectories` lists them:
    /// walk order (parents first, by name), the root and hidden directories (a `.` name) left out.
    /// Computed once per context, however many generators ask.
    pub fn directories(&self) -> &[String] {
        self.directories.get_or_init(|| {
            let mut dirs = std::collections::BTreeSet::new();
            for file in self.files {
                let parts: Vec<&str> = file.split('/').collect();
                for depth in 1..parts.len() {
                    if parts[depth - 1].starts_with('.') {
                        break;
                    }
                    dirs.insert(parts[..depth].to_vec());
                }
            }
            dirs.into_iter().map(|parts| parts.join("/")).collect()
        })
    }
}

/// Whether a document is an ApplicationSet.
pub fn is_application_set(value: &Value) -> bool {
    field(value, "kind").as_str() == Some("ApplicationSet")
        && field(value, "apiVersion")
            .as_str()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
}

/// One parameter set and the element that produced it.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub map: Map<String, Value>,
    pub producer: Vec<String>,
    pub evidence: Vec<Evidence>,
}

/// Settings of the set every generator needs.
pub(crate) struct SetSettings<'a> {
    pub syntax: Syntax,
    pub ctx: &'a ExpandContext<'a>,
}

/// Why a generator gave nothing.
#[derive(Debug)]
pub(crate) enum GenError {
    /// It needs a system outside the repository (named).
    Outside(String),
    /// Argo CD would fail too.
    Invalid(String),
}

/// Expands one ApplicationSet document.
pub fn expand(set: &Value, origin: &Origin, ctx: &ExpandContext<'_>) -> Expansion {
    let name = set["metadata"]["name"].as_str().unwrap_or_default();
    let mut out = Expansion {
        name: name.to_string(),
        ..Expansion::default()
    };
    let spec = &set["spec"];
    let options: Vec<&str> = spec["goTemplateOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let syntax = if spec["goTemplate"].as_bool() == Some(true) {
        Syntax::Go {
            missing_key_error: options.contains(&"missingkey=error"),
        }
    } else {
        Syntax::Fast
    };
    let settings = SetSettings { syntax, ctx };
    let preserve = spec["syncPolicy"]["preserveResourcesOnDeletion"].as_bool() == Some(true);
    let set_namespace = set["metadata"]["namespace"].as_str();
    let mut outside = Vec::new();
    let generators = spec["generators"].as_array().cloned().unwrap_or_default();
    if generators.is_empty() {
        out.errors.push("spec.generators is empty".into());
    }
    for (index, generator) in generators.iter().enumerate() {
        let results = match generators::transform(generator, &settings, None) {
            Ok(results) => results,
            Err(GenError::Outside(what)) => {
                outside.push(what);
                continue;
            }
            Err(GenError::Invalid(message)) => {
                out.errors
                    .push(format!("generator {}: {message}", index + 1));
                continue;
            }
        };
        for (params, own_template) in results {
            let template = merge_template(own_template.as_ref(), &spec["template"]);
            let producer = Producer {
                description: format!(
                    "ApplicationSet {name}, from {}",
                    params.producer.join(" and ")
                ),
                evidence: {
                    let mut e = params.evidence.clone();
                    e.push(Evidence::Document(origin.clone()));
                    e.sort();
                    e.dedup();
                    e
                },
            };
            match render_application(&template, spec, &params.map, syntax) {
                Ok(mut app) => {
                    finish(&mut app, set_namespace, preserve);
                    out.applications.push(Generated {
                        value: app,
                        producer,
                    });
                }
                Err(message) => out.errors.push(format!(
                    "{}: {message}",
                    producer
                        .description
                        .trim_start_matches(&format!("ApplicationSet {name}, "))
                )),
            }
        }
    }
    if !outside.is_empty() {
        outside.sort();
        outside.dedup();
        out.notices.push(format!(
            "ApplicationSet {name}: {} cannot be expanded offline (it needs a system outside this \
             repository); the Applications it generates are not checked",
            outside.join(", ")
        ));
    }
    out
}

/// What expanding every ApplicationSet of one revision gave.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RevisionExpansion {
    /// Generated Applications as documents: origin = the set's document plus the producer.
    pub documents: Vec<(Origin, Arc<LazyValue>)>,
    /// Sets (by document) with generators not expandable offline, and what to say.
    pub notices: Vec<(Origin, String)>,
    /// Sets (by document and name) that failed to expand in part, and why.
    pub errors: Vec<(Origin, String, String)>,
}

/// Expands every ApplicationSet among a revision's documents (given in apply order). The
/// `clusters` generator sees the revision's Argo CD cluster Secrets, else `fallback_clusters`
/// (the configuration's `argocd.clusters`).
pub fn expand_revision(
    documents: &[(Origin, Arc<LazyValue>)],
    files: &[String],
    read: &(dyn Fn(&str) -> Result<Vec<u8>, String> + Sync),
    fallback_clusters: &[Cluster],
    deploys_from_here: &(dyn Fn(&str, Option<&str>) -> bool + Sync),
) -> RevisionExpansion {
    let sets: Vec<&(Origin, Arc<LazyValue>)> = documents
        .iter()
        .filter(|(_, v)| is_application_set(v.outline()))
        .collect();
    if sets.is_empty() {
        return RevisionExpansion::default();
    }
    let secrets: Vec<Cluster> = documents
        .iter()
        .filter_map(|(origin, value)| Cluster::from_secret(value.outline(), origin))
        .collect();
    let clusters = if secrets.is_empty() {
        fallback_clusters
    } else {
        &secrets
    };
    let ctx = ExpandContext::new(files, read, clusters, deploys_from_here);
    let expansions: Vec<(&Origin, Expansion)> = sets
        .par_iter()
        .map(|(origin, value)| (origin, expand(value, origin, &ctx)))
        .collect();
    let mut out = RevisionExpansion::default();
    for (origin, expansion) in expansions {
        for app in expansion.applications {
            let generated = Origin {
                generator: Some(Arc::new(app.producer)),
                ..origin.clone()
            };
            out.documents.push((generated, Arc::new(app.value.into())));
        }
        for notice in expansion.notices {
            out.notices.push((origin.clone(), notice));
        }
        for error in expansion.errors {
            out.errors
                .push((origin.clone(), expansion.name.clone(), error));
        }
    }
    out
}

/// The generator's own `template` over the set's: mergo.Merge(dest = generator's, src = set's)
/// fills what the generator's leaves empty (generator_spec_processor.go `mergeGeneratorTemplate`).
fn merge_template(own: Option<&Value>, set: &Value) -> Value {
    match own {
        None => set.clone(),
        Some(own) => fill(own, set),
    }
}

fn fill(dest: &Value, src: &Value) -> Value {
    match (dest, src) {
        (Value::Object(d), Value::Object(s)) => {
            let mut out = d.clone();
            for (key, value) in s {
                let merged = match d.get(key) {
                    Some(existing) if !is_zero(existing) => fill(existing, value),
                    _ => value.clone(),
                };
                out.insert(key.clone(), merged);
            }
            Value::Object(out)
        }
        (d, _) if !is_zero(d) => d.clone(),
        (_, s) => s.clone(),
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Object(_) => false,
    }
}

/// Renders the template into an Application, then the set's `templatePatch` over it.
fn render_application(
    template: &Value,
    spec: &Value,
    params: &Map<String, Value>,
    syntax: Syntax,
) -> Result<Value, String> {
    let meta = &template["metadata"];
    let mut metadata = Map::new();
    for key in ["name", "namespace", "labels", "annotations", "finalizers"] {
        if !meta[key].is_null() {
            metadata.insert(key.into(), meta[key].clone());
        }
    }
    let mut app = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": Value::Object(metadata),
        "spec": template["spec"].clone(),
    });
    if !params.is_empty() {
        app = template::render_value(&app, params, syntax)?;
    }
    if let Some(patch) = spec["templatePatch"].as_str() {
        let text =
            template::render(patch, params, syntax).map_err(|e| format!("templatePatch: {e}"))?;
        let patch: Value = serde_saphyr::from_str(&text)
            .map_err(|e| format!("templatePatch is not YAML after rendering: {e}"))?;
        let project = app["spec"]["project"].clone();
        merge_patch(&mut app, &patch);
        // Argo CD keeps the template's project whatever the patch says (patch.go).
        app["spec"]["project"] = project;
    }
    Ok(app)
}

/// The templatePatch merge: maps merge key by key, anything else replaces. (Argo CD uses a
/// strategic merge patch; lists of an Application's spec have no merge keys but `sources`.)
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (key, value) in p {
                if value.is_null() {
                    t.remove(key);
                } else {
                    merge_patch(t.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The controller's last touches: the set's namespace, and the resources finalizer unless the
/// template names finalizers or the set preserves resources on deletion (utils.go).
fn finish(app: &mut Value, namespace: Option<&str>, preserve: bool) {
    let metadata = &mut app["metadata"];
    match namespace {
        Some(ns) => metadata["namespace"] = Value::String(ns.to_string()),
        None => {
            if let Some(m) = metadata.as_object_mut() {
                m.remove("namespace");
            }
        }
    }
    let has_finalizers = metadata["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if !preserve && !has_finalizers {
        metadata["finalizers"] = serde_json::json!([RESOURCES_FINALIZER]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin() -> Origin {
        Origin {
            path: "sets/apps.yaml".into(),
            line: 1,
            end_line: 30,
            target: None,
            generator: None,
        }
    }

    fn expand_with(set: Value, files: &[&str], clusters: &[Cluster]) -> Expansion {
        let files: Vec<String> = files.iter().map(|s| s.to_string()).collect();
        let contents: BTreeMap<String, String> = BTreeMap::from([
            (
                "config/prod/config.json".to_string(),
                r#"{"cluster": {"name": "prod", "address": "https://prod"}}"#.to_string(),
            ),
            (
                "config/dev/config.yaml".to_string(),
                "- cluster: {name: dev1}\n- cluster: {name: dev2}\n".to_string(),
            ),
        ]);
        let read = move |p: &str| {
            contents
                .get(p)
                .map(|s| s.as_bytes().to_vec())
                .ok_or_else(|| format!("no file {p}"))
        };
        let here = |url: &str, _: Option<&str>| !url.contains("elsewhere");
        let ctx = ExpandContext::new(&files, &read, clusters, &here);
        expand(&set, &origin(), &ctx)
    }

    fn names(e: &Expansion) -> Vec<String> {
        e.applications
            .iter()
            .map(|a| a.value["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn set(generators: Value, name: &str, go: bool) -> Value {
        let path = if go { "{{ .path.path }}" } else { "{{path}}" };
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
               "metadata": {"name": "s", "namespace": "argocd"},
               "spec": {"goTemplate": go, "generators": generators,
                        "template": {"metadata": {"name": name},
                                     "spec": {"project": "default",
                                              "source": {"repoURL": "https://git/x", "path": path},
                                              "destination": {"server": "https://kubernetes.default.svc"}}}}})
    }

    #[test]
    fn git_directories_with_exclude_and_hidden_folders() {
        let e = expand_with(
            set(
                json!([{"git": {"repoURL": "https://git/x", "revision": "HEAD",
                                 "directories": [{"path": "apps/*"}, {"path": "apps/skip", "exclude": true}]}}]),
                "{{path.basename}}-{{path[0]}}",
                false,
            ),
            &[
                "apps/a/x.yaml",
                "apps/b/c/y.yaml",
                "apps/skip/z.yaml",
                "apps/.hidden/q.yaml",
                "top.yaml",
            ],
            &[],
        );
        assert_eq!(names(&e), vec!["a-apps", "b-apps"], "{e:?}");
        assert_eq!(
            e.applications[0].producer.description,
            "ApplicationSet s, from directory apps/a"
        );
        assert_eq!(
            e.applications[0].value["metadata"]["finalizers"][0],
            RESOURCES_FINALIZER
        );
        assert_eq!(e.applications[0].value["spec"]["source"]["path"], "apps/a");
    }

    #[test]
    fn git_files_flatten_and_go_paths() {
        let e = expand_with(
            set(
                json!([{"git": {"repoURL": "https://git/x", "revision": "HEAD",
                                 "files": [{"path": "config/**/config.*"}]}}]),
                "{{cluster.name}}-{{path.basename}}-{{path.filename}}",
                false,
            ),
            &["config/prod/config.json", "config/dev/config.yaml"],
            &[],
        );
        assert_eq!(
            names(&e),
            vec![
                "dev1-dev-config.yaml",
                "dev2-dev-config.yaml",
                "prod-prod-config.json"
            ]
        );
        let e = expand_with(
            set(
                json!([{"git": {"repoURL": "https://git/x", "revision": "HEAD",
                                 "files": [{"path": "config/prod/*.json"}]}}]),
                "{{ .cluster.name }}-{{ index .path.segments 1 }}-{{ .path.basenameNormalized }}",
                true,
            ),
            &["config/prod/config.json"],
            &[],
        );
        assert_eq!(names(&e), vec!["prod-prod-prod"]);
    }

    #[test]
    fn list_matrix_merge_and_selector() {
        let list = json!({"list": {"elements": [{"cluster": "a", "env": "prod"}, {"cluster": "b", "env": "dev"}],
                                   "elementsYaml": "- cluster: c\n  env: prod\n"}});
        let e = expand_with(
            set(
                json!([{"list": list["list"].clone(), "selector": {"matchLabels": {"env": "prod"}}}]),
                "{{cluster}}",
                false,
            ),
            &[],
            &[],
        );
        assert_eq!(names(&e), vec!["a", "c"]);
        assert_eq!(
            e.applications[1].producer.description,
            "ApplicationSet s, from element 3 of list generator"
        );
        let e = expand_with(
            set(
                json!([{"matrix": {"generators": [
                    list.clone(),
                    {"git": {"repoURL": "https://git/x", "revision": "HEAD", "directories": [{"path": "apps/*"}]}}]}}]),
                "{{cluster}}-{{path.basename}}",
                false,
            ),
            &["apps/web/a.yaml"],
            &[],
        );
        assert_eq!(names(&e), vec!["a-web", "b-web", "c-web"]);
        assert!(
            e.applications[0]
                .producer
                .evidence
                .contains(&Evidence::Directory("apps/web".into()))
        );
        let e = expand_with(
            set(
                json!([{"merge": {"mergeKeys": ["cluster"], "generators": [
                    list.clone(),
                    {"list": {"elements": [{"cluster": "b", "env": "staging"}]}}]}}]),
                "{{cluster}}-{{env}}",
                false,
            ),
            &[],
            &[],
        );
        assert_eq!(names(&e), vec!["a-prod", "b-staging", "c-prod"]);
    }

    #[test]
    fn clusters_with_selector_values_and_in_cluster() {
        let prod = Cluster {
            name: "prod".into(),
            server: "https://prod".into(),
            labels: BTreeMap::from([("env".into(), "prod".into())]),
            ..Cluster::default()
        };
        let dev = Cluster {
            name: "dev".into(),
            server: "https://dev".into(),
            labels: BTreeMap::from([("env".into(), "dev".into())]),
            ..Cluster::default()
        };
        let clusters = [prod, dev];
        let e = expand_with(
            set(
                json!([{"clusters": {"values": {"suffix": "x"}}}]),
                "{{name}}-{{values.suffix}}",
                false,
            ),
            &[],
            &clusters,
        );
        assert_eq!(names(&e), vec!["prod-x", "dev-x", "in-cluster-x"]);
        let mut go = set(
            json!([{"clusters": {"selector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}}}]),
            "{{ .name }}-{{ .metadata.labels.env }}",
            true,
        );
        go["spec"]["template"]["spec"]["source"]["path"] = json!("apps");
        let e = expand_with(go, &[], &clusters);
        assert_eq!(names(&e), vec!["dev-dev"], "{e:?}");
        assert_eq!(
            e.applications[0].producer.description,
            "ApplicationSet s, from cluster dev"
        );
    }

    #[test]
    fn outside_generators_are_one_notice_and_template_errors_are_errors() {
        let e = expand_with(
            set(
                json!([{"pullRequest": {}}, {"scmProvider": {}},
                       {"git": {"repoURL": "https://elsewhere/y", "revision": "v1", "directories": [{"path": "*"}]}},
                       {"list": {"elements": [{"p": "a"}]}}]),
                "{{p}}",
                false,
            ),
            &[],
            &[],
        );
        assert_eq!(names(&e), vec!["a"]);
        assert_eq!(e.notices.len(), 1, "{e:?}");
        assert!(e.notices[0].contains("pullRequest") && e.notices[0].contains("scmProvider"));
        let e = expand_with(
            set(
                json!([{"list": {"elements": [{"p": "a"}]}}]),
                "{{ .p | nosuchfunc }}",
                true,
            ),
            &[],
            &[],
        );
        assert!(e.applications.is_empty());
        assert!(e.errors[0].contains("element 1 of list generator"), "{e:?}");
    }

    #[test]
    fn generator_template_and_template_patch() {
        let mut s = set(
            json!([{"list": {"elements": [{"p": "a"}], "template": {"metadata": {"name": "own-{{p}}"}}}}]),
            "{{p}}",
            false,
        );
        s["spec"]["templatePatch"] =
            json!("spec:\n  project: hacked\n  destination:\n    namespace: ns-{{p}}\n");
        let e = expand_with(s, &[], &[]);
        assert_eq!(names(&e), vec!["own-a"]);
        let app = &e.applications[0].value;
        assert_eq!(app["spec"]["destination"]["namespace"], "ns-a");
        assert_eq!(app["spec"]["project"], "default");
        assert_eq!(
            app["spec"]["destination"]["server"],
            "https://kubernetes.default.svc"
        );
    }
}
