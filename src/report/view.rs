//! The review's view model: what every human-facing format shows, computed once.
//!
//! Why one model: the PR comment, the check run's summary and text, `check --format markdown`,
//! `--format html` and the terminal report must say the same thing in the same order, so a
//! reviewer who has read one has read them all. Templates in `templates/` receive a [`Review`]
//! (documented field by field below and in README "The review"); the text format walks it.
//!
//! Order, after a reviewer's five seconds: a headline stating what the PR really does (with
//! counts), the verdict and counts, then one [`Block`] per affected object (stateful casualties
//! first) merging all its findings, then folded lists that say how many items they hold and how
//! many were left out, then each rule's explanation once.
//!
//! Owners and what pruning deletes come from today's Argo CD model ([`Applications`]):
//! [`deployed_by`] is the one place that answers "what does this deployer deploy on one side", so
//! a richer ownership model replaces that function and nothing else.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::Report;
use super::diff::{self, ObjectDiff};
use crate::analysis::Analysis;
use crate::classify::{Change, Definition, ObjectChange};
use crate::config::Config;
use crate::deploy::argocd::{Application, Applications};
use crate::finding::{Finding, Severity};
use crate::manifest::Identity;

/// Where each rule's documentation lives; a SARIF `helpUri` and report links add `#<rule-id>`.
pub const RULES_DOC: &str = "https://github.com/clobbercheck/clobbercheck/blob/main/docs/rules.md";

/// How many changed fields a block lists before saying how many more changed.
const FIELDS: usize = 6;
/// Rules whose findings the block states in its own structured lines (looks / is / wins / prunes),
/// so their messages would only repeat them.
const STRUCTURED: &[&str] = &["overwrite-disguised-as-addition", "duplicate-identity"];

/// Everything a review shows. Every list is a [`List`] so templates can say what was left out.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    /// One sentence with counts: what the PR really does.
    pub headline: String,
    /// Whether the check fails (any error finding).
    pub failed: bool,
    /// `4 errors, 1 warning` (silenced findings named separately).
    pub verdict: String,
    pub summary: super::Summary,
    /// The sides as the user named them.
    pub base: String,
    pub head: String,
    /// One block per object with findings: stateful casualties first, then by severity.
    pub blocks: List<Block>,
    /// Findings about no single object (a file that does not parse, the configuration).
    pub other: List<FindingLine>,
    /// Findings acknowledged on purpose, with the acknowledgement.
    pub silenced: List<Silenced>,
    /// `Added`, `Modified`, `Deleted` objects (empty lists omitted).
    pub changes: Vec<List<ObjectLine>>,
    /// Per-object diffs, objects with findings first.
    pub diffs: List<ObjectDiff>,
    /// Each Argo CD Application with what it adds, modifies and prunes (the HTML page).
    pub deployers: List<Deployer>,
    /// The rules behind findings and silenced findings, each explained once.
    pub rules: Vec<RuleText>,
}

/// A titled list: `total` items exist, `items` are shown, `left_out` were cut for size.
#[derive(Debug, Clone, Serialize)]
pub struct List<T> {
    pub title: String,
    pub total: usize,
    pub items: Vec<T>,
    pub left_out: usize,
}

impl<T: Clone> List<T> {
    fn new(title: &str, items: Vec<T>) -> Self {
        Self {
            title: title.to_string(),
            total: items.len(),
            items,
            left_out: 0,
        }
    }

    /// Keeps at most `n` items; what was already left out stays counted.
    fn cap(&mut self, n: usize) {
        if self.items.len() > n {
            self.left_out += self.items.len() - n;
            self.items.truncate(n);
        }
    }
}

