//! Acknowledging a finding on purpose: one finding, one identity, always listed in the report.
//!
//! Why: sometimes replacing or deleting an object is the intent (a migration, a rename). A check
//! that cannot be told so gets turned off; an acknowledgement silences exactly one finding for one
//! identity and the report still lists it with its reason, so nothing is hidden from reviewers.
//!
//! Two ways, both naming what is accepted — `overwrite` (the identity gets a new owner or
//! definition: `overwrite-disguised-as-addition`, `duplicate-identity`, `shared-resource`),
//! `delete` (`stateful-deletion`) or any rule id:
//! - the annotation `clobbercheck.dev/allow: delete` (comma-separated words) on the head object,
//!   with an optional `clobbercheck.dev/reason` annotation (for a rename, which `stateful-deletion`
//!   reports at the new object, the new object's annotation counts). It counts only when base's
//!   definitions of the object already carry it: one the pull request adds silences nothing
//!   (its finding says so) unless base's configuration sets `allow_annotations_added_in_pr: true`;
//!   otherwise a maintainer accepts the finding with the check run's Acknowledge button;
//! - an `allow:` entry in the base configuration (`rule`, `kind`, `namespace`, `name`, optional
//!   `cluster`, and a mandatory `reason`) — the only way for a deletion, which has no head object.

use serde::{Deserialize, Serialize};

use crate::classify::{ChangeSet, Definition, ObjectChange};
use crate::config::Config;
use crate::finding::Finding;
use crate::manifest::Identity;
use crate::snapshot::Snapshot;

/// The annotation acknowledging findings on the head object.
pub const ANNOTATION: &str = "clobbercheck.dev/allow";
/// The annotation saying why, shown with the silenced finding.
pub const REASON_ANNOTATION: &str = "clobbercheck.dev/reason";

/// The rule ids an acknowledgement word covers, or `None` for an unknown word.
pub fn rules_for(word: &str) -> Option<Vec<&'static str>> {
    match word {
        "overwrite" => Some(vec![
            "overwrite-disguised-as-addition",
            "duplicate-identity",
            "shared-resource",
        ]),
        "delete" => Some(vec!["stateful-deletion"]),
        other => crate::rules::RULES
            .iter()
            .map(|r| r.info().id)
            .find(|id| *id == other)
            .map(|id| vec![id]),
    }
}

/// The words of an `clobbercheck.dev/allow` annotation on an object, if it carries one. Reads
/// only metadata: an outline ([`crate::manifest::LazyValue::outline`]) will do.
pub fn annotation_words(value: &serde_json::Value) -> Option<Vec<&str>> {
    value["metadata"]["annotations"][ANNOTATION]
        .as_str()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
}

/// One `allow:` entry of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    /// `overwrite`, `delete` or a rule id.
    pub rule: String,
    /// `group/Kind` as in reports (`PersistentVolumeClaim`, `apps/StatefulSet`).
    pub kind: String,
    /// Absent for cluster-scoped objects.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `metadata.name`, exact.
    pub name: String,
    /// Absent: any cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Why; shown to reviewers with the silenced finding.
    pub reason: String,
}

impl AllowEntry {
    /// Checks the entry at configuration load, so a typo cannot silence nothing unnoticed.
    pub fn validate(&self) -> Result<(), String> {
        if rules_for(&self.rule).is_none() {
            return Err(format!(
                "rule '{}' is neither 'overwrite', 'delete' nor a rule id",
                self.rule
            ));
        }
        if self.reason.trim().is_empty() {
            return Err("reason must say why the finding is accepted".into());
        }
        if self.name.is_empty() || self.kind.is_empty() {
            return Err("kind and name must not be empty".into());
        }
        Ok(())
    }

    fn matches(&self, rule: &str, id: &Identity) -> bool {
        rules_for(&self.rule).is_some_and(|rules| rules.contains(&rule)) && self.names(id)
    }

    /// Whether the entry is about this identity (whatever the rule).
    pub fn names(&self, id: &Identity) -> bool {
        self.kind == id.group_kind()
            && self.name == id.name
            && self.namespace == id.namespace
            && self
                .cluster
                .as_ref()
                .is_none_or(|c| Some(c) == id.cluster.as_ref())
    }
}

/// Where an acknowledgement was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckSource {
    /// The `clobbercheck.dev/allow` annotation on the head object.
    Annotation,
    /// An `allow:` entry of the base configuration.
    Configuration,
}

