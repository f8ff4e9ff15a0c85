//! The review (issue 15) through the binary as users run it: Markdown snapshots of five named
//! cases, the Markdown parsed with a GFM implementation (comrak) and checked for structure and
//! size, `check --diff` with Secret values hidden, the HTML page rendered in headless Chromium,
//! and docs/rules.md generated from the rule registry.

mod common;

use std::path::Path;

use common::*;
use comrak::nodes::NodeValue;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `check --format markdown` (plus `extra`) of two sides relative to `cwd`.
fn markdown(cwd: &Path, base: &str, head: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "check", "--base", base, "--head", head, "--format", "markdown",
    ];
    args.extend_from_slice(extra);
    let out = run(cwd, &args);
    assert!(
        matches!(code(&out), 0 | 1),
        "exit {}: {}",
        code(&out),
        stderr(&out)
    );
    (code(&out), stdout(&out))
}

/// Writes `files` under `dir`.
fn write(dir: &Path, files: &[(String, String)]) {
    for (path, text) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
}

fn config_map(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: web\ndata:\n  value: \"{value}\"\n"
    )
}

/// Structure GitHub needs, checked on comrak's GFM parse: every table row as wide as its header,
/// `<details>` balanced and never inside code, no template syntax outside code, and the size.
fn assert_well_formed(md: &str, limit: usize) {
    assert!(
        md.chars().count() <= limit,
        "{} characters",
        md.chars().count()
    );
    let arena = comrak::Arena::new();
    let mut options = comrak::Options::default();
    options.extension.table = true;
    options.extension.strikethrough = true;
    let doc = comrak::parse_document(&arena, md, &options);
    let (mut open, mut close, mut tables) = (0, 0, 0);
    for node in doc.descendants() {
        let value = node.data().value.clone();
        match value {
            NodeValue::Table(table) => {
                tables += 1;
                for row in node.children() {
                    assert_eq!(
                        row.children().count(),
                        table.num_columns,
                        "a table row is not as wide as its header:\n{md}"
                    );
                }
            }
            NodeValue::HtmlBlock(html) => {
                open += html.literal.matches("<details").count();
                close += html.literal.matches("</details>").count();
            }
            NodeValue::HtmlInline(html) => {
                open += html.matches("<details").count();
                close += html.matches("</details>").count();
            }
            NodeValue::Text(text) => {
                for syntax in ["{{", "}}", "{%", "%}", "{#"] {
                    assert!(!text.contains(syntax), "template syntax {syntax} in {text}");
                }
            }
            _ => {}
        }
    }
    assert_eq!(open, close, "unbalanced <details>:\n{md}");
    assert!(tables >= 1, "the counts table is a GFM table:\n{md}");
}

/// Every sentence of the Markdown outside code blocks and tables, to check none is repeated.
fn repeated_sentences(md: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut twice = Vec::new();
    let mut in_code = false;
    for line in md.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || line.starts_with('|') || line.starts_with('<') {
            continue;
        }
        for sentence in line.split(". ") {
            let s = sentence.trim_start_matches(['-', '*', ' ']).trim();
            // Each block states who deploys its object: a field per object, not a sentence.
            if s.starts_with("Deployed by:") {
                continue;
            }
            if s.len() > 30 && !seen.insert(s.to_string()) {
                twice.push(s.to_string());
            }
        }
    }
    twice
}

#[test]
fn incident_markdown() {
    let (status, md) = markdown(
        root(),
        "examples/incident/base",
        "examples/incident/head",
        &[],
    );
    assert_eq!(status, 1);
    assert_well_formed(&md, 65_535);
    assert!(
        md.starts_with("**This PR replaces 2 existing objects while appearing to add them.**"),
        "{md}"
    );
    assert_eq!(repeated_sentences(&md), Vec::<String>::new(), "{md}");
    // One title per block: a heading, never also a <summary>.
    assert_eq!(md.matches("#### ").count(), 2, "{md}");
    insta::assert_snapshot!("incident", md);
}

