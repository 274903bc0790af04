//! Security of the CLI: file names, watched paths, `--check` strings and
//! `--format` templates never reach a shell unless `--shell` is given, and
//! watchfs hands no descriptor of its own to the commands it runs.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

use common::{ActionLog, PATIENCE, READY, TempDir, wait_until};

/// Names a shell would turn into commands that create `pwned*` files in
/// the current directory.
const HOSTILE: &[&str] = &[
    "$(touch pwned1)",
    "`touch pwned2`",
    "; touch pwned3",
    "| touch pwned4 |",
    "&& touch pwned5 &&",
    "'\"$(touch pwned6)\"'",
    "\n touch pwned7",
];

/// `watchfs ARGS` run in `cwd`, where any shell it wrongly started would
/// create its files; waits until the watches are established.
struct Run {
    child: Child,
    stderr: Receiver<String>,
}

impl Run {
    fn start(cwd: &Path, args: &[String]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_watchfs"))
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start watchfs");
        let (tx, rx) = channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut run = Run { child, stderr: rx };
        run.wait_stderr(READY);
        run
    }

    fn wait_stderr(&mut self, needle: &str) {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(PATIENCE) {
                Ok(line) if line.contains(needle) => return,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "no stderr line with {needle:?}; stderr:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pwned(dirs: &[&Path]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("pwned") {
                found.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn hostile_names_paths_and_checks_never_reach_a_shell() {
    let tmp = TempDir::new("rel-shell");
    // A watched directory whose own name is hostile too.
    let w = tmp.join("$(touch pwned0)");
    fs::create_dir(&w).unwrap();
    let log = ActionLog::new(tmp.path());
    // Unquoted shell syntax in --check without --shell is refused at
    // startup (it would never do what its author meant), and runs nothing.
    let refused = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .args([
            w.display().to_string(),
            "--check".into(),
            "true $(touch pwned8) `touch pwned9` ; touch pwned10".into(),
            "--".into(),
            "true".into(),
        ])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--shell"), "{stderr}");
    let mut args = vec![
        w.display().to_string(),
        "--recursive".into(),
        "--no-content-check".into(),
        // Quoted, the same text is split into words like a shell would,
        // then run without one: `true` gets the words as arguments and
        // succeeds.
        "--check".into(),
        "true '$(touch pwned8)' '`touch pwned9`' '; touch pwned10'".into(),
    ];
    args.extend(log.command());
    let _run = Run::start(tmp.path(), &args);

    for name in HOSTILE {
        fs::write(w.join(name), b"x").unwrap();
    }
    fs::write(w.join("last"), b"x").unwrap();
    let records = log.wait_for(&w.join("last"));
    // The hostile names reached the command as data.
    let changed: Vec<&String> = records.iter().flatten().collect();
    for name in HOSTILE.iter().filter(|n| !n.contains('\n')) {
        let want = w.join(name).display().to_string();
        assert!(changed.contains(&&want), "{want:?} not in {changed:?}");
    }
    let found = pwned(&[tmp.path(), &w]);
    assert!(found.is_empty(), "a shell ran: {found:?}");
}

#[test]
fn format_templates_are_printed_not_run() {
    let tmp = TempDir::new("rel-format");
    let w = tmp.join("w");
    fs::create_dir(&w).unwrap();
    let out = tmp.join("out.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .args([
            w.display().to_string(),
            "--once".into(),
            "--format".into(),
            "$(touch pwned-format) {path} `touch pwned-tick`".into(),
        ])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains(READY)),
        "watchfs never became ready"
    );
    fs::write(w.join("$(touch pwned-name)"), b"x").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let printed = fs::read_to_string(&out).unwrap();
    assert!(
        printed.contains("$(touch pwned-format) ") && printed.contains("`touch pwned-tick`"),
        "{printed}"
    );
    assert!(printed.contains("$(touch pwned-name)"), "{printed}");
    let found = pwned(&[tmp.path(), &w]);
    assert!(found.is_empty(), "a shell ran: {found:?}");
}

