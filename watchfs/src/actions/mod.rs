//! What watchfs does when a watched file's content changes.

pub mod command;
pub mod http;
pub mod signal;

use std::ffi::OsString;
use std::path::PathBuf;

/// Name of the environment variable that carries the changed paths (one per
/// line) to the command and the check.
pub const CHANGED_VAR: &str = "WATCHFS_CHANGED";

/// The value of [`CHANGED_VAR`] for these paths.
pub fn changed_env(changed: &[PathBuf]) -> OsString {
    let mut value = OsString::new();
    for (i, path) in changed.iter().enumerate() {
        if i > 0 {
            value.push("\n");
        }
        value.push(path.as_os_str());
    }
    value
}

/// Short description of the changed paths for log lines.
pub fn describe(changed: &[PathBuf]) -> String {
    const SHOWN: usize = 3;
    let mut text = changed
        .iter()
        .take(SHOWN)
        // Quoted when needed, so a name cannot forge a log line.
        .map(|p| crate::quote::quote(p.as_os_str()).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    if changed.len() > SHOWN {
        text.push_str(&format!(" and {} more", changed.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_is_newline_separated() {
        let paths = [PathBuf::from("a b"), PathBuf::from("c")];
        assert_eq!(changed_env(&paths), OsString::from("a b\nc"));
        assert_eq!(changed_env(&[]), OsString::new());
    }

    #[test]
    fn description_is_bounded() {
        let paths: Vec<PathBuf> = (0..5).map(|i| PathBuf::from(format!("f{i}"))).collect();
        assert_eq!(describe(&paths), "f0, f1, f2 and 2 more");
        assert_eq!(describe(&paths[..1]), "f0");
        let evil = [PathBuf::from("a\nwatchfs: error: fake")];
        assert_eq!(describe(&evil), "'a'$'\\n''watchfs: error: fake'");
    }
}
