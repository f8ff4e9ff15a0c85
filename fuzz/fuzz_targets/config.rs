#![no_main]
//! Fuzz target; the properties live in tests/fuzz_invariants, shared with tests/fuzz_regressions.rs.

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../tests/fuzz_invariants/mod.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| invariants::check_config(data));
