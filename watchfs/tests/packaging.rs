//! End to end: `--version` names the commit; `--generate` writes the man
//! page and completions that `cargo xtask dist` packages.

use std::process::Command;

fn watchfs(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn version_names_the_version_and_the_commit() {
    let out = watchfs(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let wanted = format!("watchfs {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&wanted), "{text}");
    let commit = text
        .trim()
        .strip_prefix(&wanted)
        .unwrap()
        .strip_suffix(')')
        .unwrap();
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
}

#[test]
fn generate_writes_man_page_and_completions_and_nothing_else() {
    let man = watchfs(&["--generate", "man"]);
    assert!(man.status.success());
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH watchfs 1"));
    let bash = watchfs(&["--generate", "bash"]);
    assert!(String::from_utf8_lossy(&bash.stdout).contains("complete -F"));
    let bad = watchfs(&["--generate", "powershell7"]);
    assert_eq!(bad.status.code(), Some(2));
    let with_path = watchfs(&["--generate", "man", "."]);
    assert_eq!(
        with_path.status.code(),
        Some(2),
        "--generate takes no other argument"
    );
}
