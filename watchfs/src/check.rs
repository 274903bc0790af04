//! `--check COMMAND`: validation before the action.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::actions::{CHANGED_VAR, changed_env, command};

/// A validation command such as `promtool check config prometheus.yml`.
#[derive(Debug)]
pub struct Check {
    argv: Vec<OsString>,
    shell: bool,
    text: String,
}

/// How a check ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Passed,
    /// It failed; a message with its own output, which usually says why.
    Failed(String),
    /// watchfs is stopping: the check's process group was killed.
    Stopped,
}

/// How long a stopped check may take to go after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_millis(200);

/// How long the output of a finished check is waited for (a background
/// process it left behind may hold the pipes open).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Most bytes of each output stream kept for the failure message.
const OUTPUT_KEPT: usize = 16 * 1024;

impl Check {
    /// Parses the `--check` string: one `sh -c` string with `shell`,
    /// otherwise split into words (quotes and backslashes as in sh, no
    /// expansions). Without `shell`, unquoted shell syntax (`>`, `|`, `&&`,
    /// `;`, `$VAR`, backquotes, `*`) and a program not found on PATH are
    /// refused with a hint.
    pub fn new(text: &str, shell: bool) -> Result<Check, String> {
        let argv: Vec<OsString> = if shell {
            vec![OsString::from(text)]
        } else {
            if let Some(syntax) = shell_syntax(text) {
                return Err(format!(
                    "--check '{text}': {syntax} is shell syntax, but the check runs without a \
                     shell\nhint: add --shell to run it with sh -c, or quote the {syntax}"
                ));
            }
            split_words(text)?.into_iter().map(OsString::from).collect()
        };
        if argv.is_empty() {
            return Err("--check: empty command".into());
        }
        if !shell {
            find_program(&argv[0]).map_err(|e| format!("--check '{text}': {e}"))?;
        }
        Ok(Check {
            argv,
            shell,
            text: text.to_string(),
        })
    }

    /// The command as given, for log lines.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Runs the check and waits for it, or until `should_stop` says so:
    /// then its process group is killed (SIGTERM, SIGKILL shortly after).
    pub fn run(&self, changed: &[PathBuf], should_stop: &dyn Fn() -> bool) -> Outcome {
        let mut command = command::build(&self.argv, self.shell);
        let spawned = command
            .env(CHANGED_VAR, changed_env(changed))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return Outcome::Failed(format!("check '{}' could not run: {e}", self.text)),
        };
        let (out_tx, out_rx) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .enumerate()
        {
            let (i, Some(mut stream)) = stream else {
                continue;
            };
            let tx = out_tx.clone();
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let room = OUTPUT_KEPT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                let _ = tx.send((i, kept));
            });
        }
        drop(out_tx);
        let group = Pid::from_raw(child.id() as i32);
        let (status_tx, status_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = status_tx.send(child.wait());
        });
        let status = loop {
            match status_rx.recv_timeout(Duration::from_millis(10)) {
                Ok(status) => break status,
                Err(RecvTimeoutError::Disconnected) => {
                    return Outcome::Failed(format!("check '{}': lost track of it", self.text));
                }
                Err(RecvTimeoutError::Timeout) if should_stop() => {
                    if let Some(pid) = group {
                        // The group may be gone already; the wait tells.
                        let _ = kill_process_group(pid, Signal::TERM);
                        if status_rx.recv_timeout(STOP_GRACE).is_err() {
                            let _ = kill_process_group(pid, Signal::KILL);
                            let _ = status_rx.recv_timeout(STOP_GRACE);
                        }
                    }
                    return Outcome::Stopped;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        let status = match status {
            Ok(status) => status,
            Err(e) => return Outcome::Failed(format!("check '{}': {e}", self.text)),
        };
        let mut outputs = [Vec::new(), Vec::new()];
        let deadline = Instant::now() + OUTPUT_GRACE;
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match out_rx.recv_timeout(left) {
                Ok((i, kept)) => outputs[i] = kept,
                Err(_) => break,
            }
        }
        if status.success() {
            return Outcome::Passed;
        }
        let mut message = format!(
            "check '{}' failed ({})",
            self.text,
            command::describe_status(&status)
        );
        for stream in &outputs {
            let text = String::from_utf8_lossy(stream);
            let text = text.trim_end();
            if !text.is_empty() {
                message.push('\n');
                message.push_str(text);
            }
        }
        Outcome::Failed(message)
    }
}

/// Finds `program` as exec would (on PATH, or as a path when it has a
/// `/`); the error says what to do.
pub fn find_program(program: &OsStr) -> Result<PathBuf, String> {
    which::which(program).map_err(|_| {
        let name = program.to_string_lossy();
        if name.contains('/') {
            format!("program '{name}' not found or not executable\nhint: check the path")
        } else {
            format!(
                "program '{name}' not found on PATH\nhint: install it, give its full path, \
                 or use --shell for a shell builtin"
            )
        }
    })
}

