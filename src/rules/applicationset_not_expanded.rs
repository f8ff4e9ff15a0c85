//! `applicationset-not-expanded`: an ApplicationSet has generators clobbercheck cannot expand
//! offline — `pullRequest`, `scmProvider`, `clusterDecisionResource`, `plugin`, or a `git`
//! generator reading another repository.
//!
//! Why it matters: the Applications those generators produce depend on a system outside the
//! repository (an SCM API, cluster resources, a plugin service), so their names and folders are
//! unknown at PR time and no duplicate or overwrite among them can be found. Saying so is better
//! than silence. The set's other generators are still expanded.
//! Example: a set with a `pullRequest` generator.
//! Fix: nothing to fix in the repository; review what the set generates in Argo CD itself.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct ApplicationSetNotExpanded;

static INFO: RuleInfo = RuleInfo {
    id: "applicationset-not-expanded",
    default_severity: Severity::Notice,
    summary: "an ApplicationSet generator needs a system outside the repository, so what it generates is not checked",
    help: "review what the ApplicationSet generates in Argo CD; the other generators are still checked",
};

impl Rule for ApplicationSetNotExpanded {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "Generators such as pullRequest, scmProvider, clusterDecisionResource and plugin ask a \
         system outside the repository (an SCM API, a running cluster, a plugin service) what to \
         generate, so the names and folders of those Applications are unknown at pull-request \
         time: no duplicate or overwrite among them can be found here. The notice says so rather \
         than staying silent; the set's other generators are still expanded and checked."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        super::notices_at(INFO.id, severity, &ctx.head.set_notices, out);
    }
}
