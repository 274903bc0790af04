//! `--signal SIG` to `--pid PID` or `--pidfile FILE`.
//!
//! Sending uses rustix (`kill_process`): a safe, maintained binding of
//! kill(2) without libc's `unsafe` and errno handling; signal-hook, used for
//! receiving, has no API for signalling another process.

use std::fs;
use std::path::PathBuf;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, kill_process};

/// Where the target process id comes from.
#[derive(Clone, Debug)]
pub enum Target {
    /// A fixed pid.
    Pid(i32),
    /// A pid file, read again before every signal (the service may restart).
    PidFile(PathBuf),
    /// The process running this executable, looked up before every signal
    /// (`--reload-method signal --process-executable-name NAME`).
    Executable(String),
}

/// Sends a signal to the target process.
#[derive(Debug)]
pub struct SignalAction {
    signal: Signal,
    target: Target,
}

impl SignalAction {
    /// A signal action.
    pub fn new(signal: Signal, target: Target) -> SignalAction {
        SignalAction { signal, target }
    }

    /// The signal's name, such as `SIGHUP`.
    pub fn signal_name(&self) -> String {
        let known = [
            (Signal::HUP, "SIGHUP"),
            (Signal::INT, "SIGINT"),
            (Signal::QUIT, "SIGQUIT"),
            (Signal::TERM, "SIGTERM"),
            (Signal::KILL, "SIGKILL"),
            (Signal::USR1, "SIGUSR1"),
            (Signal::USR2, "SIGUSR2"),
            (Signal::CONT, "SIGCONT"),
            (Signal::STOP, "SIGSTOP"),
            (Signal::ALARM, "SIGALRM"),
            (Signal::WINCH, "SIGWINCH"),
        ];
        known
            .iter()
            .find(|(signal, _)| *signal == self.signal)
            .map_or_else(
                || format!("signal {}", self.signal.as_raw()),
                |(_, name)| name.to_string(),
            )
    }

    /// Who gets the signal, for the startup line.
    pub fn target_description(&self) -> String {
        match &self.target {
            Target::Pid(pid) => format!("pid {pid}"),
            Target::PidFile(file) => format!("the pid in {}", file.display()),
            Target::Executable(name) => format!("the process named {name}"),
        }
    }

    /// Resolves the target and sends the signal; returns the pid reached.
    pub fn send(&self) -> Result<i32, String> {
        let raw = match &self.target {
            Target::Pid(pid) => *pid,
            Target::PidFile(file) => read_pidfile(file)?,
            Target::Executable(name) => crate::compat::find_process(name)?,
        };
        let pid = Pid::from_raw(raw).ok_or_else(|| format!("invalid pid {raw}"))?;
        kill_process(pid, self.signal).map_err(|errno| match errno {
            Errno::SRCH => format!("no process with pid {raw} (has the service stopped?)"),
            Errno::PERM => format!(
                "not permitted to signal pid {raw}; run watchfs as the same user as the service"
            ),
            other => format!("cannot signal pid {raw}: {other}"),
        })?;
        Ok(raw)
    }
}

fn read_pidfile(file: &PathBuf) -> Result<i32, String> {
    let text = fs::read_to_string(file)
        .map_err(|e| format!("cannot read pid file {}: {e}", file.display()))?;
    let first = text.lines().next().unwrap_or("").trim();
    match first.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(format!(
            "pid file {} does not start with a process id (found {first:?})",
            file.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TempDir;

    #[test]
    fn pidfile_errors_are_explained() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("svc.pid");
        let action = SignalAction::new(Signal::CONT, Target::PidFile(file.clone()));
        assert!(action.send().unwrap_err().contains("cannot read pid file"));
        fs::write(&file, "not-a-pid\n").unwrap();
        assert!(
            action
                .send()
                .unwrap_err()
                .contains("does not start with a process id")
        );
    }

    #[test]
    fn signal_reaches_a_live_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("pid");
        fs::write(&file, format!("{}\n", child.id())).unwrap();
        let action = SignalAction::new(Signal::TERM, Target::PidFile(file));
        assert_eq!(action.send(), Ok(child.id() as i32));
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(Signal::TERM.as_raw()));
    }

    #[test]
    fn missing_process_is_reported() {
        // Above any kernel's pid_max (at most 2^22), so never a live process.
        let action = SignalAction::new(Signal::CONT, Target::Pid(i32::MAX));
        let message = action.send().unwrap_err();
        assert!(message.contains("no process"), "{message}");
    }
}