/// The first unquoted shell operator or expansion in `text`, if any.
pub fn shell_syntax(text: &str) -> Option<String> {
    let mut chars = text.chars().peekable();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                }
                word_start = false;
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        '$' | '`' => return Some(format!("'{c}' (inside double quotes)")),
                        _ => {}
                    }
                }
                word_start = false;
            }
            '\\' => {
                chars.next();
                word_start = false;
            }
            '|' | '&' | ';' | '<' | '>' => {
                let mut op = c.to_string();
                if let Some(&next) = chars.peek()
                    && matches!(next, '|' | '&' | '>')
                {
                    op.push(next);
                }
                return Some(format!("'{op}'"));
            }
            '`' => return Some("'`' (command substitution)".into()),
            '$' => {
                if let Some(&next) = chars.peek()
                    && (next.is_ascii_alphanumeric() || matches!(next, '_' | '{' | '(' | '?'))
                {
                    return Some(format!("'${next}' (an expansion)"));
                }
                word_start = false;
            }
            '*' => return Some("'*' (a glob)".into()),
            '~' if word_start => return Some("'~' (the home directory)".into()),
            c if c.is_whitespace() => word_start = true,
            _ => word_start = false,
        }
    }
    None
}

/// Splits a command line into words like sh does for quoting ('...',
/// "...", backslash), without any expansion.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed ' in {text:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unclosed \" in {text:?}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unclosed \" in {text:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing backslash in {text:?}")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_sh() {
        assert_eq!(
            split_words("promtool check config prometheus.yml").unwrap(),
            ["promtool", "check", "config", "prometheus.yml"]
        );
        assert_eq!(
            split_words(r#"a 'b c' "d \"e\"" f\ g ''"#).unwrap(),
            ["a", "b c", "d \"e\"", "f g", ""]
        );
        assert!(split_words("'open").is_err());
        assert!(split_words("\"open").is_err());
        assert!(split_words("end\\").is_err());
        assert!(split_words("  ").unwrap().is_empty());
    }

    #[test]
    fn passing_and_failing_checks() {
        let never = || false;
        assert_eq!(
            Check::new("true", false).unwrap().run(&[], &never),
            Outcome::Passed
        );
        let failing = Check::new("sh -c 'echo bad config >&2; exit 4'", false).unwrap();
        let Outcome::Failed(message) = failing.run(&[], &never) else {
            panic!("the check passed");
        };
        assert!(message.contains("exit status 4"), "{message}");
        assert!(message.contains("bad config"), "{message}");
        assert!(Check::new("  ", false).is_err());
    }

    #[test]
    fn check_sees_changed_paths() {
        let never = || false;
        let check = Check::new("test \"$WATCHFS_CHANGED\" = x", true).unwrap();
        assert_eq!(check.run(&[PathBuf::from("x")], &never), Outcome::Passed);
        assert!(matches!(
            check.run(&[PathBuf::from("y")], &never),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn a_missing_program_is_refused_up_front() {
        let message = Check::new("./no-such-checker", false).unwrap_err();
        assert!(message.contains("not found"), "{message}");
        let message = Check::new("no-such-checker-on-path --flag", false).unwrap_err();
        assert!(message.contains("not found on PATH"), "{message}");
        assert!(message.contains("hint:"), "{message}");
        // With --shell, sh finds (or not) the program at run time.
        assert!(Check::new("no-such-checker-on-path", true).is_ok());
    }

    #[test]
    fn shell_syntax_without_shell_is_refused_with_a_hint() {
        for text in [
            "promtool check config a.yml > /dev/null",
            "a && b",
            "a | b",
            "a; b",
            "echo $HOME",
            "echo ${X}",
            "echo $(id)",
            "echo `id`",
            "cat rules/*.yml",
            "cat ~/x",
            "echo \"$HOME\"",
        ] {
            let message = Check::new(text, false).unwrap_err();
            assert!(message.contains("--shell"), "{text}: {message}");
        }
        for text in [
            "grep -q '>' file",
            "grep -q '$HOME' file",
            "echo a\\|b",
            "echo price=5$",
            "test a~b",
        ] {
            assert_eq!(shell_syntax(text), None, "{text}");
        }
        assert!(Check::new("true > /dev/null", true).is_ok());
    }

    #[test]
    fn a_stopped_check_is_killed_with_its_children() {
        let dir = test_support::TempDir::new("watchfs-unit");
        let pids = dir.path().join("pids");
        // The check and a child of it; both must be gone after a stop.
        let script = format!(
            "sleep 60 & echo $! > '{0}'; echo $$ >> '{0}'; wait",
            pids.display()
        );
        let check = Check::new(&script, true).unwrap();
        let started = std::time::Instant::now();
        let outcome = check.run(&[], &|| {
            std::fs::read_to_string(&pids).is_ok_and(|t| t.lines().count() == 2)
        });
        assert_eq!(outcome, Outcome::Stopped);
        assert!(started.elapsed() < Duration::from_secs(10));
        for pid in std::fs::read_to_string(&pids).unwrap().lines() {
            // Gone, or a zombie waiting for whoever inherited it (the
            // signal may still be on its way: wait for it, with a bound).
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit(") ")
                    .next()
                    .and_then(|rest| rest.chars().next());
                if matches!(state, None | Some('Z') | Some('X')) {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "pid {pid} outlived the stop: {stat}"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
