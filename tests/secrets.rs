//! Secret values never leave the analysis through `clobbercheck check`: every report format,
//! with and without `--all`, and the most verbose log, for a PR that modifies, duplicates and
//! overwrites a `Secret` (base64 `data` and plain `stringData`) and breaks the YAML of another.
//! `render` and `split` print the user's own manifests by design, values included.

mod common;

use base64::Engine;
use common::*;

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn secret(name: &str, password: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: prod\ntype: Opaque\ndata:\n  password: {}\n  username: {}\nstringData:\n  api-token: {token}\n",
        b64(password),
        b64("operator-s3cret-user"),
    )
}

/// Every value the repository's Secrets hold, base64 and decoded.
fn values() -> Vec<String> {
    let plain = [
        "hunter2-base-s3cret",
        "swordfish-head-s3cret",
        "overwrite-head-s3cret",
        "operator-s3cret-user",
        "broken-s3cret-value",
    ];
    let mut all: Vec<String> = plain.iter().map(|v| v.to_string()).collect();
    all.extend(plain.iter().map(|v| b64(v)));
    all.extend(
        [
            "tok-base-plain-s3cret",
            "tok-head-plain-s3cret",
            "tok-dup-plain-s3cret",
        ]
        .map(String::from),
    );
    all
}

fn repository() -> (GitRepo, String, String) {
    let repo = GitRepo::new();
    let base = repo.commit_files(
        "base",
        &[(
            "prod/db.yaml",
            Some(&secret(
                "db",
                "hunter2-base-s3cret",
                "tok-base-plain-s3cret",
            )),
        )],
    );
    let broken = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\n  namespace: prod\ndata:\n  password: \"{}\n  other: [{}\n",
        b64("broken-s3cret-value"),
        b64("broken-s3cret-value")
    );
    let head = repo.commit_files(
        "head",
        &[
            (
                "prod/db.yaml",
                Some(&secret(
                    "db",
                    "swordfish-head-s3cret",
                    "tok-head-plain-s3cret",
                )),
            ),
            (
                "prod/zz-copy.yaml",
                Some(&secret(
                    "db",
                    "overwrite-head-s3cret",
                    "tok-dup-plain-s3cret",
                )),
            ),
            ("prod/broken.yaml", Some(&broken)),
        ],
    );
    (repo, base, head)
}

#[test]
fn no_report_format_or_log_shows_a_secret_value() {
    let (repo, base, head) = repository();
    for format in ["text", "markdown", "json", "sarif"] {
        for all in [false, true] {
            let mut args = vec![
                "check", "--base", &base, "--head", &head, "--format", format,
            ];
            if all {
                args.push("--all");
            }
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
                .args(&args)
                .current_dir(repo.path())
                .env("CLOBBERCHECK_LOG", "trace")
                .output()
                .unwrap();
            let (stdout, stderr) = (stdout(&out), stderr(&out));
            assert_eq!(code(&out), 1, "{format}: {stderr}");
            // The findings name the Secret, its files and the rules…
            assert!(stdout.contains("prod/zz-copy.yaml"), "{format}: {stdout}");
            assert!(stdout.contains("prod/broken.yaml"), "{format}: {stdout}");
            assert!(
                stdout.contains("Secret") && stdout.contains("db"),
                "{format}: {stdout}"
            );
            for rule in ["overwrite-disguised-as-addition", "parse-error"] {
                assert!(stdout.contains(rule), "{format}: no {rule}: {stdout}");
            }
            // …and none of the values, encoded or decoded, in any output or the trace log.
            for value in values() {
                assert!(
                    !stdout.contains(&value),
                    "{format} --all={all}: {value} on stdout"
                );
                assert!(
                    !stderr.contains(&value),
                    "{format} --all={all}: {value} on stderr"
                );
            }
        }
    }
}

#[test]
fn render_prints_the_users_own_manifests_values_included() {
    let (repo, _, head) = repository();
    let out = run(repo.path(), &["render", "--rev", &head]);
    let stdout = stdout(&out);
    assert!(stdout.contains(&b64("swordfish-head-s3cret")), "{stdout}");
    assert!(stdout.contains("tok-head-plain-s3cret"), "{stdout}");
}
