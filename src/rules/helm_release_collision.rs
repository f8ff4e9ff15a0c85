//! `helm-release-collision`: two Flux HelmReleases with one release identity (storage
//! namespace and release name) on one cluster.
//!
//! Why it matters: Helm stores a release by name in its storage namespace; helm-controller
//! computes the name as `spec.releaseName`, else `[<targetNamespace>-]<name>`, shortened to 53
//! characters (fluxcd/helm-controller `api/v2/helmrelease_types.go` `GetReleaseName`,
//! `internal/release/name.go` `ShortenName`). Two HelmReleases with one identity upgrade each
//! other's release at every reconciliation, and each one's chart replaces the other's objects
//! (fluxcd/helm-controller#1348).
//! Example: `apps/web` and `flux-system/web` both with `targetNamespace: prod` and
//! `storageNamespace: prod` are both release `prod-web` in `prod`.
//! Fix: give one of them its own `releaseName` (or storage namespace).

use super::{Context, Rule, RuleInfo};
use crate::deploy::flux::Instance;
use crate::deploy::flux::helmrelease::HelmRelease;
use crate::finding::{Finding, Severity};

pub struct HelmReleaseCollision;

static INFO: RuleInfo = RuleInfo {
    id: "helm-release-collision",
    default_severity: Severity::Error,
    summary: "two Flux HelmReleases have one release name in one storage namespace on one cluster",
    help: "give one of the HelmReleases its own spec.releaseName (or storageNamespace)",
};

impl Rule for HelmReleaseCollision {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "Helm keeps one release per name in its storage namespace. helm-controller names a \
         release after spec.releaseName, else [targetNamespace-]name cut to 53 characters, so \
         two HelmReleases can end up with one release: each reconciliation upgrades the other's \
         release with its own chart and values, replacing the other's objects, and uninstalling \
         one removes both."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        let base = ctx.base.deployers.flux().releases();
        let head = ctx.head.deployers.flux().releases();
        for (i, later) in head.iter().enumerate() {
            let Some(first) = head[..i].iter().find(|e| key(e) == key(later)) else {
                continue;
            };
            // Old debt: base already had both, with this one identity.
            let in_base = |hr: &Release| base.iter().find(|b| same_deployer(b, hr)).map(key);
            let old = !ctx.all
                && in_base(first).is_some()
                && in_base(first) == in_base(later)
                && in_base(later) == Some(key(later));
            // Point at the HelmRelease the PR brings in, when only one of them is new.
            let at = if in_base(later).is_some() && in_base(first).is_none() {
                first
            } else {
                later
            };
            let (cluster, storage, release) = key(later);
            let on = cluster
                .map(|c| format!(" on cluster {c}"))
                .unwrap_or_default();
            out.push(Finding {
                rule: INFO.id,
                severity: if old { Severity::Notice } else { severity },
                id: None,
                path: Some(at.spec.origin.path.clone()),
                line: Some(at.spec.origin.line),
                message: format!(
                    "{} and {} are both Helm release {release} in storage namespace \
                     {storage}{on}: helm-controller upgrades one release with both charts in \
                     turn, each replacing the other's objects. Give one of them its own \
                     spec.releaseName.{}",
                    name(first),
                    name(later),
                    if old {
                        " Base already had this collision: not introduced by this PR."
                    } else {
                        ""
                    }
                ),
            });
        }
    }
}

type Release = Instance<HelmRelease>;

/// The release identity: cluster, storage namespace, release name.
fn key(hr: &Release) -> (Option<String>, String, String) {
    (
        hr.cluster.clone(),
        hr.spec.storage_namespace.clone(),
        hr.spec.release.clone(),
    )
}

/// Whether two entries are one HelmRelease object (namespace, name, cluster).
fn same_deployer(a: &Release, b: &Release) -> bool {
    a.spec.name == b.spec.name && a.spec.namespace == b.spec.namespace && a.cluster == b.cluster
}

/// `HelmRelease ns/name (file:line)`.
fn name(hr: &Release) -> String {
    format!(
        "HelmRelease {}/{} ({}:{})",
        hr.spec.namespace, hr.spec.name, hr.spec.origin.path, hr.spec.origin.line
    )
}
