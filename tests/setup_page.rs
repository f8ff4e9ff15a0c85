//! The setup page is not an open door: the real `serve` without an App hands the manifest form
//! only to whoever gives the one-time setup code it printed and wrote (mode 0600) to its data
//! directory; once configured, `/` and `/setup` only say so.

mod app_common;

use std::os::unix::fs::PermissionsExt;

use app_common::*;

/// The value of `name="…"`'s form action or a query parameter in a page.
fn state_of(page: &str) -> String {
    page.split("state=")
        .nth(1)
        .unwrap_or_else(|| panic!("no state in {page}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_setup_code_guards_registration_and_configured_servers_only_say_so() {
    let w = World::new().await;
    let mut server = Server::start_with(&w.data_dir, Server::base_env(&w.fake)).await;
    let code_file = w.data_dir.join("setup-code");
    let code = std::fs::read_to_string(&code_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(code.len(), 32);
    assert_eq!(
        std::fs::metadata(&code_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let start_lines: Vec<String> = server
        .log()
        .lines()
        .filter(|l| l.starts_with("clobbercheck serve: "))
        .map(String::from)
        .collect();
    assert_eq!(start_lines.len(), 1, "{}", server.log());
    let line = &start_lines[0];
    assert!(
        line.contains("listening on 127.0.0.1:")
            && line.contains(&format!("GitHub {}", w.fake.url))
            && line.contains("awaiting setup")
            && line.contains(&code),
        "{line}"
    );

    let client = &server.client;
    let index = client
        .get(format!("{}/", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("name=\"setup_code\""), "{index}");
    assert!(
        !index.contains("manifest") && !index.contains("state="),
        "{index}"
    );

    let post = |code: &str, org: &str| {
        client
            .post(format!("{}/", server.url))
            .form(&[("setup_code", code), ("organization", org)])
            .send()
    };
    let wrong = post("0123456789abcdef0123456789abcdef", "").await.unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let wrong = wrong.text().await.unwrap();
    assert!(!wrong.contains("state="), "{wrong}");
    assert_eq!(
        post(&code, "bad org!").await.unwrap().status().as_u16(),
        400
    );

    // The page escapes `/` as HTML does; a browser reads it back.
    let user = post(&code, "")
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        user.contains(&format!("action=\"{}/settings/apps/new?state=", w.fake.url)),
        "{user}"
    );
    assert!(user.contains("name=\"manifest\"") && user.contains("/webhook"));
    let org = post(&code, "platform-team")
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(
        org.contains(&format!(
            "action=\"{}/organizations/platform-team/settings/apps/new?state=",
            w.fake.url
        )),
        "{org}"
    );

    let forged = client
        .get(format!("{}/setup?code=abc123&state=forged", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    let done = client
        .get(format!(
            "{}/setup?code=abc123&state={}",
            server.url,
            state_of(&org)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert!(done.text().await.unwrap().contains("installations/new"));
    assert!(!code_file.exists(), "the used setup code is deleted");
    assert_eq!(
        std::fs::metadata(w.data_dir.join("app-credentials.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    // Configured: every setup route only says so, and no new registration can start.
    for page in [
        client.get(format!("{}/", server.url)).send().await.unwrap(),
        post(&code, "").await.unwrap(),
        client
            .get(format!(
                "{}/setup?code=abc123&state={}",
                server.url,
                state_of(&user)
            ))
            .send()
            .await
            .unwrap(),
        client
            .get(format!("{}/setup", server.url))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(page.status().as_u16(), 200);
        let text = page.text().await.unwrap();
        assert!(text.contains("id=\"configured\""), "{text}");
        assert!(!text.contains("<form"), "{text}");
    }
    server.restart().await;
    assert!(
        !code_file.exists(),
        "a configured server makes no setup code"
    );
    assert!(
        server
            .log()
            .contains(&format!("configured as App {APP_ID}")),
        "{}",
        server.log()
    );
}
