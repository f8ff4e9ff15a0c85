//! Which kinds are cluster-scoped, and which API groups are legacy aliases of others.
//!
//! The table covers the built-in kinds of current Kubernetes releases plus the cluster-scoped
//! kinds of widely deployed operators; CustomResourceDefinitions found in the same revision add
//! to it (see [`ScopeTable`]).

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Built-in cluster-scoped kinds as `(group, kind)`.
const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    ("", "ComponentStatus"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "ValidatingAdmissionPolicyBinding",
    ),
    ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
    (
        "admissionregistration.k8s.io",
        "MutatingAdmissionPolicyBinding",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "TokenReview"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("authorization.k8s.io", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "SubjectAccessReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("certificates.k8s.io", "ClusterTrustBundle"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("internal.apiserver.k8s.io", "StorageVersion"),
    ("networking.k8s.io", "IngressClass"),
    ("networking.k8s.io", "IPAddress"),
    ("networking.k8s.io", "ServiceCIDR"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("resource.k8s.io", "DeviceClass"),
    ("resource.k8s.io", "ResourceSlice"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
    ("storage.k8s.io", "VolumeAttributesClass"),
    ("migration.k8s.io", "StorageVersionMigration"),
    ("cert-manager.io", "ClusterIssuer"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("external-secrets.io", "ClusterSecretStore"),
    ("external-secrets.io", "ClusterExternalSecret"),
    ("kyverno.io", "ClusterPolicy"),
    ("config.gatekeeper.sh", "Config"),
    ("templates.gatekeeper.sh", "ConstraintTemplate"),
    ("monitoring.coreos.com", "ThanosRuler"),
];

/// Maps a group written in `apiVersion` to the group the API server files the kind under.
/// Legacy aliases (`extensions` Deployments are `apps` Deployments) are one object.
pub fn canonical_group<'a>(group: &'a str, kind: &str) -> &'a str {
    match (group, kind) {
        ("extensions", "Deployment" | "DaemonSet" | "ReplicaSet") => "apps",
        ("extensions", "Ingress" | "NetworkPolicy") => "networking.k8s.io",
        ("extensions", "PodSecurityPolicy") => "policy",
        ("", "Event") => "events.k8s.io",
        _ => group,
    }
}

/// Scope knowledge for one revision: the built-in table plus CRDs defined in that revision.
#[derive(Debug, Default, Clone)]
pub struct ScopeTable {
    /// `(group, kind)` → cluster-scoped?, from CRDs in the revision.
    crds: HashMap<(String, String), bool>,
}

impl ScopeTable {
    /// Records a CustomResourceDefinition's `spec.group`, `spec.names.kind` and `spec.scope`.
    pub fn learn_crd(&mut self, crd: &serde_json::Value) {
        let spec = &crd["spec"];
        let (Some(group), Some(kind)) = (spec["group"].as_str(), spec["names"]["kind"].as_str())
        else {
            return;
        };
        let cluster = spec["scope"].as_str() == Some("Cluster");
        self.crds
            .insert((group.to_string(), kind.to_string()), cluster);
    }

    /// Whether objects of this (canonical) group and kind have no namespace.
    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        if !self.crds.is_empty()
            && let Some(&cluster) = self.crds.get(&(group.to_string(), kind.to_string()))
        {
            return cluster;
        }
        static TABLE: LazyLock<HashSet<(&str, &str)>> =
            LazyLock::new(|| CLUSTER_SCOPED.iter().copied().collect());
        TABLE.contains(&(group, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_aliases() {
        assert_eq!(canonical_group("extensions", "Deployment"), "apps");
        assert_eq!(
            canonical_group("extensions", "Ingress"),
            "networking.k8s.io"
        );
        assert_eq!(canonical_group("extensions", "PodSecurityPolicy"), "policy");
        assert_eq!(canonical_group("", "Event"), "events.k8s.io");
        assert_eq!(canonical_group("", "ConfigMap"), "");
    }

    #[test]
    fn crd_overrides_table() {
        let mut t = ScopeTable::default();
        assert!(!t.is_cluster_scoped("example.com", "Widget"));
        t.learn_crd(&serde_json::json!({"spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}}));
        assert!(t.is_cluster_scoped("example.com", "Widget"));
        assert!(t.is_cluster_scoped("rbac.authorization.k8s.io", "ClusterRole"));
    }
}