/// A finding that an acknowledgement silenced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silenced {
    /// The finding as it would have been reported.
    #[serde(flatten)]
    pub finding: Finding,
    /// Where the acknowledgement is and the reason it gives.
    pub reason: String,
    /// Annotation or configuration (SARIF: in-source or external suppression).
    pub by: AckSource,
}

/// Splits findings into those that stand and those an acknowledgement silences. An annotation
/// the pull request adds (base's definitions of that object lack it) silences nothing unless
/// the base configuration sets `allow_annotations_added_in_pr: true`; the finding then stands
/// and its message says so (issue 12, item 8: configuration is read from base so a PR cannot
/// weaken its own check, and an annotation is the same kind of switch).
pub fn apply(
    findings: Vec<Finding>,
    changes: &ChangeSet,
    head: &Snapshot,
    config: &Config,
) -> (Vec<Finding>, Vec<Silenced>) {
    // Only annotated definitions can acknowledge through a location, and only at a file a
    // finding points at; they are few, found through head's objects in those files (every head
    // definition is one of them), in identity order.
    let mut pointed: Vec<&str> = findings.iter().filter_map(|f| f.path.as_deref()).collect();
    pointed.sort_unstable();
    pointed.dedup();
    let mut holding: Vec<&Identity> = pointed
        .iter()
        .flat_map(|path| head.defined_at(path))
        .filter(|o| annotation_words(o.value.outline()).is_some())
        .filter_map(|o| o.identity.as_ref())
        .collect();
    holding.sort_unstable();
    holding.dedup();
    let annotated: Vec<(&ObjectChange, &Definition)> = holding
        .into_iter()
        .filter_map(|id| changes.get(id))
        .flat_map(|o| o.head.iter().map(move |d| (&**o, d)))
        .filter(|(_, d)| pointed.binary_search(&d.path.as_str()).is_ok())
        .filter(|(_, d)| annotation_words(d.value.outline()).is_some())
        .collect();
    let mut active = Vec::with_capacity(findings.len());
    let mut silenced = Vec::new();
    for mut finding in findings {
        match reason(&finding, changes, &annotated, config) {
            Verdict::Silenced(by, reason) => silenced.push(Silenced {
                finding,
                reason,
                by,
            }),
            Verdict::AddedInPr(at) => {
                finding.message.push_str(&format!(
                    " The annotation {ANNOTATION} at {at} was added in this pull request, so it \
                     does not silence this finding (a pull request cannot silence its own \
                     finding; the base configuration's allow_annotations_added_in_pr: true would \
                     let it). A maintainer accepts it with the check run's Acknowledge button."
                ));
                active.push(finding);
            }
            Verdict::Stands => active.push(finding),
        }
    }
    (active, silenced)
}

/// What the acknowledgements say about one finding.
enum Verdict {
    Silenced(AckSource, String),
    /// Only an annotation this PR added (at `path:line`) would silence it.
    AddedInPr(String),
    Stands,
}

/// Whether `object`'s base definitions already carry an annotation covering `rule`.
fn base_allows(object: &ObjectChange, rule: &str) -> bool {
    object
        .base
        .iter()
        .filter_map(|d| annotation_words(d.value.outline()))
        .flatten()
        .any(|w| rules_for(w).is_some_and(|rules| rules.contains(&rule)))
}

