//! `name-path-mismatch`: an object's name contradicts the naming convention of its path.
//!
//! What: active only when `naming:` is configured. For each convention whose `kinds` include the
//! object's `group/Kind`, the definition's path (its file, or its render target) is matched
//! against the convention's `path`; for an Argo CD Application whose own file does not match
//! (rendered Applications often live together in one file), the folders it deploys
//! (`spec.source.path`, `spec.sources[].path`) are matched instead. The captured placeholders
//! give the expected name.
//! Why: the outage of DESIGN.md §1 came from an Application for `app02` that kept the name
//! `app01-cluster01`; `naming: [{path: "env/{cluster}/{app}/**", kinds: [argoproj.io/Application],
//! name: "{app}-{cluster}"}]` flags it on its own.
//! Example: an Application named `app01-cluster01` deploying `env/cluster01/app02`.
//! Fix: rename the object as the convention says (or move it to the folder its name belongs to).

use super::{Context, Rule, RuleInfo, finding_at};
use crate::deploy::argocd::Application;
use crate::finding::{Finding, Severity};
use crate::naming::Captures;

pub struct NamePathMismatch;

static INFO: RuleInfo = RuleInfo {
    id: "name-path-mismatch",
    default_severity: Severity::Error,
    summary: "an object's name does not follow the naming convention of its path",
    help: "rename the object as the naming convention says, or move it to the folder its name belongs to",
};

impl Rule for NamePathMismatch {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "The repository's naming convention ties names to folders, so that a definition copied \
         from one folder to another cannot keep its old name unnoticed. A name that belongs to \
         another folder means this definition has the identity of another object, and applying \
         it replaces that object."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        if ctx.config.naming.is_empty() {
            return;
        }
        for object in ctx.notable {
            let group_kind = object.id.group_kind();
            let conventions: Vec<_> = ctx
                .config
                .naming
                .iter()
                .filter(|c| c.applies_to(&group_kind))
                .collect();
            if conventions.is_empty() || !ctx.in_scope(object) {
                continue;
            }
            for def in &object.head {
                let own: Vec<&str> = std::iter::once(def.path.as_str())
                    .chain(def.target.as_deref())
                    .collect();
                let deployed: Vec<String> =
                    Application::from_value(&def.value, &def.origin, &ctx.config.deploy)
                        .map(|app| app.sources.into_iter().map(|s| s.path).collect())
                        .unwrap_or_default();
                for convention in &conventions {
                    let found: Option<(&str, Captures, &str)> = own
                        .iter()
                        .find_map(|p| Some((*p, convention.path.captures(p)?, "is defined in")))
                        .or_else(|| {
                            deployed.iter().find_map(|p| {
                                Some((p.as_str(), convention.path.captures(p)?, "deploys"))
                            })
                        });
                    let Some((path, captures, relation)) = found else {
                        continue;
                    };
                    let expected = convention.expected_name(&captures);
                    if expected == object.id.name {
                        continue;
                    }
                    out.push(finding_at(
                        &INFO,
                        severity,
                        &object.id,
                        def,
                        format!(
                            "{} {relation} {path}, where the naming convention '{}' → '{}' \
                             expects the name '{expected}'. A name that belongs to another \
                             folder gives this definition another object's identity, and \
                             applying it replaces that object. Rename it to '{expected}'.",
                            object.id,
                            convention.path.as_str(),
                            convention.name_template(),
                        ),
                    ));
                    break;
                }
            }
        }
    }
}
