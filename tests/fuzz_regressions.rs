//! Every input kept under `tests/fixtures/fuzz/<target>/` (hand-picked seeds and the inputs the
//! fuzz targets of `fuzz/` found failing, minimised) through the same properties the target
//! checks, so a fixed crash that comes back fails `cargo test` without nightly or cargo-fuzz.

mod fuzz_invariants;

use std::path::Path;

/// Feeds each file of one target's folder to its check; names the file that fails.
fn run(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no inputs", dir.display());
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&bytes)) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("{}: {message}", file.display());
        }
    }
}

#[test]
fn yaml_split_inputs_keep_the_splitter_invariants() {
    run("yaml_split", fuzz_invariants::check_split);
}

#[test]
fn identity_inputs_keep_the_identity_invariants() {
    run("identity", fuzz_invariants::check_identity);
}

#[test]
fn config_inputs_keep_the_config_invariants() {
    run("config", fuzz_invariants::check_config);
}

#[test]
fn webhook_inputs_keep_the_webhook_invariants() {
    run("webhook", fuzz_invariants::check_webhook);
}