/// One affected object, all its findings merged.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// `Application argocd/app01-cluster01` (`on <cluster>` appended when known): the block's one title.
    pub title: String,
    /// The identity as every report names it.
    pub id: String,
    /// The worst severity among its findings.
    pub severity: &'static str,
    /// The rule ids of its findings, in registry order.
    pub rules: Vec<&'static str>,
    /// What the diff makes it look like (`an addition at file:56`), when that is not what it is.
    pub looks: Option<String>,
    /// What it is (`a replacement of the definition at file:22 of base`).
    pub is: String,
    /// Which definition wins when several exist, and what it silently replaces.
    pub wins: Option<String>,
    /// The fields a reviewer cares about first, before → after.
    pub fields: Vec<FieldChange>,
    /// How many other fields changed.
    pub fields_left_out: usize,
    /// The deployers of the object in base and head (`Application argocd/x → cluster, namespace`).
    pub owners_before: Vec<String>,
    pub owners_after: Vec<String>,
    /// For a deployer (Argo CD Application): what it deploys before and after and what pruning deletes.
    pub deploys: Option<Deploys>,
    /// What the other rules say about it, one line each (`rule: message`).
    pub notes: Vec<Note>,
    /// One line: the fix, naming the object.
    pub fix: String,
    /// `path:line` the block points at (head definition, or base for a deletion).
    pub location: String,
    /// Number of stateful objects it destroys (itself included): orders the blocks.
    #[serde(skip)]
    stateful: usize,
    #[serde(skip)]
    rank: Severity,
}

/// One changed field of a block.
#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    /// Dotted path (`spec.source.path`, `spec.template.spec.containers[0].image`).
    pub field: String,
    /// `(none)` when absent on that side; Secret values are `(hidden)`.
    pub before: String,
    pub after: String,
}

/// A rule's finding folded into a block.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub severity: &'static str,
    pub rule: &'static str,
    pub message: String,
}

/// What an Argo CD Application deploys before and after the PR.
#[derive(Debug, Clone, Serialize)]
pub struct Deploys {
    /// `env/cluster01/app01 → https://cluster01.example.com, namespace app01`, or `(nothing)`.
    pub before: String,
    pub after: String,
    /// Objects it deployed in base and no longer deploys: stateful ones first.
    pub prunes: List<String>,
    /// How many of `prunes` are stateful (volumes, StatefulSets, Namespaces, CRDs...).
    pub stateful: usize,
    /// Whether Argo CD deletes them (`automated.prune`, or a deleted Application's resources
    /// finalizer) rather than leaving them unmanaged.
    pub pruned: bool,
    /// The destination cluster they are on.
    pub cluster: String,
    /// Identities of every pruned object (not only those shown).
    #[serde(skip)]
    pruned_ids: Vec<String>,
}

/// A finding shown outside object blocks (or silenced).
#[derive(Debug, Clone, Serialize)]
pub struct FindingLine {
    pub severity: &'static str,
    pub rule: &'static str,
    pub location: String,
    pub object: Option<String>,
    pub message: String,
}

/// A silenced finding and who acknowledged it.
#[derive(Debug, Clone, Serialize)]
pub struct Silenced {
    pub finding: FindingLine,
    pub reason: String,
}

/// One object of an Added / Modified / Deleted list.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectLine {
    pub id: String,
    pub location: String,
    /// `moved from a:1`, `apps/v1beta2 → apps/v1`, or empty.
    pub note: String,
}

/// An Argo CD Application and what the PR changes among the objects it deploys.
#[derive(Debug, Clone, Serialize)]
pub struct Deployer {
    /// `Application argocd/app01-cluster01`, or `applied directly` for objects no deployer owns.
    pub name: String,
    /// Destination after the PR (before, when the PR deletes it).
    pub destination: String,
    pub adds: Vec<String>,
    pub modifies: Vec<String>,
    pub prunes: Vec<String>,
}

/// A rule's texts, shown once per review.
#[derive(Debug, Clone, Serialize)]
pub struct RuleText {
    pub id: &'static str,
    pub summary: &'static str,
    pub explanation: &'static str,
    pub help: &'static str,
    pub uri: String,
}

/// The documentation address of one rule.
pub fn help_uri(rule: &str) -> String {
    format!("{RULES_DOC}#{rule}")
}

