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
//! Owners and what pruning deletes come from the deployer layer: each object's owners per side
//! ([`ObjectChange::base_owners`]), indexed once per review by [`Placed`], and each deployer's
//! blast radius ([`radius::blast_radii`], computed once per analysis: `Analysis::radii`), so every
//! format states what the rules state.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::Report;
use super::diff::{self, ObjectDiff};
use crate::analysis::Analysis;
use crate::classify::{Change, Definition, ObjectChange};
use crate::deploy::radius::{self, BlastRadius, Removal};
use crate::deploy::{Deployers, Owner, OwnerKind};
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
    /// One line saying who deploys it: `Application argocd/x → in-cluster`, `applied directly`,
    /// or `before …; after …` when the PR changes it (empty when a deployer block already lists
    /// it among what it stops deploying).
    pub deployed_by: String,
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
    /// Objects it deployed in base and no longer deploys: stateful ones first, at most
    /// [`radius::LISTED`] shown.
    pub prunes: List<String>,
    /// How many of `prunes` are stateful (volumes, StatefulSets, Namespaces, CRDs...).
    pub stateful: usize,
    /// Whether the controller deletes them (Argo CD `automated.prune` or a deleted Application's
    /// resources finalizer, Flux `spec.prune`) rather than leaving them unmanaged.
    pub pruned: bool,
    /// The destination cluster they are on.
    pub cluster: String,
    /// The tool that prunes them (`Argo CD`, `Flux`), for the headline.
    pub tool: &'static str,
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
            diff::object_diffs(&model.affected, &|o| flagged.contains(&o.id), diff_budget)
        };
        let changed = model
            .affected
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
            .map(|(change, title)| List::new(title, object_lines(&model.affected, change)))
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
            block.deployed_by.clear();
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

