//! Identity: API group + kind + namespace + name (+ cluster), never the version.
//!
//! This is how a deploy tool decides that two definitions are the same object, so it is how
//! clobbercheck decides it too. See DESIGN.md §3.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::field::field;
use super::scope::{ScopeTable, canonical_group};

/// The identity of one object on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Identity {
    pub cluster: Option<String>,
    pub group: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Identity {
    /// `group/kind` as rules and configuration name kinds (`apps/Deployment`, `ConfigMap`).
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cluster) = &self.cluster {
            write!(f, "[{cluster}] ")?;
        }
        write!(f, "{} ", self.group_kind())?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        write!(f, "{}", self.name)
    }
}

/// The fields of a document that make it a Kubernetes object, before scope is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub api_version: String,
    pub group: String,
    pub kind: String,
    /// `None` when the object has only `generateName`.
    pub name: Option<String>,
    pub namespace: Option<String>,
}

/// API groups whose kinds are tool configuration, never applied to a cluster.
const TOOL_GROUPS: &[&str] = &[
    "kustomize.config.k8s.io",
    "config.kubernetes.io",
    "kpt.dev",
    "skaffold",
];

impl ObjectHead {
    /// Reads apiVersion, kind and metadata; `None` when the value is not a Kubernetes object
    /// (Helm values, kustomization files, CI configuration...).
    pub fn of(value: &Value) -> Option<Self> {
        let api_version = field(value, "apiVersion").as_str()?.trim();
        let kind = field(value, "kind").as_str()?.trim();
        if api_version.is_empty() || kind.is_empty() {
            return None;
        }
        let metadata = field(value, "metadata");
        metadata.as_object()?;
        let name = field(metadata, "name").as_str().filter(|n| !n.is_empty());
        let generate_name = field(metadata, "generateName")
            .as_str()
            .filter(|n| !n.is_empty());
        if name.is_none() && generate_name.is_none() || name.is_some_and(|n| !valid_name(n)) {
            return None;
        }
        let written_group = match api_version.rsplit_once('/') {
            Some((group, _version)) => group,
            None => "",
        };
        if TOOL_GROUPS.iter().any(|g| {
            written_group
                .strip_suffix(g)
                .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
        }) {
            return None;
        }
        let group = canonical_group(written_group, kind);
        Some(Self {
            api_version: api_version.to_string(),
            group: group.to_string(),
            kind: kind.to_string(),
            name: name.map(str::to_string),
            namespace: field(metadata, "namespace")
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        })
    }

    /// The identity of this object, or `None` for `generateName` objects.
    pub fn identity(
        &self,
        scopes: &ScopeTable,
        cluster: Option<String>,
        default_namespace: &str,
    ) -> Option<Identity> {
        let name = self.name.clone()?;
        let namespace = if scopes.is_cluster_scoped(&self.group, &self.kind) {
            None
        } else {
            Some(
                self.namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
            )
        };
        Some(Identity {
            cluster,
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace,
            name,
        })
    }
}

/// Whether `name` can name an object at all. Names of most kinds are DNS subdomains; a few
/// (RBAC roles: `system:controller:x`) allow more, but no kind accepts what the API server
/// refuses in any path segment name (`/`, `%`, `.`, `..`; apimachinery `path.IsValidPathSegmentName`)
/// or characters no validation admits (whitespace, braces: template text such as
/// `{{ .Release.Name }}-settings`). Such a document is never an identity (issue 10 §1).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '%' | '{' | '}'))
}

/// The `metadata.name` of a document that is written as a Kubernetes object (string
/// `apiVersion`, `kind` and `metadata.name`) but whose name no kind accepts.
pub fn invalid_name(value: &Value) -> Option<&str> {
    field(value, "apiVersion").as_str()?;
    field(value, "kind").as_str()?;
    let name = field(field(value, "metadata"), "name").as_str()?;
    (!name.is_empty() && !valid_name(name)).then_some(name)
}

/// Whether a document is a list whose `items` are the objects (`kind: List`, `ConfigMapList`...).
pub fn list_items(value: &Value) -> Option<&Vec<Value>> {
    let kind = value.get("kind")?.as_str()?;
    if !kind.ends_with("List") {
        return None;
    }
    value.get("items")?.as_array()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(v: Value) -> Option<Identity> {
        ObjectHead::of(&v)?.identity(&ScopeTable::default(), None, "default")
    }

    #[test]
    fn version_is_not_identity() {
        let a = id(
            json!({"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "x"}}),
        );
        let b = id(
            json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "default"}}),
        );
        let c =
            id(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.unwrap().to_string(), "apps/Deployment default/x");
    }

    #[test]
    fn cluster_scoped_namespace_is_ignored() {
        let ns = id(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "b"}})).unwrap();
        assert_eq!(ns.namespace, None);
        assert_eq!(ns.group, "");
    }

    #[test]
    fn not_objects() {
        assert!(id(json!({"replicaCount": 1})).is_none());
        assert!(id(json!({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "metadata": {"name": "k"}})).is_none());
        assert!(id(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}})).is_none());
        let templated = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-settings"}});
        assert!(id(templated.clone()).is_none());
        assert_eq!(
            invalid_name(&templated),
            Some("{{ .Release.Name }}-settings")
        );
        assert!(valid_name("system:controller:x") && valid_name("web-1.a"));
        assert!(!valid_name("a/b") && !valid_name("..") && !valid_name("a b"));
        let generated = ObjectHead::of(&json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}})).unwrap();
        assert!(
            generated
                .identity(&ScopeTable::default(), None, "default")
                .is_none()
        );
    }
}
