//! Quoting names so that printed output cannot be spoofed or lose a name.
//!
//! A file may be called `evil<newline>created  fake`, hold bytes that are
//! not UTF-8, or carry terminal escapes and bidirectional overrides. Printed
//! as they are, such names forge lines and collapse distinct names into one
//! (`bad\xff` and `bad\xfe` would both print as `bad\u{FFFD}`). A name that
//! holds any of these is quoted the way GNU `ls --quoting-style=shell-escape`
//! does, which a POSIX shell with `$'...'` (bash, zsh, ksh) reads back as the
//! exact bytes: `'evil'$'\n''created  fake'`, `'bad'$'\377'`. A name with
//! none of them is printed unchanged.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;

/// `name` as it is when it is plain printable UTF-8 without `'`, else
/// shell-quoted (see the module documentation).
pub fn quote(name: &OsStr) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(needs_escape) && !text.contains('\'') => Cow::Borrowed(text),
        _ => Cow::Owned(shell_quote(bytes)),
    }
}

/// Whether a character would change what the output says when printed raw:
/// control characters (C0, DEL, C1) and the invisible format characters
/// that reorder or hide text (bidirectional overrides and isolates,
/// zero-width characters, the BOM).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[derive(PartialEq)]
enum State {
    Outside,
    Plain,
    Escaped,
}

fn shell_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut state = State::Outside;
    let close = |out: &mut String, state: &mut State| {
        if *state != State::Outside {
            out.push('\'');
        }
        *state = State::Outside;
    };
    let escape_bytes = |out: &mut String, state: &mut State, raw: &[u8]| {
        if *state != State::Escaped {
            close(out, state);
            out.push_str("$'");
            *state = State::Escaped;
        }
        for &b in raw {
            match b {
                0x07 => out.push_str("\\a"),
                0x08 => out.push_str("\\b"),
                b'\t' => out.push_str("\\t"),
                b'\n' => out.push_str("\\n"),
                0x0b => out.push_str("\\v"),
                0x0c => out.push_str("\\f"),
                b'\r' => out.push_str("\\r"),
                _ => {
                    let _ = write!(out, "\\{b:03o}");
                }
            }
        }
    };
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\'' {
                close(&mut out, &mut state);
                out.push_str("\\'");
            } else if needs_escape(c) {
                let mut buf = [0u8; 4];
                escape_bytes(&mut out, &mut state, c.encode_utf8(&mut buf).as_bytes());
            } else {
                if state != State::Plain {
                    close(&mut out, &mut state);
                    out.push('\'');
                    state = State::Plain;
                }
                out.push(c);
            }
        }
        if !chunk.invalid().is_empty() {
            escape_bytes(&mut out, &mut state, chunk.invalid());
        }
    }
    close(&mut out, &mut state);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    fn q(bytes: &[u8]) -> String {
        quote(OsStr::from_bytes(bytes)).into_owned()
    }

    #[test]
    fn plain_names_are_unchanged() {
        for name in ["config.yaml", "a b", "dir/sub dir/é", "$(x)`;|&", "日本語"] {
            assert_eq!(q(name.as_bytes()), name);
        }
    }

    #[test]
    fn control_characters_and_invalid_utf8_are_quoted_like_gnu_ls() {
        assert_eq!(q(b"evil\ncreated  fake"), "'evil'$'\\n''created  fake'");
        assert_eq!(q(b"bad\xff"), "'bad'$'\\377'");
        assert_eq!(q(b"bad\xfe"), "'bad'$'\\376'");
        assert_eq!(q(b"\x1b[31mred"), "$'\\033''[31mred'");
        assert_eq!(q(b"tab\there\r\n"), "'tab'$'\\t''here'$'\\r\\n'");
        assert_eq!(q(b"it's\x01"), "'it'\\''s'$'\\001'");
        assert_eq!(q(b"it's"), "'it'\\''s'");
        assert_eq!(q("a\u{202E}b".as_bytes()), "'a'$'\\342\\200\\256''b'");
        assert_eq!(q(b"\xff"), "$'\\377'");
    }

    /// What a shell makes of the quoted text: undoes `'...'`, `\'` and `$'...'`.
    fn unquote(text: &str) -> Vec<u8> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\'' => {
                    let end = i + 1 + bytes[i + 1..].iter().position(|&b| b == b'\'').unwrap();
                    out.extend(&bytes[i + 1..end]);
                    i = end + 1;
                }
                b'\\' => {
                    out.push(bytes[i + 1]);
                    i += 2;
                }
                b'$' => {
                    i += 2;
                    while bytes[i] != b'\'' {
                        assert_eq!(bytes[i], b'\\');
                        let (value, len) = match bytes[i + 1] {
                            b'a' => (7, 2),
                            b'b' => (8, 2),
                            b't' => (9, 2),
                            b'n' => (10, 2),
                            b'v' => (11, 2),
                            b'f' => (12, 2),
                            b'r' => (13, 2),
                            _ => {
                                let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap();
                                (u8::from_str_radix(octal, 8).unwrap(), 4)
                            }
                        };
                        out.push(value);
                        i += len;
                    }
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn quoting_is_lossless_and_single_line(name in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let quoted = q(&name);
            proptest::prop_assert!(!quoted.chars().any(needs_escape), "{quoted:?}");
            if quoted != String::from_utf8_lossy(&name) || name.contains(&b'\'') {
                proptest::prop_assert_eq!(unquote(&quoted), name.clone());
            }
            let with_ff = OsString::from_vec([name.clone(), vec![0xff]].concat());
            let with_fe = OsString::from_vec([name, vec![0xfe]].concat());
            proptest::prop_assert_ne!(quote(&with_ff), quote(&with_fe));
        }
    }
}