impl Review {
    /// Builds the review of an analysis; per-object diffs are computed up to `diff_budget`
    /// characters (0: none).
    pub fn build(analysis: &Analysis, diff_budget: usize) -> Self {
        let report = &analysis.report;
        let model = Model::new(analysis);
        let mut by_id: Vec<(&Identity, Vec<&Finding>)> = Vec::new();
        let mut other = Vec::new();
        for finding in &report.findings {
            match &finding.id {
                Some(id) => match by_id.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, list)) => list.push(finding),
                    None => by_id.push((id, vec![finding])),
                },
                None => other.push(line(finding)),
            }
        }
        let mut blocks: Vec<Block> = by_id
            .into_iter()
            .map(|(id, findings)| model.block(id, &findings))
            .collect();
        blocks.sort_by(|a, b| {
            (b.stateful > 0, a.rank, &a.title).cmp(&(a.stateful > 0, b.rank, &b.title))
        });
        say_once(&mut blocks);
        let diffs = if diff_budget == 0 {
            (Vec::new(), 0)
        } else {
            let flagged: std::collections::HashSet<&Identity> = report
                .findings
                .iter()
                .filter_map(|f| f.id.as_ref())
                .collect();
            diff::object_diffs(
                &report.objects.objects,
                &|o| flagged.contains(&o.id),
                diff_budget,
            )
        };
        let changed = report
            .objects
            .objects
            .iter()
            .filter(|o| o.change != Change::Unchanged)
            .count();
        let mut diff_list = List::new("Per-object diffs", diffs.0);
        diff_list.total = if diff_budget == 0 { 0 } else { changed };
        diff_list.left_out = diffs.1;
        let s = &report.summary;
        let mut verdict = vec![
            count(s.errors, "error", "errors"),
            count(s.warnings, "warning", "warnings"),
            count(s.notices, "notice", "notices"),
        ];
        if s.silenced > 0 {
            verdict.push(format!("{} silenced", s.silenced));
        }
        Self {
            headline: headline(report, &blocks),
            failed: report.failed(),
            verdict: verdict.join(", "),
            summary: *s,
            base: report.base.clone(),
            head: report.head.clone(),
            blocks: List::new("Affected objects", blocks),
            other: List::new("Other findings", other),
            silenced: List::new(
                "Silenced on purpose",
                report
                    .silenced
                    .iter()
                    .map(|x| Silenced {
                        finding: line(&x.finding),
                        reason: x.reason.clone(),
                    })
                    .collect(),
            ),
            changes: [
                (Change::Added, "Added"),
                (Change::Modified, "Modified"),
                (Change::Deleted, "Deleted"),
            ]
            .into_iter()
            .map(|(change, title)| List::new(title, object_lines(report, change)))
            .filter(|l| l.total > 0)
            .collect(),
            diffs: diff_list,
            deployers: List::new("Deployers", model.deployers()),
            rules: rule_texts(report),
        }
    }

    /// The review with every list cut to at most `n` items (what was cut is counted).
    pub fn capped(&self, n: usize) -> Self {
        let mut out = self.clone();
        out.blocks.cap(n);
        out.other.cap(n);
        out.silenced.cap(n);
        for list in &mut out.changes {
            list.cap(n);
        }
        out.diffs.cap(n);
        out.deployers.cap(n);
        for block in &mut out.blocks.items {
            if let Some(d) = &mut block.deploys {
                d.prunes.cap(n);
            }
        }
        out
    }

    /// The longest list's length: capping at it changes nothing.
    pub fn longest(&self) -> usize {
        let mut n = self
            .blocks
            .items
            .len()
            .max(self.other.items.len())
            .max(self.silenced.items.len())
            .max(self.diffs.items.len())
            .max(self.deployers.items.len());
        for list in &self.changes {
            n = n.max(list.items.len());
        }
        for block in &self.blocks.items {
            if let Some(d) = &block.deploys {
                n = n.max(d.prunes.items.len());
            }
        }
        n
    }
}

/// Keeps each sentence once per review: an object a deployer block already lists among what it
/// stops deploying does not repeat its owners, and a sentence a rule writes into several
/// findings (its fix, typically) stays only where it first appears.
fn say_once(blocks: &mut [Block]) {
    let pruned: Vec<String> = blocks
        .iter()
        .filter_map(|b| b.deploys.as_ref())
        .flat_map(|d| d.pruned_ids.iter().cloned())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for block in blocks.iter_mut() {
        if pruned.contains(&block.id) {
            block.owners_before.clear();
            block.owners_after.clear();
        }
        for note in &mut block.notes {
            let kept: Vec<&str> = note
                .message
                .split_inclusive(". ")
                .filter(|s| seen.insert(s.trim().trim_end_matches('.').to_string()))
                .collect();
            note.message = kept.concat().trim_end().to_string();
        }
    }
}

