//! `-- COMMAND`: a child process per change, with an `--on-busy` policy.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use super::{CHANGED_VAR, changed_env};
use crate::args::OnBusy;

/// How long a command may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Builds a [`Command`] from argv, through `sh -c` when `shell` is set.
pub fn build(argv: &[OsString], shell: bool) -> Command {
    let mut command = if shell {
        let mut command = Command::new("sh");
        command.arg("-c").args(argv);
        command
    } else {
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
    };
    // Its own process group, so that a restart or shutdown reaches the
    // command's children too (a shell pipeline, a server it started).
    command.process_group(0);
    command
}

/// A finished run of the command.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether watchfs stopped it (restart or shutdown).
    pub stopped: bool,
}

/// Describes an exit status for a log line.
pub fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".into(),
    }
}

/// Runs the command, one child at a time.
#[derive(Debug)]
pub struct CommandRunner {
    argv: Vec<OsString>,
    shell: bool,
    on_busy: OnBusy,
    running: Option<Child>,
    /// Paths changed while the command ran (`--on-busy queue`).
    queued: Option<Vec<PathBuf>>,
    /// Runs that ended and were not yet reported by `poll`.
    finished: Vec<Finished>,
}

/// What [`CommandRunner::trigger`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Triggered {
    /// A new run started (with `restart`, after stopping the previous one).
    Started,
    /// A run is going on; this change runs after it.
    Queued,
    /// A run is going on; this change was dropped.
    Ignored,
}

impl CommandRunner {
    /// A runner for `argv` (non-empty).
    pub fn new(argv: Vec<OsString>, shell: bool, on_busy: OnBusy) -> CommandRunner {
        CommandRunner {
            argv,
            shell,
            on_busy,
            running: None,
            queued: None,
            finished: Vec::new(),
        }
    }

    /// Whether a run is going on.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Whether a run is going on or queued.
    #[cfg(test)]
    pub fn is_busy(&self) -> bool {
        self.running.is_some() || self.queued.is_some()
    }

    /// Reacts to a change of `changed` according to the `--on-busy` policy.
    pub fn trigger(&mut self, changed: &[PathBuf]) -> io::Result<Triggered> {
        self.reap()?;
        if self.running.is_none() {
            self.start(changed)?;
            return Ok(Triggered::Started);
        }
        match self.on_busy {
            OnBusy::Ignore => Ok(Triggered::Ignored),
            OnBusy::Queue => {
                let queued = self.queued.get_or_insert_with(Vec::new);
                for path in changed {
                    if !queued.contains(path) {
                        queued.push(path.clone());
                    }
                }
                Ok(Triggered::Queued)
            }
            OnBusy::Restart => {
                self.stop()?;
                self.start(changed)?;
                Ok(Triggered::Started)
            }
        }
    }

    /// Returns the runs that ended since the last call, and starts the
    /// queued run once the current one has ended.
    pub fn poll(&mut self) -> io::Result<Vec<Finished>> {
        self.reap()?;
        if self.running.is_none()
            && let Some(queued) = self.queued.take()
        {
            self.start(&queued)?;
        }
        Ok(std::mem::take(&mut self.finished))
    }

    /// Stops the running command, if any: SIGTERM to its process group,
    /// then SIGKILL after a grace period. Drops any queued run.
    pub fn stop(&mut self) -> io::Result<()> {
        self.queued = None;
        let Some(mut child) = self.running.take() else {
            return Ok(());
        };
        let group = Pid::from_raw(child.id() as i32);
        if let Some(pid) = group {
            // The group may already be gone; the wait below tells.
            let _ = kill_process_group(pid, Signal::TERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                if let Some(pid) = group {
                    let _ = kill_process_group(pid, Signal::KILL);
                }
                break child.wait()?;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.finished.push(Finished {
            status,
            stopped: true,
        });
        Ok(())
    }

    /// Waits until the running command and any queued run have finished.
    #[cfg(test)]
    pub fn wait(&mut self) -> io::Result<Vec<Finished>> {
        while let Some(child) = self.running.as_mut() {
            let status = child.wait()?;
            self.running = None;
            self.finished.push(Finished {
                status,
                stopped: false,
            });
            if let Some(queued) = self.queued.take() {
                self.start(&queued)?;
            }
        }
        Ok(std::mem::take(&mut self.finished))
    }

    fn reap(&mut self) -> io::Result<()> {
        if let Some(child) = self.running.as_mut()
            && let Some(status) = child.try_wait()?
        {
            self.running = None;
            self.finished.push(Finished {
                status,
                stopped: false,
            });
        }
        Ok(())
    }

    fn start(&mut self, changed: &[PathBuf]) -> io::Result<()> {
        let child = build(&self.argv, self.shell)
            .env(CHANGED_VAR, changed_env(changed))
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot run {}: {e}", self.argv[0].to_string_lossy()),
                )
            })?;
        self.running = Some(child);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use test_support::TempDir;

