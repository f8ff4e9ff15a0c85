//! `deployer-not-followed`: a Flux Kustomization or HelmRelease whose source is outside this
//! repository (another repository, a pinned tag, an `OCIRepository`, `Bucket` or
//! `HelmRepository`), or whose post-build variables come from an object the revision lacks.
//!
//! Why it matters: what such a deployer applies is decided elsewhere, so no duplicate or
//! overwrite among its objects can be found here; saying so is better than silence.
//! Example: a Kustomization whose `sourceRef` names a GitRepository of another repository.
//! Fix: nothing to fix in this repository; review that source where it lives.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct DeployerNotFollowed;

static INFO: RuleInfo = RuleInfo {
    id: "deployer-not-followed",
    default_severity: Severity::Notice,
    summary: "a Flux deployer reads a source outside this repository, so what it deploys is not checked",
    help: "review that source where it lives; the deployer's own identity is still checked",
};

impl Rule for DeployerNotFollowed {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "A Flux Kustomization or HelmRelease applies what its source holds. When that source is \
         another repository, a pinned tag or commit, an OCI artifact, a bucket or a Helm \
         repository, the objects it deploys are not in this pull request, so no duplicate or \
         overwrite among them can be found here. The notice says so rather than staying silent."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        super::notices_at(INFO.id, severity, &ctx.head.deployer_notices, out);
    }
}
