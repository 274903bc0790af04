//! The signal probe: signals delivered to the watcher's thread while it
//! blocks in `Watcher::read`, which must absorb the interrupted waits.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use watch_core::{Event, EventKind, Watcher};

use crate::Result;

/// Delivers SIGUSR1 to this (the watcher's) thread while it blocks in
/// `Watcher::read`. The handler (signal-hook: it only sets a flag) is
/// installed with `SA_RESTART`, which `poll(2)` ignores: each delivery makes
/// the wait fail with `EINTR`, which the watcher must absorb.
pub(super) struct SignalProbe {
    per_checkpoint: usize,
    handled: Arc<AtomicBool>,
    id: Option<signal_hook::SigId>,
}

impl SignalProbe {
    pub(super) fn install(per_checkpoint: usize) -> Result<SignalProbe> {
        let handled = Arc::new(AtomicBool::new(false));
        let id = if per_checkpoint > 0 && cfg!(target_os = "linux") {
            Some(signal_hook::flag::register(
                signal_hook::consts::SIGUSR1,
                Arc::clone(&handled),
            )?)
        } else {
            None
        };
        Ok(SignalProbe {
            per_checkpoint,
            handled,
            id,
        })
    }

    /// Runs one probe; returns the signals delivered while blocked.
    pub(super) fn run(
        &self,
        watcher: &mut Watcher,
        file: &Path,
        events: &mut Vec<Event>,
    ) -> std::result::Result<u64, String> {
        if self.id.is_none() {
            return Ok(0);
        }
        // This is the process's main thread: its thread id is the pid, and
        // a process-directed signal goes to it.
        let pid = std::process::id();
        let handled = Arc::clone(&self.handled);
        let (n, target) = (self.per_checkpoint, file.to_path_buf());
        let sender = std::thread::spawn(move || -> std::result::Result<u64, String> {
            let signalled = (|| {
                for _ in 0..n {
                    wait_for("the watcher to block in poll", || blocked_in_poll(pid))?;
                    handled.store(false, Ordering::SeqCst);
                    let status = std::process::Command::new("kill")
                        .args(["-USR1", &pid.to_string()])
                        .status()
                        .map_err(|e| format!("kill: {e}"))?;
                    if !status.success() {
                        return Err(format!("kill -USR1 {pid}: {status}"));
                    }
                    wait_for("the signal handler to run", || {
                        handled.load(Ordering::SeqCst)
                    })?;
                }
                wait_for("the watcher to block in poll again", || {
                    blocked_in_poll(pid)
                })
            })();
            // Always create the file, so the blocked read ends either way.
            fs::write(&target, b"probe").map_err(|e| format!("{}: {e}", target.display()))?;
            signalled.map(|()| n as u64)
        });
        let start = events.len();
        let outcome = loop {
            match watcher.read(events, Some(Duration::from_secs(600))) {
                Err(e) => break Err(format!("read failed under signals: {e}")),
                Ok(0) => break Err("read returned early with no event under signals".into()),
                Ok(_) => {
                    let found = events[start..]
                        .iter()
                        .any(|e| e.kind == EventKind::Created && e.path == file);
                    if found {
                        break Ok(());
                    }
                }
            }
        };
        let delivered = sender
            .join()
            .map_err(|_| "probe thread panicked".to_string())??;
        outcome?;
        let _ = fs::remove_file(file);
        Ok(delivered)
    }
}

impl Drop for SignalProbe {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Whether thread `tid` of this process is blocked in `poll`/`ppoll`.
fn blocked_in_poll(tid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(text) = fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
            return false;
        };
        let nr: Option<i64> = text.split_whitespace().next().and_then(|n| n.parse().ok());
        // A poll resumed after a signal that ran no handler shows up as
        // restart_syscall: still the same blocked wait.
        #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
        let polls = [libc::SYS_poll, libc::SYS_ppoll, libc::SYS_restart_syscall];
        #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
        let polls = [libc::SYS_ppoll, libc::SYS_restart_syscall];
        nr.is_some_and(|nr| polls.contains(&nr))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        false
    }
}

/// Polls `cond` until it holds, for at most a minute (normally microseconds).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> std::result::Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::yield_now();
    }
    Ok(())
}
