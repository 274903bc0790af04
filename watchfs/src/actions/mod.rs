//! What watchfs does when a watched file's content changes.

pub mod command;
pub mod http;
pub mod signal;

use std::ffi::OsString;
use std::path::PathBuf;

/// Name of the environment variable that carries the changed paths (one per
/// line) to the command and the check.
pub const CHANGED_VAR: &str = "WATCHFS_CHANGED";

/// The value of [`CHANGED_VAR`] for these paths: one per line, each as it
/// is, except that a path holding a newline or starting with `'` is written
/// shell-quoted (as in the printed output), so a name can never split into
/// two lines that name other files.
pub fn changed_env(changed: &[PathBuf]) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    let mut value = OsString::new();
    for (i, path) in changed.iter().enumerate() {
        if i > 0 {
            value.push("\n");
        }
        let bytes = path.as_os_str().as_bytes();
        if bytes.contains(&b'\n') || bytes.starts_with(b"'") {
            value.push(crate::quote::quote(path.as_os_str()).as_ref());
        } else {
            value.push(path.as_os_str());
        }
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
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

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

    #[test]
    fn a_name_with_a_newline_stays_on_one_line() {
        let evil = PathBuf::from("d/evil\nd/fake");
        let plain = PathBuf::from("d/app.yml");
        let odd = PathBuf::from(std::ffi::OsStr::from_bytes(b"d/bad\xff"));
        let value = changed_env(&[evil, plain, odd]).into_vec();
        let lines: Vec<&[u8]> = value.split(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 3, "{:?}", String::from_utf8_lossy(&value));
        assert_eq!(lines[0], b"'d/evil'$'\\n''d/fake'");
        assert_eq!(lines[1], b"d/app.yml");
        // Bytes that are not UTF-8 pass through exactly.
        assert_eq!(lines[2], b"d/bad\xff");
    }

    #[test]
    fn a_leading_quote_is_quoted_so_it_cannot_pass_for_a_quoted_name() {
        let value = changed_env(&[PathBuf::from("'x'")]);
        assert_ne!(value.as_bytes(), b"'x'");
    }
}