/// `1 error` / `2 errors`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn line(f: &Finding) -> FindingLine {
    FindingLine {
        severity: f.severity.as_str(),
        rule: f.rule,
        location: f.location(),
        object: f.id.as_ref().map(ToString::to_string),
        message: f.message.clone(),
    }
}

fn object_lines(report: &Report, change: Change) -> Vec<ObjectLine> {
    report
        .objects
        .objects
        .iter()
        .filter(|o| o.change == change)
        .map(|o| {
            let def = o.effective_head().or(o.effective_base());
            let mut note = Vec::new();
            if let (Some(b), Some(h)) = (o.effective_base(), o.effective_head()) {
                if o.moved {
                    note.push(format!("moved from {}:{}", b.path, b.line));
                }
                if b.api_version != h.api_version {
                    note.push(format!("{} → {}", b.api_version, h.api_version));
                }
            }
            ObjectLine {
                id: o.id.to_string(),
                location: def
                    .map(|d| format!("{}:{}", d.path, d.line))
                    .unwrap_or_default(),
                note: note.join(", "),
            }
        })
        .collect()
}

fn rule_texts(report: &Report) -> Vec<RuleText> {
    crate::rules::RULES
        .iter()
        .filter(|r| {
            let id = r.info().id;
            report.findings.iter().any(|f| f.rule == id)
                || report.silenced.iter().any(|s| s.finding.rule == id)
        })
        .map(|r| RuleText {
            id: r.info().id,
            summary: r.info().summary,
            explanation: r.explanation(),
            help: r.info().help,
            uri: help_uri(r.info().id),
        })
        .collect()
}

/// The headline: what the PR really does, with counts, in one sentence.
fn headline(report: &Report, blocks: &[Block]) -> String {
    let with = |rule: &str| blocks.iter().filter(|b| b.rules.contains(&rule)).count();
    let disguised = with("overwrite-disguised-as-addition");
    let duplicated = blocks
        .iter()
        .filter(|b| {
            b.rules.contains(&"duplicate-identity")
                && !b.rules.contains(&"overwrite-disguised-as-addition")
        })
        .count();
    // A stateful object a deployer stops deploying is counted once, with that deployer's prunes.
    let destroyed = blocks
        .iter()
        .filter(|b| {
            b.rules.contains(&"stateful-deletion")
                && !blocks.iter().any(|o| {
                    o.deploys
                        .as_ref()
                        .is_some_and(|d| d.pruned_ids.contains(&b.id))
                })
        })
        .count();
    let mut acts = Vec::new();
    if disguised > 0 {
        acts.push(format!(
            "replaces {} while appearing to add {}",
            count(disguised, "existing object", "existing objects"),
            if disguised == 1 { "it" } else { "them" }
        ));
    }
    if duplicated > 0 {
        acts.push(format!(
            "defines {} more than once (the last definition silently wins)",
            count(duplicated, "object", "objects")
        ));
    }
    if destroyed > 0 {
        acts.push(format!(
            "deletes {} whose deletion destroys data or cascades",
            count(destroyed, "object", "objects")
        ));
    }
    let mut clusters: BTreeMap<&str, (usize, usize, bool)> = BTreeMap::new();
    for d in blocks.iter().filter_map(|b| b.deploys.as_ref()) {
        if d.prunes.total == 0 {
            continue;
        }
        let entry = clusters.entry(&d.cluster).or_default();
        entry.0 += d.prunes.total;
        entry.1 += d.stateful;
        entry.2 |= d.pruned;
    }
    let consequences: Vec<String> = clusters
        .iter()
        .map(|(cluster, (n, stateful, pruned))| {
            let what = if *stateful > 0 {
                format!("{} ({stateful} stateful)", count(*n, "object", "objects"))
            } else {
                count(*n, "object", "objects")
            };
            if *pruned {
                let them = if *n == 1 { "it" } else { "them" };
                format!("on {cluster} Argo CD would stop deploying {what} and prune {them}")
            } else {
                format!("on {cluster} Argo CD would stop deploying {what}, leaving them unmanaged")
            }
        })
        .collect();
    let s = &report.summary;
    let mut sentence = if acts.is_empty() {
        let changes = format!(
            "adds {}, modifies {} and deletes {}",
            s.added, s.modified, s.deleted
        );
        if consequences.is_empty() {
            let tail = if report.findings.is_empty() {
                "no finding"
            } else {
                "nothing replaced or deleted unseen"
            };
            format!("This PR {changes} objects; {tail}")
        } else {
            format!("This PR {changes} objects")
        }
    } else {
        format!("This PR {}", join_and(&acts))
    };
    for c in consequences {
        sentence.push_str("; ");
        sentence.push_str(&c);
    }
    sentence.push('.');
    sentence
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The analysis as blocks are built from it: both sides' Applications and objects.
struct Model<'a> {
    report: &'a Report,
    config: &'a Config,
    base_apps: Applications,
    head_apps: Applications,
    index: HashMap<&'a Identity, &'a ObjectChange>,
}

