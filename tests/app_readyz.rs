//! `/readyz` and webhook answers while PostgreSQL is down (README, "Running several
//! replicas"), in a binary of its own so it never runs beside the replica soak.

mod app_common;
mod common;

use std::time::{Duration, Instant};

use app_common::*;
use common::postgres::PgServer;

/// README, "Running several replicas": `/readyz` answers 200 while PostgreSQL answers and 503
/// while it does not; a delivery is answered 503 (nothing stored) while the database is down, and
/// the replica recovers by itself when it returns (a redelivery is then stored and checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_and_webhooks_answer_503_while_postgresql_is_down_and_recover() {
    let Some(pg) =
        PgServer::start("readyz_and_webhooks_answer_503_while_postgresql_is_down_and_recover")
    else {
        return;
    };
    let url = tokio::task::block_in_place(|| pg.database("readyz"));
    let world = World::new().await;
    let base = world.base();
    let head = world.clean_head(&base, "pr-7", "pr-7");
    let spec = world.spec(7, &base, &head, "pr-7");
    let env = [
        ("CLOBBERCHECK_DATABASE_URL", url.as_str()),
        ("NO_COLOR", "1"),
    ];
    let dir = world.tmp.path().join("replica");
    let server = Server::start(&world.fake, &world.keys, &dir, &env).await;
    let client = reqwest::Client::new();
    let ready = || async {
        client
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);

    tokio::task::block_in_place(|| pg.stop());
    assert_eq!(ready().await, 503);
    let payload = pr_payload("opened", &spec);
    let (status, body) = server.deliver("pull_request", "down-1", &payload).await;
    assert_eq!(status, 503, "{body}");

    tokio::task::block_in_place(|| pg.start_again());
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready().await != 200 {
        assert!(
            Instant::now() < deadline,
            "/readyz stayed 503 after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The operator's redelivery (same delivery id) is stored now and gets its check.
    let (status, body) = server.deliver("pull_request", "down-1", &payload).await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = world
            .fake
            .inner()
            .check_runs
            .iter()
            .any(|c| c.head_sha == head && c.status == "completed");
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no completed check run after recovery"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
