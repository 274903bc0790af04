//! `--check COMMAND`: validation before the action.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;

use crate::actions::{CHANGED_VAR, changed_env, command};

/// A validation command such as `promtool check config prometheus.yml`.
#[derive(Debug)]
pub struct Check {
    argv: Vec<OsString>,
    shell: bool,
    text: String,
}

impl Check {
    /// Parses the `--check` string: one `sh -c` string with `shell`,
    /// otherwise split into words (quotes and backslashes as in sh, no
    /// expansions).
    pub fn new(text: &str, shell: bool) -> Result<Check, String> {
        let argv = if shell {
            vec![OsString::from(text)]
        } else {
            split_words(text)?.into_iter().map(OsString::from).collect()
        };
        if argv.is_empty() {
            return Err("--check: empty command".into());
        }
        Ok(Check {
            argv,
            shell,
            text: text.to_string(),
        })
    }

    /// Runs the check and waits for it. On failure returns a message with
    /// the command's own output, which usually says what is wrong.
    pub fn run(&self, changed: &[PathBuf]) -> Result<(), String> {
        let mut command = command::build(&self.argv, self.shell);
        let output = command
            .env(CHANGED_VAR, changed_env(changed))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("check '{}' could not run: {e}", self.text))?;
        if output.status.success() {
            return Ok(());
        }
        let mut message = format!(
            "check '{}' failed ({})",
            self.text,
            command::describe_status(&output.status)
        );
        for stream in [&output.stdout, &output.stderr] {
            let text = String::from_utf8_lossy(stream);
            let text = text.trim_end();
            if !text.is_empty() {
                message.push('\n');
                message.push_str(text);
            }
        }
        Err(message)
    }
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
        assert!(Check::new("true", false).unwrap().run(&[]).is_ok());
        let failing = Check::new("sh -c 'echo bad config >&2; exit 4'", false).unwrap();
        let message = failing.run(&[]).unwrap_err();
        assert!(message.contains("exit status 4"), "{message}");
        assert!(message.contains("bad config"), "{message}");
        assert!(Check::new("  ", false).is_err());
    }

    #[test]
    fn check_sees_changed_paths() {
        let check = Check::new("test \"$WATCHFS_CHANGED\" = x", true).unwrap();
        assert!(check.run(&[PathBuf::from("x")]).is_ok());
        assert!(check.run(&[PathBuf::from("y")]).is_err());
    }

    #[test]
    fn missing_program_is_reported() {
        let check = Check::new("./no-such-checker", false).unwrap();
        assert!(check.run(&[]).unwrap_err().contains("could not run"));
    }
}