impl<'a> Model<'a> {
    fn new(analysis: &'a Analysis) -> Self {
        let report = &analysis.report;
        Self {
            report,
            config: &analysis.config,
            base_apps: Applications::from_objects(&analysis.base.objects, &analysis.config.deploy),
            head_apps: Applications::from_objects(&analysis.head.objects, &analysis.config.deploy),
            index: report.objects.objects.iter().map(|o| (&o.id, o)).collect(),
        }
    }

    fn block(&self, id: &Identity, findings: &[&Finding]) -> Block {
        let object = self.index.get(id).copied();
        let rank = findings
            .iter()
            .map(|f| f.severity)
            .min()
            .unwrap_or(Severity::Notice);
        let mut rules: Vec<&'static str> = Vec::new();
        for f in findings {
            if !rules.contains(&f.rule) {
                rules.push(f.rule);
            }
        }
        let order = |r: &&str| {
            crate::rules::RULES
                .iter()
                .position(|x| x.info().id == *r)
                .unwrap_or(usize::MAX)
        };
        rules.sort_by_key(order);
        let notes = findings
            .iter()
            .filter(|f| !STRUCTURED.contains(&f.rule))
            .map(|f| Note {
                severity: f.severity.as_str(),
                rule: f.rule,
                message: f.message.clone(),
            })
            .collect();
        let worst = findings
            .iter()
            .min_by_key(|f| (f.severity, order(&f.rule)))
            .copied();
        let location = worst.map(|f| f.location()).unwrap_or_default();
        let title = title(id);
        let Some(object) = object else {
            return Block {
                title,
                id: id.to_string(),
                severity: rank.as_str(),
                rules,
                looks: None,
                is: "an object of this comparison".into(),
                wins: None,
                fields: Vec::new(),
                fields_left_out: 0,
                owners_before: Vec::new(),
                owners_after: Vec::new(),
                deploys: None,
                notes,
                fix: worst
                    .map(|f| super::hint(f.rule))
                    .unwrap_or_default()
                    .into(),
                location,
                stateful: 0,
                rank,
            };
        };
        let new_defs: Vec<&Definition> = object.head.iter().filter(|d| d.new_in_pr).collect();
        let disguised = rules.contains(&"overwrite-disguised-as-addition");
        let looks = (disguised && !new_defs.is_empty()).then(|| {
            let at: Vec<String> = new_defs.iter().map(|d| at(d)).collect();
            format!("an addition ({} new in this PR)", at.join(", "))
        });
        let is = match object.change {
            _ if disguised => format!(
                "a replacement of the existing object defined at {} of base",
                object.base.iter().map(at).collect::<Vec<_>>().join(", ")
            ),
            Change::Added => format!("a new object ({})", location),
            Change::Modified => format!(
                "a change to the object defined at {} of base",
                object.effective_base().map(at).unwrap_or_default()
            ),
            Change::Deleted => format!(
                "a deletion of the object defined at {} of base",
                object.effective_base().map(at).unwrap_or_default()
            ),
            Change::Unchanged => "unchanged in content".to_string(),
        };
        let wins = (object.head.len() > 1).then(|| {
            let (winner, losers) = object.head.split_last().expect("two or more definitions");
            format!(
                "the last of {} definitions, {}, wins when applied in order; it silently replaces {}",
                object.head.len(),
                at(winner),
                losers.iter().map(at).collect::<Vec<_>>().join(", ")
            )
        });
        let secret = diff::is_secret(object);
        let (fields, fields_left_out) = fields(
            object.effective_base().map(|d| d.value.as_ref()),
            object.effective_head().map(|d| d.value.as_ref()),
            secret,
        );
        let owners = |apps: &Applications, def: Option<&Definition>| -> Vec<String> {
            def.map(|d| apps.owners(&d.path).iter().map(|a| owner(a)).collect())
                .unwrap_or_default()
        };
        let owners_before = owners(&self.base_apps, object.effective_base());
        let owners_after = owners(&self.head_apps, object.effective_head());
        let deploys = self.deploys(object);
        let stateful = deploys.as_ref().map_or(0, |d| d.stateful)
            + usize::from(rules.contains(&"stateful-deletion"));
        let fix = fix(object, worst);
        Block {
            title,
            id: id.to_string(),
            severity: rank.as_str(),
            rules,
            looks,
            is,
            wins,
            fields,
            fields_left_out,
            owners_before,
            owners_after,
            deploys,
            notes,
            fix,
            location,
            stateful,
            rank,
        }
    }