fn object_lines(affected: &[&ObjectChange], change: Change) -> Vec<ObjectLine> {
    affected
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
    let moved = blocks
        .iter()
        .filter(|b| b.rules.contains(&"owner-change") && b.deploys.is_none())
        .count();
    if moved > 0 {
        acts.push(format!(
            "moves {} from one deployer to another (the old one prunes what the new one adopts)",
            count(moved, "object", "objects")
        ));
    }
    let mut clusters: BTreeMap<(&str, &str), (usize, usize, bool)> = BTreeMap::new();
    for d in blocks.iter().filter_map(|b| b.deploys.as_ref()) {
        if d.prunes.total == 0 {
            continue;
        }
        let entry = clusters.entry((&d.cluster, d.tool)).or_default();
        entry.0 += d.prunes.total;
        entry.1 += d.stateful;
        entry.2 |= d.pruned;
    }
    let consequences: Vec<String> = clusters
        .iter()
        .map(|((cluster, tool), (n, stateful, pruned))| {
            let what = if *stateful > 0 {
                format!("{} ({stateful} stateful)", count(*n, "object", "objects"))
            } else {
                count(*n, "object", "objects")
            };
            if *pruned {
                let them = if *n == 1 { "it" } else { "them" };
                format!("on {cluster} {tool} would stop deploying {what} and prune {them}")
            } else {
                format!("on {cluster} {tool} would stop deploying {what}, leaving them unmanaged")
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

/// The analysis as blocks are built from it: both sides' deployers, their blast radii, and the
/// objects the PR affects ([`crate::classify::ChangeSet::affected`]), by owner. Built from what
/// the PR changes, not from every object: a review's cost follows the change (and the number
/// of deployers), not the number of objects.
struct Model<'a> {
    base_deployers: &'a Deployers,
    head_deployers: &'a Deployers,
    radii: &'a [BlastRadius],
    objects: &'a crate::classify::ChangeSet,
    affected: Vec<&'a ObjectChange>,
    placed: Placed<'a>,
}

impl<'a> Model<'a> {
    fn new(analysis: &'a Analysis) -> Self {
        let report = &analysis.report;
        let affected: Vec<&ObjectChange> = report.objects.affected().collect();
        Self {
            base_deployers: &analysis.base.deployers,
            head_deployers: &analysis.head.deployers,
            radii: &analysis.radii,
            objects: &report.objects,
            placed: Placed::new(&affected),
            affected,
        }
    }

    fn block(&self, id: &Identity, findings: &[&Finding]) -> Block {
        let object = self.objects.get(id).map(|o| &**o);
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
                deployed_by: String::new(),
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
            object.effective_base().map(|d| &**d.value),
            object.effective_head().map(|d| &**d.value),
            secret,
        );
        let owners_before = owners(self.base_deployers, &object.base_owners);
        let owners_after = owners(self.head_deployers, &object.head_owners);
        let deployed_by = deployed_by(object, &owners_before, &owners_after);
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
            deployed_by,
            deploys,
            notes,
            fix,
            location,
            stateful,
            rank,
        }
    }

    /// For a deployer whose source or destination changes (or which is deleted or replaced):
    /// what it deploys before and after, and its blast radius.
    fn deploys(&self, object: &ObjectChange) -> Option<Deploys> {
        let radius: &BlastRadius = self.radii.iter().find(|r| r.is_deployer(object))?;
        let mut prunes = List::new(
            "Stops deploying",
            radius.objects.iter().map(radius::short).collect(),
        );
        prunes.cap(radius::LISTED);
        Some(Deploys {
            before: radius::place(&radius.before),
            after: radius.after.as_ref().map(radius::place).unwrap_or_else(|| {
                format!("(nothing: the {} is deleted)", radius.owner().kind.as_str())
            }),
            prunes,
            pruned_ids: radius.objects.iter().map(ToString::to_string).collect(),
            stateful: radius.stateful,
            pruned: radius.deletes,
            cluster: radius
                .before
                .cluster
                .clone()
                .unwrap_or_else(|| "its cluster".into()),
            tool: radius.owner().kind.tool(),
        })
    }

    /// Each deployer of either side with the changed objects it deploys, then the changed
    /// objects no deployer deploys.
    fn deployers(&self) -> Vec<Deployer> {
        let mut out: Vec<Deployer> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let none: Vec<&ObjectChange> = Vec::new();
        for deployer in self
            .head_deployers
            .all()
            .iter()
            .chain(self.base_deployers.all())
        {
            let owner = &deployer.owner;
            let now = self.placed.head.get(owner).unwrap_or(&none);
            let was = self.placed.base.get(owner).unwrap_or(&none);
            // A deployer with no affected object has nothing to list: looked at no further.
            if now.is_empty() && was.is_empty() || !seen.insert(owner) {
                continue;
            }
            // Identities are unique in a change set: an object deployed by `owner` in head is
            // among what it deployed in base exactly when base's owners name it too.
            let names = |list: &[&ObjectChange], keep: &dyn Fn(&ObjectChange) -> bool| {
                list.iter()
                    .filter(|o| keep(o))
                    .map(|o| o.id.to_string())
                    .collect::<Vec<_>>()
            };
            let entry = Deployer {
                name: deployer.owner.to_string(),
                destination: destination(deployer),
                adds: names(now, &|o| {
                    o.change == Change::Added || !o.base_owners.contains(owner)
                }),
                modifies: names(now, &|o| {
                    o.change == Change::Modified && o.base_owners.contains(owner)
                }),
                prunes: names(was, &|o| !o.head_owners.contains(owner)),
            };
            if !(entry.adds.is_empty() && entry.modifies.is_empty() && entry.prunes.is_empty()) {
                out.push(entry);
            }
        }
        let mut direct = Deployer {
            name: "applied directly (no deployer deploys them)".into(),
            destination: String::new(),
            adds: Vec::new(),
            modifies: Vec::new(),
            prunes: Vec::new(),
        };
        for o in &self.placed.direct {
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

/// The affected objects by the deployer that deploys them on each side, and the changed objects
/// no deployer deploys: built in one pass per review, so listing what each deployer changes never
/// rescans the objects (linear in affected objects, whatever the number of deployers).
struct Placed<'a> {
    base: HashMap<&'a Owner, Vec<&'a ObjectChange>>,
    head: HashMap<&'a Owner, Vec<&'a ObjectChange>>,
    /// Changed objects with no owner on either side.
    direct: Vec<&'a ObjectChange>,
}

impl<'a> Placed<'a> {
    /// Places the affected objects; an unaffected one is in no deployer's adds, modifies or
    /// prunes (same content, same owners), so leaving it out changes no list.
    fn new(affected: &[&'a ObjectChange]) -> Self {
        let mut placed = Self {
            base: HashMap::new(),
            head: HashMap::new(),
            direct: Vec::new(),
        };
        for &o in affected {
            for owner in &o.base_owners {
                placed.base.entry(owner).or_default().push(o);
            }
            for owner in &o.head_owners {
                placed.head.entry(owner).or_default().push(o);
            }
            if o.base_owners.is_empty() && o.head_owners.is_empty() && o.change != Change::Unchanged
            {
                placed.direct.push(o);
            }
        }
        placed
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

/// Each owner as blocks name it: `Application argocd/web → in-cluster, namespace shop` (the
/// destination when the side's deployer is known).
fn owners(deployers: &Deployers, owners: &[Owner]) -> Vec<String> {
    owners
        .iter()
        .map(|o| match deployers.get(o) {
            Some(d) => format!("{o} → {}", destination(d)),
            None => o.to_string(),
        })
        .collect()
}

/// `in-cluster, namespace shop`: where a deployer puts what it deploys.
fn destination(deployer: &crate::deploy::Deployer) -> String {
    let cluster = deployer.cluster.as_deref().unwrap_or("no cluster");
    match &deployer.namespace {
        Some(namespace) => format!("{cluster}, namespace {namespace}"),
        None => cluster.to_string(),
    }
}

/// The block's one "deployed by" line (issue 10 §4: every object shows its owners, or that it
/// is applied directly).
fn deployed_by(object: &ObjectChange, before: &[String], after: &[String]) -> String {
    let side = |list: &[String]| {
        if list.is_empty() {
            "applied directly".to_string()
        } else {
            list.join("; ")
        }
    };
    if object.base.is_empty() || before == after {
        side(after)
    } else if object.head.is_empty() {
        side(before)
    } else {
        format!("before {}; after {}", side(before), side(after))
    }
}

/// Whether the object is an Argo CD Application whose base definition carries the resources
/// finalizer: deleting it deletes what it manages.
fn cascades(object: &ObjectChange) -> bool {
    object.id.group == "argoproj.io"
        && object.id.kind == "Application"
        && object.effective_base().is_some_and(|d| {
            d.value.outline()["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| {
                    f.iter()
                        .any(|f| f.as_str() == Some(crate::deploy::argocd::RESOURCES_FINALIZER))
                })
        })
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
        Some("stateful-deletion") if cascades(object) => format!(
            "keep {kind} {name}, or first give the objects it manages {}, or acknowledge its deletion if intended",
            radius::protection(OwnerKind::Application, Removal::OwnerDeleted)
        ),
        Some("owner-change") => {
            let lost: Vec<Owner> = object
                .base_owners
                .iter()
                .filter(|o| !object.head_owners.contains(o))
                .cloned()
                .collect();
            let deployer = match kind.as_str() {
                "Application" => Some(OwnerKind::Application),
                "Kustomization" => Some(OwnerKind::Kustomization),
                "HelmRelease" => Some(OwnerKind::HelmRelease),
                _ => None,
            };
            match (radius::protections(&lost, Removal::Prune), deployer) {
                (Some(protection), _) => format!(
                    "protect {kind} {name} with {protection} while its new owner adopts it, then remove the protection"
                ),
                (None, Some(deployer)) => format!(
                    "protect what {kind} {name} stops deploying with {} first, or keep its source and destination",
                    radius::protection(deployer, Removal::Prune)
                ),
                (None, None) => format!("{kind} {name}: {}", super::hint("owner-change")),
            }
        }
        Some("stateful-deletion") => {
            match radius::protections(&object.base_owners, Removal::Prune) {
                Some(protection) => format!(
                    "keep {kind} {name}, protect it with {protection}, or acknowledge its deletion if intended"
                ),
                None => format!("keep {kind} {name}, or acknowledge its deletion if intended"),
            }
        }
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
