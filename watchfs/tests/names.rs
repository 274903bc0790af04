//! End to end: names that could forge output or collide are printed so that
//! they do neither (quoted human and template output, exact bytes in JSON
//! and with --print0).

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{READY, TempDir, Watchfs};

fn name(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

#[test]
fn a_newline_in_a_name_cannot_forge_a_line() {
    let tmp = TempDir::new("evil");
    let mut w = Watchfs::start(&[tmp.path().as_os_str()]);
    std::fs::write(tmp.path().join(name(b"evil\ncreated  fake")), "x").unwrap();
    let line = w.wait_stdout("for the evil name", |l| l.contains("evil"));
    // The whole path is one quoted word: '<dir>/evil'$'\n''created  fake'.
    let wanted = format!(
        "created  '{}/evil'$'\\n''created  fake'",
        tmp.path().display()
    );
    assert_eq!(line, wanted);
    std::fs::write(tmp.path().join("plain"), "x").unwrap();
    w.wait_stdout("for plain", |l| l.ends_with("/plain"));
    assert!(
        w.stdout_lines()
            .iter()
            .all(|l| !l.starts_with("created  fake")),
        "{:?}",
        w.stdout_lines()
    );
}

#[test]
fn two_non_utf8_names_stay_distinct_in_human_and_json_output() {
    let tmp = TempDir::new("nonutf8");
    let mut human = Watchfs::start(&[tmp.path().as_os_str()]);
    let mut json = Watchfs::start(&[OsStr::new("--json"), tmp.path().as_os_str()]);
    std::fs::write(tmp.path().join(name(b"bad\xff")), "x").unwrap();
    std::fs::write(tmp.path().join(name(b"bad\xfe")), "x").unwrap();
    let ff = human.wait_stdout("for bad\\377", |l| l.ends_with("/bad'$'\\377'"));
    let fe = human.wait_stdout("for bad\\376", |l| l.ends_with("/bad'$'\\376'"));
    assert_ne!(ff, fe);

    let mut seen = Vec::new();
    for wanted in [b"bad\xff", b"bad\xfe"] {
        let mut full = tmp.path().as_os_str().as_bytes().to_vec();
        full.push(b'/');
        full.extend_from_slice(wanted);
        let expected = serde_json::Value::from(full.clone());
        let line = json.wait_stdout("with path_bytes", |l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["path_bytes"] == expected)
        });
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        // A consumer rebuilds the real path from the bytes and finds the file.
        let bytes: Vec<u8> = value["path_bytes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        assert!(PathBuf::from(name(&bytes)).exists());
        seen.push(line);
    }
    assert_ne!(seen[0], seen[1]);
}

#[test]
fn print0_writes_exact_names_for_xargs() {
    let tmp = TempDir::new("print0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .args([
            OsStr::new("--once"),
            OsStr::new("--format"),
            OsStr::new("{kind} {path}"),
        ])
        .arg("-0")
        .arg(tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with(READY) {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "exited before ready"
        );
    }
    let evil = tmp.path().join(name(b"a\nb\xff"));
    std::fs::write(&evil, "x").unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(child.wait().unwrap().success());
    let mut wanted = b"created ".to_vec();
    wanted.extend_from_slice(evil.as_os_str().as_bytes());
    wanted.push(0);
    assert_eq!(out, wanted);
}

#[test]
fn print0_needs_a_format() {
    let out = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .args(["-0", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
}
