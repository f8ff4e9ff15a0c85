//! Running untrusted renders where they can be stopped.
//!
//! Every render (our own jsonnet child, kustomize, helm) runs as a child process in its own
//! process group, with a cleared environment (nothing of the server's: no installation token, no
//! private key, no webhook secret), a working directory of its own (the temporary export of the
//! revision for tools, an empty private folder for jsonnet), `RLIMIT_AS` (memory), `RLIMIT_CPU` (a backstop),
//! no core dumps, and a wall-clock watchdog that kills the whole group at the timeout. Output is
//! read with a size cap and stderr is kept bounded. Whatever the child does — loop forever,
//! allocate without end, overflow its stack — the parent sees a dead child and reports a
//! `render-error` for that one target, while the process and every other target carry on.
//!
//! This module also holds the framing of the jsonnet child's pipe protocol ([`Frame`]).

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::thread::JoinHandle;

use super::Limits;

/// How much of a child's stderr is kept for error messages.
const STDERR_KEEP: usize = 16 * 1024;

/// One message of the jsonnet child's protocol: a tag byte, a little-endian `u32` length, the
/// payload. Parent → child: `Request`, then `Found`/`Missing`/`Refused` answers; child →
/// parent: `Read` questions, then one `Output` or `Failed`.
#[derive(Debug)]
pub(crate) enum Frame {
    /// The evaluation request (JSON).
    Request(Vec<u8>),
    /// Import candidates, first match wins (JSON array of paths).
    Read(Vec<u8>),
    /// The resolved path and the file's bytes (see [`encode_found`]).
    Found(Vec<u8>),
    /// None of the candidates exists in the revision.
    Missing,
    /// A candidate points outside the revision; the payload says why.
    Refused(Vec<u8>),
    /// The manifested JSON.
    Output(Vec<u8>),
    /// An evaluation failure (JSON).
    Failed(Vec<u8>),
}

impl Frame {
    fn parts(&self) -> (u8, &[u8]) {
        match self {
            Frame::Request(p) => (b'Q', p),
            Frame::Read(p) => (b'R', p),
            Frame::Found(p) => (b'F', p),
            Frame::Missing => (b'N', &[]),
            Frame::Refused(p) => (b'E', p),
            Frame::Output(p) => (b'O', p),
            Frame::Failed(p) => (b'X', p),
        }
    }
}

/// Writes one frame and flushes.
pub(crate) fn write_frame(writer: &mut impl Write, frame: &Frame) -> io::Result<()> {
    let (tag, payload) = frame.parts();
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::FileTooLarge, "frame above 4 GiB"))?;
    writer.write_all(&[tag])?;
    writer.write_all(&len.to_le_bytes())?;
    writer.write_all(payload)?;
    writer.flush()
}

/// Reads one frame; a payload above `max_len` is refused with `ErrorKind::FileTooLarge`
/// before it is read.
pub(crate) fn read_frame(reader: &mut impl Read, max_len: u64) -> io::Result<Frame> {
    let mut header = [0u8; 5];
    reader.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    if u64::from(len) > max_len {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{len} bytes, above the limit of {max_len} bytes"),
        ));
    }
    let mut payload = vec![0u8; len as usize];
    reader.read_exact(&mut payload)?;
    Ok(match header[0] {
        b'Q' => Frame::Request(payload),
        b'R' => Frame::Read(payload),
        b'F' => Frame::Found(payload),
        b'N' => Frame::Missing,
        b'E' => Frame::Refused(payload),
        b'O' => Frame::Output(payload),
        b'X' => Frame::Failed(payload),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown frame tag {other:#x}"),
            ));
        }
    })
}

/// Payload of a [`Frame::Found`]: path length, path, bytes.
pub(crate) fn encode_found(path: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + path.len() + bytes.len());
    out.extend_from_slice(&(path.len() as u32).to_le_bytes());
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Inverse of [`encode_found`].
pub(crate) fn split_found(mut payload: Vec<u8>) -> Option<(String, Vec<u8>)> {
    let len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    let path = String::from_utf8(payload.get(4..4 + len)?.to_vec()).ok()?;
    let bytes = payload.split_off(4 + len);
    Some((path, bytes))
}

/// A running sandboxed child.
pub(crate) struct Sandboxed {
    pub child: Child,
    watchdog: Option<(mpsc::Sender<()>, JoinHandle<bool>)>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    limits: Limits,
}

/// How a sandboxed child ended.
pub(crate) struct Finished {
    pub status: Option<ExitStatus>,
    pub timed_out: bool,
    pub stderr: String,
    limits: Limits,
}

/// Who sets the rlimits of a sandboxed child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// Set between fork and exec: for external tools, which cannot limit themselves.
    PreExec,
    /// Our own jsonnet child sets them on itself ([`apply_own_limits`]) before it reads any
    /// input. Without a pre-exec hook the standard library can use `posix_spawn` instead of
    /// `fork`, which matters when a parent holding gigabytes of objects starts hundreds of
    /// children: fork copies its page tables each time.
    SelfApplied,
}

/// The CPU-time backstop for a given wall-clock timeout.
pub(crate) fn cpu_seconds(limits: &Limits) -> u64 {
    limits.timeout.as_secs() + 1
}

/// Limits the calling process: no core dumps, `memory` bytes of address space, `cpu` seconds of
/// CPU time. Called first thing by the jsonnet child, before any untrusted input is read.
pub(crate) fn apply_own_limits(memory: u64, cpu: u64) -> io::Result<()> {
    set_limit(libc::RLIMIT_CORE, 0)?;
    set_limit(libc::RLIMIT_AS, memory)?;
    set_limit(libc::RLIMIT_CPU, cpu)
}