    /// For an Argo CD Application whose sources or destination change (or which is deleted):
    /// what it deploys before and after, and the objects it stops deploying.
    fn deploys(&self, object: &ObjectChange) -> Option<Deploys> {
        if object.id.group != "argoproj.io" || object.id.kind != "Application" {
            return None;
        }
        let app = |def: Option<&Definition>| {
            def.and_then(|d| Application::from_value(&d.value, &d.origin, &self.config.deploy))
        };
        let before = app(object.effective_base())?;
        let after = app(object.effective_head());
        if after
            .as_ref()
            .is_some_and(|a| a.sources == before.sources && a.destination() == before.destination())
        {
            return None;
        }
        let was = deployed_by(self.report, &before, Side::Base);
        let is: Vec<&ObjectChange> = after
            .as_ref()
            .map(|a| deployed_by(self.report, a, Side::Head))
            .unwrap_or_default();
        let mut prunes: Vec<&ObjectChange> = was
            .into_iter()
            .filter(|o| o.id != object.id && !is.iter().any(|h| h.id == o.id))
            .collect();
        prunes.sort_by_key(|o| (!stateful(&o.id), o.id.to_string()));
        let stateful_count = prunes.iter().filter(|o| stateful(&o.id)).count();
        let pruned = match &after {
            Some(_) => object
                .effective_head()
                .is_some_and(|d| d.value["spec"]["syncPolicy"]["automated"]["prune"] == true),
            None => before.cascades,
        };
        Some(Deploys {
            before: deploys_text(&before),
            after: after
                .as_ref()
                .map(deploys_text)
                .unwrap_or_else(|| "(nothing: the Application is deleted)".into()),
            prunes: List::new(
                "Stops deploying",
                prunes.iter().map(|o| short(&o.id)).collect(),
            ),
            pruned_ids: prunes.iter().map(|o| o.id.to_string()).collect(),
            stateful: stateful_count,
            pruned,
            cluster: before.cluster.unwrap_or_else(|| "its cluster".into()),
        })
    }

