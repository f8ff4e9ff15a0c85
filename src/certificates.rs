//! When libgit2 reads the certificate authorities: at the first fetch, not at start.
//!
//! libgit2 (1.9, built by `libgit2-sys` with OpenSSL) creates its TLS context in
//! `git_libgit2_init`, the first call any `git2` function makes, and loads the whole CA bundle
//! there (`SSL_CTX_set_default_verify_paths`, which reads `SSL_CERT_FILE` or OpenSSL's default
//! file and parses every certificate in it). On Debian's 140-certificate bundle that is about
//! 0.24 G instructions (callgrind, `bench/core.py --callgrind`) on the main thread before
//! anything can be read, some 30–40 ms of a 20,050-object check that never fetches
//! (`perf stat -r 15`, README's Figures). libgit2 defers this only when built with
//! `GIT_OPENSSL_DYNAMIC`, which `libgit2-sys` does not offer.
//!
//! So [`defer_loading`] lets libgit2 initialise while `SSL_CERT_FILE` names an empty file, then
//! puts the variable back, and [`load_for_fetch`] gives libgit2 the bundle
//! (`GIT_OPT_SET_SSL_CERT_LOCATIONS`, what `git2::opts::set_ssl_cert_file` sets) before the
//! process's first fetch. The bundle is the one libgit2 would have read: `git2`'s own start-up
//! probe (`openssl_probe::probe`: `SSL_CERT_FILE` if that file exists, else the first bundle
//! found in the usual system places), and the variable ends as that probe leaves it. The
//! certificate directory (`SSL_CERT_DIR`), which OpenSSL reads lazily, is untouched. A process
//! that never calls [`defer_loading`] (the library's users, the tests) keeps libgit2's own
//! behaviour, and [`load_for_fetch`] does nothing there.
//!
//! This holds for the libgit2 `libgit2-sys` builds from its own sources with OpenSSL, which the
//! `vendored-libgit2` feature in `Cargo.toml` makes the only one: a system libgit2 built with
//! mbedTLS would take the bundle given later in place of its own.

use std::path::PathBuf;
use std::sync::{Once, OnceLock};

/// OpenSSL's variable naming the CA bundle file.
const CERT_FILE_ENV: &str = "SSL_CERT_FILE";

/// The bundle libgit2 was initialised without, set once by [`defer_loading`].
static DEFERRED: OnceLock<PathBuf> = OnceLock::new();

/// Initialises libgit2 without reading the CA bundle; [`load_for_fetch`] reads it later.
///
/// When no bundle is found, libgit2 starts as it would (with OpenSSL's compiled-in default),
/// still here, so that `git2`'s probe sets its variables while no other thread reads the
/// environment. Does nothing off Linux, the one platform where `git2` uses OpenSSL and this was
/// measured. Called after some other `git2` call, it only makes the first fetch load the bundle
/// a second time.
///
/// # Safety
/// Sets environment variables: call it before the process has a second thread, as `main`'s
/// first step (see [`std::env::set_var`]).
pub unsafe fn defer_loading() {
    if !cfg!(target_os = "linux") || DEFERRED.get().is_some() {
        return;
    }
    let Some(bundle) = openssl_probe::probe().cert_file else {
        if let Err(error) = git2::Config::new() {
            tracing::warn!(%error, "libgit2 did not start");
        }
        return;
    };
    // SAFETY: the caller promises a single thread; nothing reads the environment meanwhile.
    unsafe { std::env::set_var(CERT_FILE_ENV, "/dev/null") };
    // `Config::new` has no effect but `git2`'s one-time start: its probe (which keeps an
    // existing `SSL_CERT_FILE`, and sets `SSL_CERT_DIR` as always) and `git_libgit2_init`.
    let started = git2::Config::new();
    // What `git2`'s probe would have left: the bundle it found, which is the variable's own
    // value when that names an existing file, and which OpenSSL would have read.
    // SAFETY: as above.
    unsafe { std::env::set_var(CERT_FILE_ENV, &bundle) };
    if let Err(error) = started {
        tracing::warn!(%error, "libgit2 did not start");
    }
    let _ = DEFERRED.set(bundle);
}

/// Gives libgit2 the bundle [`defer_loading`] kept from it, once, before the first fetch.
///
/// Every fetch calls it first, so none runs while libgit2's TLS context changes (why
/// `git2::opts::set_ssl_cert_file` is `unsafe`). A bundle that cannot be read is logged as an
/// error naming it and the fetch goes on, as OpenSSL goes on without a default bundle it cannot
/// read; the host's certificate then fails to verify and each fetch says so.
pub(crate) fn load_for_fetch() {
    static LOADED: Once = Once::new();
    LOADED.call_once(|| {
        let Some(bundle) = DEFERRED.get() else {
            return;
        };
        // SAFETY: inside `LOADED`, which every fetch passes before it connects: no TLS
        // connection uses libgit2's context while it is given the certificates.
        match unsafe { git2::opts::set_ssl_cert_file(bundle) } {
            Ok(()) => tracing::debug!(bundle = %bundle.display(), "certificate authorities loaded for fetching"),
            Err(error) => tracing::error!(bundle = %bundle.display(), %error, "the certificate authorities could not be loaded: fetches over HTTPS will not verify"),
        }
    });
}