/// Starts `command` under the limits. The environment must already be set by the caller
/// (cleared, then only what the tool needs); stdin, stdout and stderr are piped.
pub(crate) fn spawn(
    command: &mut Command,
    limits: Limits,
    confinement: Confinement,
) -> io::Result<Sandboxed> {
    let memory = limits.memory_bytes;
    let cpu = cpu_seconds(&limits);
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0);
    if confinement == Confinement::PreExec {
        // SAFETY: the closure runs in the forked child before exec and only calls unshare and
        // setrlimit, which are async-signal-safe; it allocates nothing and touches no lock.
        unsafe {
            command.pre_exec(move || {
                isolate_network();
                apply_own_limits(memory, cpu)
            });
        }
    }
    let mut child = command.spawn()?;
    let pid = child.id();
    let (stop, stopped) = mpsc::channel::<()>();
    let timeout = limits.timeout;
    let watchdog = std::thread::Builder::new()
        .name("render-watchdog".into())
        .spawn(move || match stopped.recv_timeout(timeout) {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                kill_group(pid);
                true
            }
            _ => false,
        });
    let watchdog = match watchdog {
        Ok(handle) => handle,
        Err(e) => {
            kill_group(pid);
            let _ = child.wait();
            return Err(e);
        }
    };
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = STDERR_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            kept
        })
    });
    Ok(Sandboxed {
        child,
        watchdog: Some((stop, watchdog)),
        stderr,
        limits,
    })
}

/// Moves the calling child (forked, single-threaded, not yet exec'd) into a network namespace
/// of its own, where no interface is up, not even loopback: an external tool can reach no host,
/// including services on this machine's loopback, which the proxy settings do not cover (Go
/// programs such as kustomize never proxy loopback addresses). Needs CAP_SYS_ADMIN or
/// unprivileged user namespaces; where the kernel allows neither, the proxies stay the guard.
fn isolate_network() {
    // SAFETY: unshare only changes this process's namespaces; failure leaves it as it was.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET);
        }
    }
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: setrlimit reads the struct we pass and nothing else.
    if unsafe { libc::setrlimit(resource, &limit) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Kills the child's whole process group (a tool's own children included).
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: plain syscall; the group is ours and not yet reaped (we wait after stopping
        // the watchdog), so the id cannot have been reused.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

impl Sandboxed {
    /// Kills the child now (output too large, protocol error).
    pub fn kill(&mut self) {
        kill_group(self.child.id());
    }

    /// Stops the watchdog, reaps the child and collects its stderr.
    pub fn finish(mut self) -> Finished {
        drop(self.child.stdin.take());
        let timed_out = match self.watchdog.take() {
            Some((stop, handle)) => {
                let _ = stop.send(());
                handle.join().unwrap_or(false)
            }
            None => false,
        };
        let status = self.child.wait().ok();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        Finished {
            status,
            timed_out,
            stderr,
            limits: self.limits,
        }
    }
}

impl Finished {
    /// Why the child ended without a usable result, in words a user can act on.
    pub fn describe(&self, what: &str) -> String {
        let stderr = self.stderr.trim();
        if self.timed_out {
            return format!(
                "{what} timed out after {} s (render_limits.timeout_seconds); an infinite loop?",
                self.limits.timeout.as_secs()
            );
        }
        let signal = self.status.and_then(|s| s.signal());
        if signal == Some(libc::SIGXCPU) {
            return format!(
                "{what} used more than {} s of CPU time and was stopped",
                self.limits.timeout.as_secs() + 1
            );
        }
        if stderr.contains("memory allocation of")
            || stderr.contains("out of memory")
            || stderr.contains("cannot allocate memory")
        {
            return format!(
                "{what} exceeded the memory limit of {} MiB (render_limits.memory_mib)",
                self.limits.memory_bytes >> 20
            );
        }
        if stderr.contains("overflowed its stack") {
            return format!("{what} overflowed its native stack: nesting or recursion too deep");
        }
        let how = match (self.status.and_then(|s| s.code()), signal) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "ended in an unknown way".to_string(),
        };
        let tail: String = stderr
            .lines()
            .rev()
            .take(6)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        if tail.is_empty() {
            format!("{what} {how}")
        } else {
            format!("{what} {how}: {tail}")
        }
    }

    /// Whether the child exited with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_respect_the_limit() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Frame::Found(encode_found("a/b.jsonnet", b"{}"))).unwrap();
        write_frame(&mut buf, &Frame::Missing).unwrap();
        let mut reader = &buf[..];
        let Frame::Found(payload) = read_frame(&mut reader, 100).unwrap() else {
            panic!("found expected")
        };
        assert_eq!(
            split_found(payload),
            Some(("a/b.jsonnet".to_string(), b"{}".to_vec()))
        );
        assert!(matches!(
            read_frame(&mut reader, 100).unwrap(),
            Frame::Missing
        ));
        let mut big = Vec::new();
        write_frame(&mut big, &Frame::Output(vec![b'x'; 50])).unwrap();
        let err = read_frame(&mut &big[..], 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    }

    #[test]
    fn a_sleeping_child_is_killed_at_the_timeout() {
        let limits = Limits {
            timeout: std::time::Duration::from_millis(300),
            ..Limits::default()
        };
        let mut command = Command::new("/bin/sleep");
        command.arg("30").env_clear();
        let started = std::time::Instant::now();
        let finished = spawn(&mut command, limits, Confinement::PreExec)
            .unwrap()
            .finish_after_exit();
        assert!(finished.timed_out);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(finished.describe("sleep").contains("timed out after 0 s"));
    }

    impl Sandboxed {
        /// Waits for the child to end by itself (or by the watchdog) before finishing.
        fn finish_after_exit(mut self) -> Finished {
            let _ = self.child.wait();
            self.finish()
        }
    }
}