    /// Each Application of either side with the changed objects it deploys, then the changed
    /// objects no Application deploys.
    fn deployers(&self) -> Vec<Deployer> {
        let mut out: Vec<Deployer> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut direct = Deployer {
            name: "applied directly (no Application deploys them)".into(),
            destination: String::new(),
            adds: Vec::new(),
            modifies: Vec::new(),
            prunes: Vec::new(),
        };
        for app in self.head_apps.all().iter().chain(self.base_apps.all()) {
            let key = (app.namespace.clone(), app.name.clone(), app.cluster.clone());
            if !seen.insert(key) {
                continue;
            }
            let base_app = self
                .base_apps
                .all()
                .iter()
                .find(|a| a.name == app.name && a.namespace == app.namespace);
            let head_app = self
                .head_apps
                .all()
                .iter()
                .find(|a| a.name == app.name && a.namespace == app.namespace);
            let now: Vec<&ObjectChange> = head_app
                .map(|a| deployed_by(self.report, a, Side::Head))
                .unwrap_or_default();
            let was: Vec<&ObjectChange> = base_app
                .map(|a| deployed_by(self.report, a, Side::Base))
                .unwrap_or_default();
            let names = |list: &[&ObjectChange], keep: &dyn Fn(&ObjectChange) -> bool| {
                list.iter()
                    .filter(|o| keep(o))
                    .map(|o| o.id.to_string())
                    .collect::<Vec<_>>()
            };
            let deployer = Deployer {
                name: format!("Application {}/{}", app.namespace, app.name),
                destination: app.destination(),
                adds: names(&now, &|o| {
                    o.change == Change::Added || !was.iter().any(|w| w.id == o.id)
                }),
                modifies: names(&now, &|o| {
                    o.change == Change::Modified && was.iter().any(|w| w.id == o.id)
                }),
                prunes: names(&was, &|o| !now.iter().any(|n| n.id == o.id)),
            };
            if !(deployer.adds.is_empty()
                && deployer.modifies.is_empty()
                && deployer.prunes.is_empty())
            {
                out.push(deployer);
            }
        }
        for o in &self.report.objects.objects {
            let owned = |apps: &Applications, def: Option<&Definition>| {
                def.is_some_and(|d| !apps.owners(&d.path).is_empty())
            };
            if owned(&self.head_apps, o.effective_head())
                || owned(&self.base_apps, o.effective_base())
            {
                continue;
            }
            match o.change {
                Change::Added => direct.adds.push(o.id.to_string()),
                Change::Modified => direct.modifies.push(o.id.to_string()),
                Change::Deleted => direct.prunes.push(o.id.to_string()),
                Change::Unchanged => {}
            }
        }
        if !(direct.adds.is_empty() && direct.modifies.is_empty() && direct.prunes.is_empty()) {
            out.push(direct);
        }
        out
    }
}

/// Which side of the comparison a question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    Head,
}

/// The objects an Argo CD Application deploys on one side: those whose effective definition on
/// that side lies in a folder it deploys. The one place the review asks "what does this deployer
/// deploy"; an ownership model with generated Applications and Flux plugs in here.
pub fn deployed_by<'r>(report: &'r Report, app: &Application, side: Side) -> Vec<&'r ObjectChange> {
    report
        .objects
        .objects
        .iter()
        .filter(|o| {
            let def = match side {
                Side::Base => o.effective_base(),
                Side::Head => o.effective_head(),
            };
            def.is_some_and(|d| app.covers(&d.path))
        })
        .collect()
}

/// Whether deleting an object of this kind destroys data or cascades (as `stateful-deletion`
/// judges; an Application counts only with its finalizer, which the identity cannot tell).
fn stateful(id: &Identity) -> bool {
    matches!(
        (id.group.as_str(), id.kind.as_str()),
        ("", "Namespace")
            | ("", "PersistentVolumeClaim")
            | ("", "PersistentVolume")
            | ("apps", "StatefulSet")
            | ("apiextensions.k8s.io", "CustomResourceDefinition")
    )
}

/// `Kind namespace/name`: an object among others on one stated cluster.
fn short(id: &Identity) -> String {
    match &id.namespace {
        Some(ns) => format!("{} {ns}/{}", id.kind, id.name),
        None => format!("{} {}", id.kind, id.name),
    }
}

