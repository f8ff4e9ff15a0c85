//! The process allocator: mimalloc, except in sandboxed render children.
//!
//! Parsing allocates millions of small values, which mimalloc serves about 25 % faster than the
//! system allocator (`bench/core.py`: 0.50 s → 0.37 s). But mimalloc reserves large address ranges
//! up front, which `RLIMIT_AS` counts: a jsonnet child capped at 128 MiB could not even start its
//! evaluation thread. A child started with [`SYSTEM_ALLOCATOR_ENV`] set uses the system allocator.
//! The choice is made once, at the first allocation, from the environment read without allocating,
//! so no block is ever freed by the other allocator.
//!
//! Choosing mimalloc also turns transparent huge pages off for the process
//! (`prctl(PR_SET_THP_DISABLE)`, what mimalloc's own `MIMALLOC_ALLOW_THP=0` does; a
//! `MIMALLOC_ALLOW_THP` in the environment is left to mimalloc). mimalloc asks for huge pages on its
//! arenas, and on a Linux whose `transparent_hugepage/defrag` is `madvise` (Debian's default) a
//! fault on one may stall in direct compaction: measured on this project's machine, the
//! 20,050-object check's system time went from about 0.05 s to 0.15–0.5 s in about a third of the
//! runs, and the 200,050-object one's from about 0.5 s to 1.3–3.2 s in most runs (wall 1.85–1.91 s
//! against 2.41–3.35 s, three interleaved pairs). A half-used 2 MiB page also counts whole:
//! without them the 20,050-object check peaks at about 131 MiB instead of 170 MiB
//! (`/usr/bin/time` beside `MIMALLOC_ALLOW_THP=1`, README's Figures). The flag is inherited by
//! render children, which only lose the huge pages.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

/// Set (to anything) in a child's environment to make it use the system allocator.
pub const SYSTEM_ALLOCATOR_ENV: &str = "CLOBBERCHECK_SYSTEM_ALLOCATOR";

const UNDECIDED: u8 = 0;
const MIMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

/// The global allocator of the `clobbercheck` binary.
pub struct Allocator {
    choice: AtomicU8,
}

impl Allocator {
    /// Undecided until the first allocation.
    pub const fn new() -> Self {
        Self {
            choice: AtomicU8::new(UNDECIDED),
        }
    }

    fn use_system(&self) -> bool {
        match self.choice.load(Ordering::Relaxed) {
            MIMALLOC => false,
            SYSTEM => true,
            _ => {
                // SAFETY: getenv reads the environment without allocating; the name is a
                // NUL-terminated literal.
                let set =
                    unsafe { !libc::getenv(c"CLOBBERCHECK_SYSTEM_ALLOCATOR".as_ptr()).is_null() };
                if !set {
                    no_huge_pages();
                }
                self.choice
                    .store(if set { SYSTEM } else { MIMALLOC }, Ordering::Relaxed);
                set
            }
        }
    }
}

/// Turns transparent huge pages off for this process and its children, unless the environment
/// sets `MIMALLOC_ALLOW_THP` (see the module's doc). Makes one system call and allocates nothing;
/// a kernel without the `prctl` leaves pages as they were. Other systems have no such switch, and
/// nothing is done there.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: getenv reads the environment without allocating; the name is a NUL-terminated
    // literal. PR_SET_THP_DISABLE takes an integer and touches no memory of ours.
    unsafe {
        if libc::getenv(c"MIMALLOC_ALLOW_THP".as_ptr()).is_null() {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

impl Default for Allocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call forwards to one of two correct allocators, and the choice never changes
// after the first allocation, so each block is freed by the allocator that made it.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.use_system() {
            unsafe { System.alloc(layout) }
        } else {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.use_system() {
            unsafe { System.dealloc(ptr, layout) }
        } else {
            unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.use_system() {
            unsafe { System.alloc_zeroed(layout) }
        } else {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.use_system() {
            unsafe { System.realloc(ptr, layout, new_size) }
        } else {
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// What the binary's first allocation does when it picks mimalloc: the kernel then reports
    /// transparent huge pages off for the process (`THP_enabled`, Linux 5.0 and later).
    #[test]
    fn choosing_mimalloc_turns_transparent_huge_pages_off() {
        use std::io::Write;
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            let why = "MIMALLOC_ALLOW_THP is set, which leaves huge pages to mimalloc";
            // As tests/common/mod.rs's skips: a failure where every test must run.
            if std::env::var_os("CLOBBERCHECK_REQUIRE_ALL").is_some_and(|v| !v.is_empty()) {
                panic!("cannot run: {why} (CLOBBERCHECK_REQUIRE_ALL is set)");
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED choosing_mimalloc_turns_transparent_huge_pages_off: {why}"
            );
            return;
        }
        super::no_huge_pages();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(
            status.lines().any(|l| l == "THP_enabled:\t0"),
            "THP_enabled in {status}"
        );
    }
}
