//! The terminal report: the review's structure (src/report/view.rs) for a reviewer at a terminal —
//! headline, verdict and counts, one block per affected object, then the lists, the diffs when
//! asked for (`check --diff`), and each rule's explanation once.

use std::fmt::Write;

use super::view::{List, Review};

/// ANSI styling, on only when writing to a terminal.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Width the messages are wrapped to.
const WIDTH: usize = 96;
/// Indent of a block's values (after the label column).
const VALUE: usize = 16;

/// Renders the review; `color` adds ANSI colours.
pub fn render(review: &Review, color: bool) -> String {
    let style = Style { on: color };
    let s = &review.summary;
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.paint("1", &review.headline));
    let verdict = if review.failed {
        style.paint("1;31", "FAIL")
    } else {
        style.paint("1;32", "ok")
    };
    let _ = writeln!(
        out,
        "{verdict}: {} — {} added, {} modified, {} deleted, {} unchanged  ({} → {})",
        review.verdict, s.added, s.modified, s.deleted, s.unchanged, review.base, review.head
    );
    if review.blocks.total > 0 {
        title(&mut out, &style, &review.blocks);
        for b in &review.blocks.items {
            let (code, word) = match b.severity {
                "error" => ("1;31", "error  "),
                "warning" => ("1;33", "warning"),
                _ => ("1;36", "notice "),
            };
            let _ = writeln!(
                out,
                "\n  {} {}  {}",
                style.paint(code, word),
                style.paint("1", &b.title),
                style.paint("2", &b.location)
            );
            if let Some(looks) = &b.looks {
                field(&mut out, "looks like", looks);
            }
            field(&mut out, "is", &b.is);
            if let Some(wins) = &b.wins {
                field(&mut out, "wins", wins);
            }
            for (i, f) in b.fields.iter().enumerate() {
                let label = if i == 0 { "changes" } else { "" };
                field(
                    &mut out,
                    label,
                    &format!("{}: {} → {}", f.field, f.before, f.after),
                );
            }
            if b.fields_left_out > 0 {
                field(
                    &mut out,
                    "",
                    &format!("and {} more changed field(s)", b.fields_left_out),
                );
            }
            if !b.deployed_by.is_empty() {
                field(&mut out, "deployed by", &b.deployed_by);
            }
            if let Some(d) = &b.deploys {
                field(&mut out, "deploys", &format!("before {}", d.before));
                field(&mut out, "", &format!("after {}", d.after));
                if d.prunes.total > 0 {
                    let mut what = format!("{} object(s)", d.prunes.total);
                    if d.stateful > 0 {
                        let _ = write!(what, ", {} stateful", d.stateful);
                    }
                    let mut names = d.prunes.items.join(", ");
                    if d.prunes.left_out > 0 {
                        let _ = write!(names, " and {} more", d.prunes.left_out);
                    }
                    field(
                        &mut out,
                        if d.pruned { "prunes" } else { "unmanaged" },
                        &style.paint("31", &format!("{what} on {}: {names}", d.cluster)),
                    );
                }
            }
            for n in &b.notes {
                field(&mut out, n.severity, &format!("[{}] {}", n.rule, n.message));
            }
            field(&mut out, "fix", &b.fix);
            field(&mut out, "rules", &b.rules.join(", "));
        }
        left(&mut out, &review.blocks);
    }
    if review.other.total > 0 {
        title(&mut out, &style, &review.other);
        for f in &review.other.items {
            let _ = writeln!(out, "  {} {} [{}]", f.severity, f.location, f.rule);
            for line in wrap(&f.message, WIDTH - VALUE) {
                let _ = writeln!(out, "{:VALUE$}{line}", "");
            }
        }
        left(&mut out, &review.other);
    }
    if review.silenced.total > 0 {
        let _ = writeln!(
            out,
            "\n{} ({}): acknowledged on purpose, not counted in the verdict",
            style.paint("1", "Silenced"),
            review.silenced.total
        );
        for x in &review.silenced.items {
            let f = &x.finding;
            let _ = writeln!(out, "  {} {} [{}]", f.severity, f.location, f.rule);
            for line in wrap(
                &format!("{} acknowledged by {}", f.message, x.reason),
                WIDTH - VALUE,
            ) {
                let _ = writeln!(out, "{:VALUE$}{line}", "");
            }
        }
        left(&mut out, &review.silenced);
    }
    for (list, mark, code) in review.changes.iter().map(|l| {
        let (mark, code) = match l.title.as_str() {
            "Added" => ("+", "32"),
            "Deleted" => ("-", "31"),
            _ => ("~", "33"),
        };
        (l, mark, code)
    }) {
        title(&mut out, &style, list);
        for o in &list.items {
            let note = if o.note.is_empty() {
                String::new()
            } else {
                format!("  ({})", o.note)
            };
            let _ = writeln!(
                out,
                "  {} {}  {}{note}",
                style.paint(code, mark),
                o.id,
                style.paint("2", &o.location)
            );
        }
        left(&mut out, list);
    }
    if review.diffs.total > 0 {
        title(&mut out, &style, &review.diffs);
        for d in &review.diffs.items {
            let _ = writeln!(
                out,
                "\n  {} {}  {}",
                d.change,
                style.paint("1", &d.id),
                style.paint("2", &d.location)
            );
            for line in d.diff.lines() {
                let painted = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => style.paint("32", line),
                    Some('-') if !line.starts_with("---") => style.paint("31", line),
                    Some('@') => style.paint("36", line),
                    _ => line.to_string(),
                };
                let _ = writeln!(out, "    {painted}");
            }
        }
        left(&mut out, &review.diffs);
    }
    if !review.rules.is_empty() {
        let _ = writeln!(
            out,
            "\n{} ({})",
            style.paint("1", "Rules"),
            review.rules.len()
        );
        for r in &review.rules {
            let _ = writeln!(out, "  {}: {}", style.paint("1", r.id), r.summary);
            for line in wrap(r.explanation, WIDTH - 6) {
                let _ = writeln!(out, "      {line}");
            }
            let _ = writeln!(out, "      {}", style.paint("2", &r.uri));
        }
    }
    out
}

fn title<T>(out: &mut String, style: &Style, list: &List<T>) {
    let _ = writeln!(out, "\n{} ({})", style.paint("1", &list.title), list.total);
}

fn left<T>(out: &mut String, list: &List<T>) {
    if list.left_out > 0 {
        let _ = writeln!(out, "  … and {} more not shown", list.left_out);
    }
}

/// One labelled line of a block, the value wrapped under itself.
fn field(out: &mut String, label: &str, value: &str) {
    for (i, line) in wrap(value, WIDTH - VALUE).into_iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        let _ = writeln!(out, "    {label:<width$}{line}", width = VALUE - 4);
    }
}

/// Greedy word wrap for long messages.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