#[test]
fn incident_with_workload_states_the_blast_radius_first() {
    let fixture = "tests/fixtures/review/incident";
    let (status, md) = markdown(
        root(),
        &format!("{fixture}/base"),
        &format!("{fixture}/head"),
        &[],
    );
    assert_eq!(status, 1);
    assert_well_formed(&md, 65_535);
    let first = md.lines().next().unwrap();
    assert_eq!(
        first,
        "**This PR replaces 2 existing objects while appearing to add them; on \
         https://cluster01.example.com Argo CD would stop deploying 14 objects (3 stateful) and \
         prune them.**"
    );
    // The Application's block names what pruning deletes, stateful casualties first.
    let prunes = md
        .lines()
        .find(|l| l.starts_with("- **Pruning deletes** 14 objects, 3 stateful"))
        .unwrap_or_else(|| panic!("{md}"));
    let at = |s: &str| prunes.find(s).unwrap_or_else(|| panic!("{s}: {prunes}"));
    assert!(at("StatefulSet app01/influxdb") < at("Deployment app01/gateway"));
    assert!(at("PersistentVolumeClaim app01/influxdb-data") < at("ConfigMap"));
    assert_eq!(repeated_sentences(&md), Vec::<String>::new(), "{md}");
}

#[test]
fn jsonnet_incident_markdown() {
    let (status, md) = markdown(
        root(),
        "examples/jsonnet-incident/base",
        "examples/jsonnet-incident/head",
        &[],
    );
    assert_eq!(status, 1);
    assert_well_formed(&md, 65_535);
    insta::assert_snapshot!("jsonnet_incident", md);
}

#[test]
fn clean_pr_markdown() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("base/web/a.yaml".into(), config_map("a", "1")),
            ("head/web/a.yaml".into(), config_map("a", "2")),
            ("head/web/b.yaml".into(), config_map("b", "1")),
        ],
    );
    let (status, md) = markdown(dir.path(), "base", "head", &[]);
    assert_eq!(status, 0);
    assert_well_formed(&md, 65_535);
    assert!(
        md.starts_with("**This PR adds 1, modifies 1 and deletes 0 objects; no finding.**"),
        "{md}"
    );
    insta::assert_snapshot!("clean_pr", md);
}

/// 300 overwrites: the comment stays within GitHub's limit by listing fewer blocks, and every
/// list says how many it left out; `--max-chars 0` lifts the limit.
#[test]
fn three_hundred_findings_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let base: String = (0..300)
        .map(|i| format!("---\n{}", config_map(&format!("settings-{i:03}"), "old")))
        .collect();
    let added: String = (0..300)
        .map(|i| format!("---\n{}", config_map(&format!("settings-{i:03}"), "new")))
        .collect();
    write(
        dir.path(),
        &[
            ("base/web/settings.yaml".into(), base.clone()),
            ("head/web/settings.yaml".into(), base),
            ("head/web/more-settings.yaml".into(), added),
        ],
    );
    let (status, md) = markdown(dir.path(), "base", "head", &[]);
    assert_eq!(status, 1);
    assert_well_formed(&md, 65_535);
    assert!(md.contains("### Affected objects (300)"), "{}", &md[..500]);
    assert!(
        md.contains("of 300 not shown here: GitHub limits this text to 65,535 characters"),
        "{md}"
    );
    insta::assert_snapshot!("three_hundred_findings", md);
    let (_, full) = markdown(dir.path(), "base", "head", &["--max-chars", "0"]);
    assert!(full.chars().count() > 65_535);
    assert!(!full.contains("not shown here"));
    assert_eq!(full.matches("#### ").count(), 300);
    let (_, small) = markdown(dir.path(), "base", "head", &["--max-chars", "20000"]);
    assert_well_formed(&small, 20_000);
}

/// Every rule's fixture under one repository (each under a folder named for its rule), with the
/// configurations merged: one review mixing every rule.
#[test]
fn every_rule_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = root().join("tests/fixtures/rules");
    let mut ids: Vec<&str> = clobbercheck::rules::known_ids();
    ids.sort();
    for id in &ids {
        for side in ["base", "head"] {
            // Applications name repository paths from the root: those fixtures stay at the root.
            let to = if *id == "shared-resource" || *id == "owner-change" {
                dir.path().join(side)
            } else {
                dir.path().join(side).join(id)
            };
            copy_dir(&fixtures.join(id).join(side), &to);
        }
    }
    let config = "naming:\n  - path: \"name-path-mismatch/env/{cluster}/{app}/**\"\n    kinds: [argoproj.io/Application, argoproj.io/AppProject]\n    name: \"{app}-{cluster}\"\nsources:\n  - jsonnet: \"render-error/env/*/main.jsonnet\"\nallow:\n  - rule: delete\n    kind: ConfigMap\n    namespace: defualt\n    name: fine\n    reason: a typo in the namespace names nothing\n";
    write(
        dir.path(),
        &[
            ("base/.clobbercheck.yml".into(), config.into()),
            (
                "head/.clobbercheck.yml".into(),
                // Edited, and with a key clobbercheck does not know: config-changed and
                // invalid-config both fire.
                format!("{config}clusterz: \"env/{{cluster}}/**\"\n"),
            ),
        ],
    );
    let (status, md) = markdown(dir.path(), "base", "head", &[]);
    assert_eq!(status, 1);
    assert_well_formed(&md, 65_535);
    let shown: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| md.contains(&format!("[`{id}`](")))
        .collect();
    let missing: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !shown.contains(id))
        .collect();
    println!(
        "rules in the review: {} of {}; missing: {missing:?}",
        shown.len(),
        ids.len()
    );
    assert!(
        missing.is_empty(),
        "rules missing from the review: {missing:?}\n{md}"
    );
    insta::assert_snapshot!("every_rule", md);
}

