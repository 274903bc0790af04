//! End to end: printing events, usage errors, exit behaviour.

mod common;

use std::fs;
use std::io::Write;

use common::{TempDir, Watchfs, send_signal};

#[test]
fn json_lines_parse_and_name_the_right_paths() {
    let tmp = TempDir::new("json");
    let dir = tmp.join("d");
    fs::create_dir(&dir).unwrap();
    let mut w = Watchfs::start(&["--json".to_string(), dir.display().to_string()]);
    let file = dir.join("new.txt");
    fs::write(&file, "hello").unwrap();
    let wanted = file.display().to_string();
    let line = w.wait_stdout("naming new.txt", |l| l.contains("new.txt"));
    let value: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
    assert_eq!(value["path"], wanted.as_str());
    assert_eq!(value["kind"], "created");
    assert_eq!(value["is_dir"], false);
    assert!(value["from"].is_null());
    assert_eq!(value["origin"], "kernel");
    let time = value["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
        "{time}"
    );
    fs::rename(&file, dir.join("renamed.txt")).unwrap();
    let line = w.wait_stdout("naming renamed.txt", |l| l.contains("renamed.txt"));
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["kind"], "renamed");
    assert_eq!(value["from"], wanted.as_str());
    assert_eq!(
        value["path"],
        dir.join("renamed.txt").display().to_string().as_str()
    );
    for line in w.stdout_lines() {
        serde_json::from_str::<serde_json::Value>(&line).expect("every line is JSON");
    }
}

/// The `kind` of `--json` is the library's `Display` of the event kind,
/// and so is the first word of the human format.
#[test]
fn json_kind_is_the_library_display_of_the_kind() {
    use std::os::unix::fs::PermissionsExt;
    use watch_core::EventKind;

    let tmp = TempDir::new("json-kinds");
    let dir = tmp.join("d");
    fs::create_dir(&dir).unwrap();
    for name in ["m", "c", "r", "a"] {
        fs::write(dir.join(name), "x").unwrap();
    }
    let dir_arg = dir.display().to_string();
    let mut json = Watchfs::start(&["--json", dir_arg.as_str()]);
    let mut human = Watchfs::start(&[dir_arg.as_str()]);
    let steps: [(EventKind, &str, &dyn Fn()); 5] = [
        (EventKind::Created, "n", &|| {
            fs::write(dir.join("n"), "x").unwrap()
        }),
        (EventKind::Modified, "m", &|| {
            fs::OpenOptions::new()
                .append(true)
                .open(dir.join("m"))
                .unwrap()
                .write_all(b"y")
                .unwrap()
        }),
        (EventKind::Metadata, "c", &|| {
            fs::set_permissions(dir.join("c"), fs::Permissions::from_mode(0o600)).unwrap()
        }),
        (EventKind::Removed, "r", &|| {
            fs::remove_file(dir.join("r")).unwrap()
        }),
        (
            EventKind::Renamed {
                from: dir.join("a"),
            },
            "b",
            &|| fs::rename(dir.join("a"), dir.join("b")).unwrap(),
        ),
    ];
    for (kind, name, step) in steps {
        step();
        let path = dir.join(name).display().to_string();
        let line = json.wait_stdout(&format!("for {path}"), |l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["path"] == path.as_str())
        });
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["kind"], kind.to_string().as_str(), "{line}");
        let line = human.wait_stdout(&format!("for {path}"), |l| l.ends_with(path.as_str()));
        assert_eq!(
            line.split_whitespace().next(),
            Some(kind.to_string().as_str()),
            "{line}"
        );
    }
}

#[test]
fn format_template_and_exclude() {
    let tmp = TempDir::new("format");
    let dir = tmp.join("d");
    fs::create_dir(&dir).unwrap();
    let mut w = Watchfs::start(&[
        "--format".to_string(),
        "{kind}|{dir}|{name}|{type}".to_string(),
        "--exclude".to_string(),
        "*.swp".to_string(),
        dir.display().to_string(),
    ]);
    fs::write(dir.join("skip.swp"), "x").unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    let line = w.wait_stdout("for sub", |l| l.contains("|sub|"));
    assert_eq!(line, format!("created|{}/|sub|dir", dir.display()));
    assert!(
        w.stdout_lines().iter().all(|l| !l.contains("skip.swp")),
        "{:?}",
        w.stdout_lines()
    );
}