fn reason(
    finding: &Finding,
    changes: &ChangeSet,
    annotated: &[(&ObjectChange, &Definition)],
    config: &Config,
) -> Verdict {
    let rule = finding.rule;
    let Some(id) = finding.id.as_ref() else {
        return Verdict::Stands;
    };
    // The head definitions of the identity, and the one the finding points at (for a rename,
    // the new object stands in for the deleted one).
    let own = changes
        .get(id)
        .map(|object| object.head.iter().map(move |d| (&**object, d)))
        .into_iter()
        .flatten();
    let pointed = annotated
        .iter()
        .copied()
        .filter(|(_, d)| Some(&d.path) == finding.path.as_ref() && Some(d.line) == finding.line);
    let mut added_in_pr = None;
    for (object, def) in own.chain(pointed) {
        let Some(words) = annotation_words(def.value.outline()) else {
            continue;
        };
        let covered = words
            .iter()
            .any(|w| rules_for(w).is_some_and(|rules| rules.contains(&rule)));
        if !covered {
            continue;
        }
        if !config.allow_annotations_added_in_pr && !base_allows(object, rule) {
            added_in_pr.get_or_insert_with(|| format!("{}:{}", def.path, def.line));
            continue;
        }
        let why = def.value.outline()["metadata"]["annotations"][REASON_ANNOTATION]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return Verdict::Silenced(
            AckSource::Annotation,
            format!(
                "annotation {ANNOTATION}: {} at {}:{}{why}",
                words.join(","),
                def.path,
                def.line
            ),
        );
    }
    let source = config.source.as_deref().unwrap_or("configuration");
    if let Some(index) = config
        .allow
        .iter()
        .position(|entry| entry.matches(rule, id))
    {
        return Verdict::Silenced(
            AckSource::Configuration,
            format!("{source} allow[{index}]: {}", config.allow[index].reason),
        );
    }
    match added_in_pr {
        Some(at) => Verdict::AddedInPr(at),
        None => Verdict::Stands,
    }
}

/// The stable key of a finding for Acknowledge clicks: `rule identity` (`rule path` for a
/// finding about a file, not an object), so the same finding on a later head — at another line,
/// with another message — is recognised as the one acknowledged.
pub fn finding_key(finding: &Finding) -> String {
    match (&finding.id, &finding.path) {
        (Some(id), _) => format!("{} {id}", finding.rule),
        (None, Some(path)) => format!("{} {path}", finding.rule),
        (None, None) => finding.rule.to_string(),
    }
}

/// Who acknowledged a run's error findings (`errors`, [`finding_key`]s): the logins of the
/// acknowledgements whose findings hold them, oldest first, when every error is held by one of
/// `acknowledgements`; `None` when there is no error or one was never acknowledged (a new error
/// needs a new click).
pub fn acknowledged_by(
    errors: &[String],
    acknowledgements: &[crate::queue::Acknowledgement],
) -> Option<Vec<String>> {
    if errors.is_empty() {
        return None;
    }
    let mut logins: Vec<String> = Vec::new();
    for error in errors {
        let ack = acknowledgements
            .iter()
            .find(|ack| ack.findings.iter().any(|f| f == error))?;
        if !logins.contains(&ack.login) {
            logins.push(ack.login.clone());
        }
    }
    Some(logins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Acknowledgement;

    fn ack(login: &str, findings: &[&str]) -> Acknowledgement {
        Acknowledgement {
            repo: "o/r".into(),
            pr: 1,
            login: login.into(),
            at_unix_ms: 1,
            check_run: 1,
            head_sha: "h".into(),
            findings: findings.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn keys(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn errors_held_by_acknowledgements_name_who_and_a_new_error_needs_a_new_click() {
        let acks = [ack("alice", &["a", "b"]), ack("bob", &["c"])];
        assert_eq!(
            acknowledged_by(&keys(&["a"]), &acks),
            Some(keys(&["alice"]))
        );
        assert_eq!(
            acknowledged_by(&keys(&["c", "a", "b"]), &acks),
            Some(keys(&["bob", "alice"]))
        );
        assert_eq!(acknowledged_by(&keys(&["a", "d"]), &acks), None);
        // Nothing to acknowledge: the run's own conclusion stands.
        assert_eq!(acknowledged_by(&[], &acks), None);
        assert_eq!(acknowledged_by(&keys(&["a"]), &[]), None);
    }

    #[test]
    fn a_finding_key_names_rule_and_identity_not_line_or_message() {
        let id = Identity {
            cluster: None,
            group: "apps".into(),
            kind: "Deployment".into(),
            namespace: Some("ns".into()),
            name: "web".into(),
        };
        let finding = |line, message: &str| Finding {
            rule: "overwrite-disguised-as-addition",
            severity: crate::finding::Severity::Error,
            id: Some(id.clone()),
            path: Some("a.yaml".into()),
            line: Some(line),
            message: message.into(),
        };
        assert_eq!(
            finding_key(&finding(3, "x")),
            "overwrite-disguised-as-addition apps/Deployment ns/web"
        );
        assert_eq!(finding_key(&finding(3, "x")), finding_key(&finding(9, "y")));
        let file = Finding {
            rule: "parse-error",
            id: None,
            ..finding(1, "bad")
        };
        assert_eq!(finding_key(&file), "parse-error a.yaml");
    }
}