/// `check --diff` prints per-object diffs as the check run does, Secret values hidden.
#[test]
fn diff_shows_objects_and_hides_secret_values() {
    let dir = tempfile::tempdir().unwrap();
    let secret = |password: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: web\ndata:\n  password: {password}\n"
        )
    };
    write(
        dir.path(),
        &[
            ("base/web/db.yaml".into(), secret("aHVudGVyMg==")),
            ("head/web/db.yaml".into(), secret("c3dvcmRmaXNo")),
            ("base/web/a.yaml".into(), config_map("a", "1")),
            ("head/web/a.yaml".into(), config_map("a", "2")),
        ],
    );
    let out = run(
        dir.path(),
        &["check", "--base", "base", "--head", "head", "--diff"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Per-object diffs (2)"), "{text}");
    assert!(text.contains("-  value: \"1\""), "{text}");
    assert!(text.contains("+  value: \"2\""), "{text}");
    assert!(text.contains("(value hidden: new)"), "{text}");
    for value in ["aHVudGVyMg==", "c3dvcmRmaXNo"] {
        assert!(!text.contains(value), "{value} shown: {text}");
    }
    let plain = stdout(&run(
        dir.path(),
        &["check", "--base", "base", "--head", "head"],
    ));
    assert!(!plain.contains("Per-object diffs"), "{plain}");
}

/// The HTML page is self-contained, hides Secret values, and renders in headless Chromium: the
/// DOM Chromium builds holds the headline, the blocks and the side-by-side diffs.
#[test]
fn html_page_renders_in_chromium() {
    let fixture = "tests/fixtures/review/incident";
    let out = run(
        root(),
        &[
            "check",
            "--base",
            &format!("{fixture}/base"),
            "--head",
            &format!("{fixture}/head"),
            "--format",
            "html",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let html = stdout(&out);
    assert!(html.starts_with("<!doctype html>"), "{html}");
    for external in ["<script", "<link", "src=\"http", "@import", "url("] {
        assert!(
            !html.contains(external),
            "{external}: the page must need no network"
        );
    }
    assert!(html.contains("What each deployer adds, changes and prunes"));
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| installed(c))
    else {
        skip("html_page_renders_in_chromium", "chromium is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("review.html");
    std::fs::write(&page, &html).unwrap();
    let profile = dir.path().join("profile");
    let dom = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("Argo CD would stop deploying 14 objects (3 stateful)"),
        "{dom}"
    );
    assert!(dom.contains("class=\"block error\""), "{dom}");
    assert!(
        dom.contains("<td class=\"old\">    namespace: app01</td>"),
        "{dom}"
    );
    let shot = dir.path().join("shot.png");
    let status = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,900",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium runs");
    assert!(status.status.success(), "{status:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

/// docs/rules.md is the registry's documentation, which SARIF `helpUri`s and report links point
/// into; `CLOBBERCHECK_BLESS=1` rewrites it.
#[test]
fn rules_doc_is_generated_from_the_registry() {
    let path = root().join("docs/rules.md");
    let expected = clobbercheck::rules::documentation();
    if std::env::var_os("CLOBBERCHECK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    let got = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got, expected,
        "docs/rules.md is stale: CLOBBERCHECK_BLESS=1 cargo test --test review"
    );
    for id in clobbercheck::rules::known_ids() {
        assert!(got.contains(&format!("<a id=\"{id}\"></a>")), "{id}");
    }
}