#[test]
fn events_filter_drops_other_kinds() {
    let tmp = TempDir::new("events");
    let dir = tmp.join("d");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("a"), "1").unwrap();
    let mut w = Watchfs::start(&[
        "--events".to_string(),
        "removed".to_string(),
        "--format".to_string(),
        "{kind} {name}".to_string(),
        dir.display().to_string(),
    ]);
    fs::write(dir.join("a"), "2").unwrap();
    fs::write(dir.join("b"), "new").unwrap();
    fs::remove_file(dir.join("a")).unwrap();
    let line = w.wait_stdout("removed a", |l| l == "removed a");
    assert_eq!(w.stdout_lines(), [line]);
}

#[test]
fn once_exits_zero_after_one_change() {
    let tmp = TempDir::new("once");
    let mut w = Watchfs::start(&["--once".to_string(), tmp.path().display().to_string()]);
    fs::write(tmp.join("f"), "x").unwrap();
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", w.stderr_text());
    assert!(
        w.stdout_lines()
            .iter()
            .any(|l| l.contains("created") && l.ends_with("/f"))
    );
}

#[test]
fn sigterm_and_sigint_exit_cleanly() {
    for signal in ["TERM", "INT"] {
        let tmp = TempDir::new("term");
        let mut w = Watchfs::start(&[tmp.path()]);
        send_signal(w.pid(), signal);
        let status = w.wait_exit();
        assert_eq!(status.code(), Some(0), "SIG{signal}: {}", w.stderr_text());
    }
}

fn usage_error(args: &[&str], needle: &str) {
    let mut w = Watchfs::spawn(args);
    let status = w.wait_exit();
    let stderr = w.stderr_text();
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in:\n{stderr}"
    );
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    usage_error(&[], "<PATH>");
    usage_error(&["--bogus", "."], "--bogus");
    usage_error(&["--signal", "HUP", "."], "--pid PID or --pidfile FILE");
    usage_error(
        &["--signal", "NOPE", "--pid", "1", "."],
        "not a signal name",
    );
    usage_error(&["--format", "{nope}", "."], "unknown placeholder");
    usage_error(&["--exclude", "a[", "."], "--exclude a[");
    usage_error(&["--debounce", "soon", "."], "not a duration");
    usage_error(&["--check", "true", "."], "--check needs an action");
    usage_error(&["--post", "ftp://x/-/reload", "."], "http:// or https://");
    usage_error(&["--on-busy", "panic", ".", "--", "true"], "queue");
}

#[test]
fn runtime_error_exits_1() {
    // A metrics address that cannot be bound: a runtime, not a usage, error.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let tmp = TempDir::new("runtime");
    let mut w = Watchfs::spawn(&[
        "--metrics".to_string(),
        addr,
        "--post".to_string(),
        "http://127.0.0.1:1/".to_string(),
        tmp.path().display().to_string(),
    ]);
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", w.stderr_text());
    assert!(
        w.stderr_text().contains("cannot listen"),
        "{}",
        w.stderr_text()
    );
}

#[test]
fn an_impossible_path_is_an_error_not_awaited() {
    // A name longer than NAME_MAX can never appear: exit 1 at once, without
    // first announcing that it is awaited.
    let tmp = TempDir::new("impossible");
    let path = tmp.path().join("n".repeat(300)).display().to_string();
    let mut w = Watchfs::spawn(&[path]);
    let status = w.wait_exit();
    let stderr = w.stderr_text();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot watch"), "{stderr}");
    assert!(!stderr.contains("watching for it to appear"), "{stderr}");
}

#[test]
fn recursive_watch_skips_excluded_trees() {
    let tmp = TempDir::new("recursive");
    let dir = tmp.join("repo");
    fs::create_dir_all(dir.join(".git/objects")).unwrap();
    fs::create_dir(dir.join("src")).unwrap();
    let mut w = Watchfs::start(&[
        "-r".to_string(),
        "--exclude".to_string(),
        ".git".to_string(),
        "--format".to_string(),
        "{kind} {path}".to_string(),
        dir.display().to_string(),
    ]);
    // Changes inside the excluded tree first, then one that must show.
    fs::write(dir.join(".git/objects/ab"), "blob").unwrap();
    fs::create_dir(dir.join(".git/refs")).unwrap();
    fs::create_dir_all(dir.join("src/deep/er")).unwrap();
    fs::write(dir.join("src/deep/er/main.rs"), "fn main() {}").unwrap();
    let wanted = format!("created {}", dir.join("src/deep/er/main.rs").display());
    w.wait_stdout("for main.rs", |l| l == wanted);
    let lines = w.stdout_lines();
    assert!(lines.iter().all(|l| !l.contains(".git")), "{lines:?}");
    for sub in ["src/deep", "src/deep/er"] {
        let line = format!("created {}", dir.join(sub).display());
        assert!(lines.contains(&line), "{line} missing from {lines:?}");
    }
}