fn title(id: &Identity) -> String {
    let mut t = format!("{} ", id.kind);
    if let Some(ns) = &id.namespace {
        t.push_str(ns);
        t.push('/');
    }
    t.push_str(&id.name);
    if !id.group.is_empty() {
        t.push_str(&format!(" ({})", id.group));
    }
    if let Some(cluster) = &id.cluster {
        t.push_str(&format!(" on {cluster}"));
    }
    t
}

fn at(def: &Definition) -> String {
    format!("{}:{}", def.path, def.line)
}

fn owner(app: &Application) -> String {
    format!(
        "Application {}/{} → {}",
        app.namespace,
        app.name,
        app.destination()
    )
}

fn deploys_text(app: &Application) -> String {
    let paths: Vec<&str> = app
        .sources
        .iter()
        .map(|s| {
            if s.path.is_empty() {
                "/"
            } else {
                s.path.as_str()
            }
        })
        .collect();
    let paths = if paths.is_empty() {
        "no folder of this repository".to_string()
    } else {
        paths.join(", ")
    };
    format!("{paths} → {}", app.destination())
}

/// The one-line fix of a block, naming the object.
fn fix(object: &ObjectChange, worst: Option<&Finding>) -> String {
    let name = &object.id.name;
    let kind = &object.id.kind;
    match worst.map(|f| f.rule) {
        Some("overwrite-disguised-as-addition") | Some("duplicate-identity") => {
            let new = object
                .head
                .iter()
                .rev()
                .find(|d| d.new_in_pr)
                .or(object.head.last());
            match new {
                Some(d) => format!(
                    "give the {kind} at {}:{} a name of its own instead of {name}, or edit the existing definition if replacing it is intended",
                    d.path, d.line
                ),
                None => format!("rename or remove the extra definition of {kind} {name}"),
            }
        }
        Some("stateful-deletion") => format!(
            "keep {kind} {name}, protect it with argocd.argoproj.io/sync-options: Prune=false, or acknowledge its deletion if intended"
        ),
        Some(rule) => format!("{kind} {name}: {}", super::hint(rule)),
        None => String::new(),
    }
}

/// Leaf fields that differ between base and head, the ones a reviewer reads first at the top;
/// returns at most [`FIELDS`] and how many more changed. Secret `data`/`stringData` values are
/// compared but shown only as `(hidden: old)` / `(hidden: new)`.
fn fields(base: Option<&Value>, head: Option<&Value>, secret: bool) -> (Vec<FieldChange>, usize) {
    let (Some(base), Some(head)) = (base, head) else {
        return (Vec::new(), 0);
    };
    let mut old = BTreeMap::new();
    let mut new = BTreeMap::new();
    leaves(base, String::new(), &mut old);
    leaves(head, String::new(), &mut new);
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let shown = |field: &str, value: Option<&String>, side: &str| -> String {
        match value {
            None => "(none)".into(),
            Some(_)
                if secret && (field.starts_with("data.") || field.starts_with("stringData.")) =>
            {
                format!("(hidden: {side})")
            }
            Some(v) => v.clone(),
        }
    };
    let mut changed: Vec<FieldChange> = keys
        .into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| FieldChange {
            field: k.clone(),
            before: shown(k, old.get(k), "old"),
            after: shown(k, new.get(k), "new"),
        })
        .collect();
    changed.sort_by_key(|f| (priority(&f.field), f.field.clone()));
    let more = changed.len().saturating_sub(FIELDS);
    changed.truncate(FIELDS);
    (changed, more)
}

/// Destination, source, image and replicas first (what decides where and what runs).
fn priority(field: &str) -> u8 {
    if field.contains("destination") {
        0
    } else if field.starts_with("spec.source") {
        1
    } else if field.ends_with(".image") {
        2
    } else if field == "spec.replicas" {
        3
    } else if field == "apiVersion" || field.starts_with("spec.project") {
        4
    } else if field.starts_with("metadata.") {
        9
    } else {
        5
    }
}

/// Every leaf of a value by dotted path (`a.b[0].c`), scalars as written.
fn leaves(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                if k == "kubectl.kubernetes.io/last-applied-configuration" {
                    continue;
                }
                let key = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, key, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{path}[{i}]"), out);
            }
        }
        Value::String(s) => {
            out.insert(path, s.clone());
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}