#[test]
fn shell_runs_only_with_the_flag() {
    // Positive control: with --shell the same kind of string does run, in
    // the directory the other tests look in, so they would catch it.
    let tmp = TempDir::new("rel-shell-on");
    let w = tmp.join("w");
    fs::create_dir(&w).unwrap();
    let args: Vec<String> = vec![
        w.display().to_string(),
        "--no-content-check".into(),
        "--shell".into(),
        "--".into(),
        "touch pwned-by-request; echo \"$WATCHFS_CHANGED\" > changed.txt".into(),
    ];
    let _run = Run::start(tmp.path(), &args);
    fs::write(w.join("f"), b"x").unwrap();
    wait_until("the shell command ran", || tmp.join("changed.txt").exists());
    assert_eq!(pwned(&[tmp.path()]), [tmp.join("pwned-by-request")]);
}

#[test]
fn commands_inherit_no_watchfs_descriptor() {
    let tmp = TempDir::new("rel-fds");
    let w = tmp.join("w");
    fs::create_dir(&w).unwrap();
    let listing = tmp.join("fds.txt");
    // The command lists its own descriptors (after exec, so close-on-exec
    // has taken effect) into a file.
    let args: Vec<String> = vec![
        w.display().to_string(),
        "--recursive".into(),
        "--no-content-check".into(),
        "--metrics".into(),
        "127.0.0.1:0".into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        format!(
            "ls -l /proc/self/fd/ > '{}.tmp' && mv '{0}.tmp' '{0}'",
            listing.display()
        ),
    ];
    let run = Run::start(tmp.path(), &args);
    // What watchfs itself holds: its inotify instance at least.
    let own: Vec<String> = fs::read_dir(format!("/proc/{}/fd", run.child.id()))
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect();
    assert!(own.iter().any(|t| t.contains("inotify")), "{own:?}");
    fs::write(w.join("f"), b"x").unwrap();
    wait_until("the command listed its descriptors", || listing.exists());
    let text = fs::read_to_string(&listing).unwrap();
    assert!(text.contains(" 0 -> "), "{text}");
    assert!(!text.contains("inotify"), "inherited: {text}");
    assert!(
        !text.contains("socket:"),
        "inherited the metrics socket: {text}"
    );
    // Descriptors the test itself inherited (e.g. a build tool's jobserver
    // pipe) pass through watchfs on purpose; only watchfs's own count.
    let inherited: Vec<String> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect();
    for target in own
        .iter()
        .filter(|t| t.starts_with("anon_inode:") || t.starts_with("pipe:"))
        .filter(|t| !inherited.contains(t))
    {
        // stdio pipes are the command's own (stdin is /dev/null, stdout and
        // stderr are watchfs's, shared on purpose); any other is a leak.
        if !text.contains(target.as_str()) {
            continue;
        }
        let fd_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(target.as_str()))
            .collect();
        assert!(
            fd_lines
                .iter()
                .all(|l| l.contains(" 1 -> ") || l.contains(" 2 -> ")),
            "inherited {target}: {fd_lines:?}"
        );
    }
}

#[test]
fn odd_paths_on_the_command_line_fail_clearly_or_are_watched() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = TempDir::new("rel-args");
    // An empty path is a usage error, not a watch of the current directory.
    let out = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .arg("")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
    // A name that can never exist (over 255 bytes): a runtime error naming
    // it, not a wait for it to appear.
    let too_long = tmp.join("n".repeat(300));
    let out = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .arg(&too_long)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: cannot watch"), "{stderr}");
    // A FIFO (never opened, so never blocks), a device and a /proc entry
    // are watched.
    let fifo = tmp.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for path in [
        fifo,
        PathBuf::from("/dev/null"),
        PathBuf::from("/proc/self/status"),
    ] {
        let _run = Run::start(tmp.path(), &[path.display().to_string()]);
    }
    fs::create_dir(
        tmp.path()
            .join(std::ffi::OsStr::from_bytes(b"dir-\xff\xfe")),
    )
    .unwrap();
    // The non-UTF-8 directory, as raw bytes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .arg(
            tmp.path()
                .join(std::ffi::OsStr::from_bytes(b"dir-\xff\xfe")),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let ready = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(READY));
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "a non-UTF-8 directory was not watched");
}
