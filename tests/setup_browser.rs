//! The setup page in a real browser: headless Chromium (driven by `.ci/setup-browser.cjs` with
//! playwright-core) types the setup code and an organization, presses the buttons, goes through
//! the fake GitHub's manifest page and lands on a configured server.

mod app_common;
mod common;

use std::process::Command;

use app_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_browser_registers_the_app_under_an_organization_and_lands_configured() {
    let script = root().join(".ci/setup-browser.cjs");
    if !common::installed("chromium")
        || !common::installed("node")
        || !root().join(".ci/node_modules/playwright-core").is_dir()
    {
        common::skip(
            "a_browser_registers_the_app_under_an_organization_and_lands_configured",
            "chromium, node or .ci/node_modules/playwright-core is missing (.ci/run installs them)",
        );
        return;
    }
    let w = World::new().await;
    let server = Server::start_with(&w.data_dir, Server::base_env(&w.fake)).await;
    let code = std::fs::read_to_string(w.data_dir.join("setup-code")).unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new("node")
            .arg(&script)
            .args([server.url.as_str(), code.trim(), "platform-team"])
            .env("HOME", w.tmp.path())
            .output()
            .unwrap()
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert!(
        stdout.starts_with(&format!("{}/setup?code=abc123&state=", server.url)),
        "{stdout}"
    );
    let registrations = w.fake.inner().registrations.clone();
    assert_eq!(registrations.len(), 1);
    assert_eq!(registrations[0].0.as_deref(), Some("platform-team"));
    assert_eq!(
        registrations[0].1["hook_attributes"]["url"],
        format!("{}/webhook", server.url)
    );
    assert!(w.data_dir.join("app-credentials.json").is_file());
    assert!(!w.data_dir.join("setup-code").exists());
}
