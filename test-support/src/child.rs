//! Running one test again in a child process under a forced fault (a lower
//! `RLIMIT_NOFILE`, a user namespace with lower inotify limits, an
//! unprivileged user), and asking the kernel (`/proc`, so Linux) what a
//! process or a thread is doing.
//!
//! The pattern: the test calls [`rerun`] with a wrapper that applies the
//! fault; in the child, [`in_child`] holds, the test does its checks and
//! prints [`CHILD_OK`] at the end.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Set (to the test's name) in the child that `rerun` starts.
pub const CHILD_ENV: &str = "WATCHFS_RELIABILITY_CHILD";
/// A path handed from the parent test to its child.
pub const DIR_ENV: &str = "WATCHFS_RELIABILITY_DIR";
/// Printed by a child that ran its checks to the end.
pub const CHILD_OK: &str = "reliability-child-ok";

/// True in the child process that `rerun(test, ..)` started.
pub fn in_child(test: &str) -> bool {
    std::env::var_os(CHILD_ENV).is_some_and(|v| v == test)
}

/// Runs test `test` of this test binary again, as `wrapper... <exe> <test>
/// --exact --nocapture --test-threads=1`, with [`CHILD_ENV`] set to `test`
/// and `envs` set, and returns its output, whatever it says. An error when
/// the child cannot be started.
pub fn run_again(test: &str, wrapper: &[&OsStr], envs: &[(&str, &OsStr)]) -> io::Result<Output> {
    let exe = std::env::current_exe()?;
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output()
}

/// [`run_again`], asserting the verdict: panics unless the child exits
/// successfully after printing [`CHILD_OK`] (so a filter that matched
/// nothing fails too). Returns the child's stdout.
pub fn rerun(test: &str, wrapper: &[&OsStr], envs: &[(&str, &OsStr)]) -> String {
    let out = run_again(test, wrapper, envs)
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", wrapper.first()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(CHILD_OK),
        "child run of `{test}` failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// Runs `program` (a system tool such as `mount`) with `args`; its error
/// output when it fails.
pub fn run_tool(program: &str, args: &[&OsStr]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `unshare --user --map-root-user sh -c '<limits>; exec "$0" "$@"'`: a
/// wrapper that runs the child in a new user namespace whose inotify limits
/// (`/proc/sys/user/max_inotify_*`, per user namespace since Linux 5.11) are
/// lowered. Counts there start at zero, so the test neither sees nor
/// disturbs the instances and watches of other processes of the same user.
pub fn in_user_namespace(sysctl: &str, value: u64) -> Vec<OsString> {
    let script = format!("echo {value} > /proc/sys/user/{sysctl} && exec \"$0\" \"$@\"");
    ["unshare", "--user", "--map-root-user", "sh", "-c", &script]
        .iter()
        .map(Into::into)
        .collect()
}

/// A [`rerun`] wrapper that runs the child as `nobody` (user and group
/// 65534, no supplementary groups) with `setpriv`: root ignores permission
/// bits, so a test of them started by root checks as `nobody` instead.
pub fn as_nobody() -> Vec<&'static OsStr> {
    [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
    .map(OsStr::new)
    .to_vec()
}

/// [`as_nobody`] when this process runs as root, else no wrapper: what a
/// test of permission bits reruns itself under.
pub fn as_nobody_if_root() -> Vec<&'static OsStr> {
    if effective_uid() == 0 {
        as_nobody()
    } else {
        Vec::new()
    }
}

/// The effective user id, from `/proc/self/status`.
pub fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    line.split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .expect("effective uid")
}

/// The calling thread's kernel id, from the `/proc/thread-self` link.
pub fn current_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(OsStr::to_str)
        .and_then(|s| s.parse().ok())
        .expect("tid")
}

/// The system call thread `tid` of this process is blocked in, with its
/// first argument, or `None` while it runs.
pub fn blocked_syscall(tid: u32) -> Option<(libc::c_long, u64)> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let mut fields = text.split_whitespace();
    let nr = fields.next()?.parse().ok()?;
    let arg0 = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    Some((nr, arg0))
}

/// Polls `cond` until it holds; panics after a generous timeout (the wait
/// normally takes microseconds; the timeout is never the pass criterion).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

/// The descriptors of this process: (number, link target).
pub fn open_fds() -> Vec<(u32, String)> {
    fds_of("/proc/self/fd")
}

/// The descriptors listed in a `/proc/<pid>/fd` directory.
pub fn fds_of(dir: impl AsRef<Path>) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("fd dir").flatten() {
        let Some(n) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // The directory's own descriptor may be gone already.
        if let Ok(target) = std::fs::read_link(entry.path()) {
            out.push((n, target.to_string_lossy().into_owned()));
        }
    }
    out.sort();
    out
}