    fn sh(script: &str) -> Vec<OsString> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn command_gets_changed_paths_and_exit_status() {
        let dir = TempDir::new("watchfs-unit");
        let out = dir.path().join("out");
        let script = format!(
            "printf '%s' \"$WATCHFS_CHANGED\" > '{}'; exit 3",
            out.display()
        );
        let mut runner = CommandRunner::new(sh(&script), false, OnBusy::Queue);
        let changed = [PathBuf::from("a"), PathBuf::from("b c")];
        assert_eq!(runner.trigger(&changed).unwrap(), Triggered::Started);
        let finished = runner.wait().unwrap();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].status.code(), Some(3));
        assert_eq!(fs::read_to_string(&out).unwrap(), "a\nb c");
    }

    #[test]
    fn busy_policies() {
        // `sleep 30` stays busy until the runner stops it.
        let mut ignore = CommandRunner::new(sh("sleep 30"), false, OnBusy::Ignore);
        ignore.trigger(&[]).unwrap();
        assert_eq!(ignore.trigger(&[]).unwrap(), Triggered::Ignored);
        ignore.stop().unwrap();
        let finished = ignore.poll().unwrap();
        assert!(finished.len() == 1 && finished[0].stopped);
        assert!(!ignore.is_busy());

        let mut queue = CommandRunner::new(sh("sleep 30"), false, OnBusy::Queue);
        queue.trigger(&[PathBuf::from("x")]).unwrap();
        assert_eq!(queue.trigger(&[]).unwrap(), Triggered::Queued);
        assert!(queue.is_busy());
        queue.stop().unwrap();
        assert!(!queue.is_busy(), "stop drops the queued run");

        let mut restart = CommandRunner::new(sh("sleep 30"), false, OnBusy::Restart);
        restart.trigger(&[]).unwrap();
        assert_eq!(restart.trigger(&[]).unwrap(), Triggered::Started);
        let stopped = restart.poll().unwrap();
        assert_eq!(stopped.len(), 1);
        assert_eq!(stopped[0].status.signal(), Some(Signal::TERM.as_raw()));
        assert!(restart.is_busy(), "the new run is going on");
        restart.stop().unwrap();
    }

    #[test]
    fn queued_run_starts_when_the_first_ends() {
        let dir = TempDir::new("watchfs-unit");
        let log = dir.path().join("log");
        let script = format!("echo \"$WATCHFS_CHANGED\" >> '{}'", log.display());
        let mut runner = CommandRunner::new(sh(&script), false, OnBusy::Queue);
        runner.trigger(&[PathBuf::from("first")]).unwrap();
        runner.trigger(&[PathBuf::from("second")]).unwrap();
        runner.trigger(&[PathBuf::from("third")]).unwrap();
        runner.wait().unwrap();
        let text = fs::read_to_string(&log).unwrap();
        // Either the first run finished before the others were triggered,
        // or they were merged into one queued run; nothing is lost.
        assert!(text.starts_with("first\n"), "{text}");
        assert!(text.contains("second") && text.contains("third"), "{text}");
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let mut runner =
            CommandRunner::new(vec!["./no-such-program-here".into()], false, OnBusy::Queue);
        let err = runner.trigger(&[]).unwrap_err();
        assert!(err.to_string().contains("no-such-program-here"), "{err}");
    }

    #[test]
    fn shell_mode_runs_one_string() {
        let mut runner = CommandRunner::new(vec!["exit 7".into()], true, OnBusy::Queue);
        runner.trigger(&[]).unwrap();
        assert_eq!(runner.wait().unwrap()[0].status.code(), Some(7));
    }
}
