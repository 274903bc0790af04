//! Runs every script in `tests/scenarios/*.txt` against every available
//! backend. The format is described in `tests/scenarios/README.md`.

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use test_support::TempDir;
use test_support::child::{self as rs, run_tool as mount};
use watch_core::{Backend, Config, Event, EventKind, RecursiveMode, Watcher};

const SYNC_TIMEOUT: Duration = Duration::from_secs(60);

/// Decodes a path word: `\xHH` is a raw byte, `{c*N}` is `c` repeated N times.
fn decode_path(word: &str) -> PathBuf {
    let bytes = word.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') && i + 3 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex byte"));
            i += 4;
        } else if bytes[i] == b'{'
            && let Some(end) = word[i..].find('}')
        {
            let inner = &word[i + 1..i + end];
            let (what, n) = inner.split_once('*').expect("{c*N}");
            for _ in 0..n.parse::<usize>().expect("count") {
                out.extend_from_slice(what.as_bytes());
            }
            i += end + 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

fn render(base: &Path, e: &Event) -> String {
    let rel = |p: &Path| -> String {
        let r = p.strip_prefix(base).unwrap_or(p);
        let s = r.to_string_lossy().into_owned();
        if s.is_empty() { ".".to_owned() } else { s }
    };
    let slash = if e.is_dir { "/" } else { "" };
    match &e.kind {
        EventKind::Created => format!("created {}{slash}", rel(&e.path)),
        EventKind::Removed => format!("removed {}{slash}", rel(&e.path)),
        EventKind::Modified => format!("modified {}{slash}", rel(&e.path)),
        EventKind::Metadata => format!("metadata {}{slash}", rel(&e.path)),
        EventKind::Renamed { from } => format!("renamed {} -> {}{slash}", rel(from), rel(&e.path)),
        EventKind::Overflow => format!("overflow {}{slash}", rel(&e.path)),
        EventKind::Skipped { .. } => format!("skipped {}{slash}", rel(&e.path)),
        other => format!("{other:?} {}", rel(&e.path)),
    }
}

/// Canonical form of one sync block: a path created in the block reports
/// no separate modification; duplicates collapse; order is not compared.
fn normalize(lines: Vec<String>) -> Vec<String> {
    let created: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            l.strip_prefix("created ")
                .map(|p| p.trim_end_matches('/').to_owned())
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    for l in lines {
        let redundant = ["modified ", "metadata "].iter().any(|k| {
            l.strip_prefix(k)
                .is_some_and(|p| created.iter().any(|c| c == p.trim_end_matches('/')))
        });
        if !redundant && !out.contains(&l) {
            out.push(l);
        }
    }
    out.sort();
    out
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Inotify => "inotify",
        Backend::Kqueue => "kqueue",
        _ => "poll",
    }
}

struct Block {
    line: usize,
    actual: Vec<String>,
    common: Vec<String>,
    specific: Vec<String>,
    has_specific: bool,
    /// Some `expect` line other than `expect folded` applies to this backend.
    exact: bool,
    /// `expect folded`: the folded view must equal the tree.
    folded: bool,
}

/// Runs one script on one backend. Returns Ok(None) when passed, Ok(Some)
/// with a skip reason, Err with a failure description.
fn run(script: &str, backend: Backend) -> Result<Option<String>, String> {
    let tmp = TempDir::new("scenario");
    let base = tmp.path().to_path_buf();
    let p = |w: &str| base.join(decode_path(w));
    let mut config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_secs(3600));
    let mut watcher: Option<Watcher> = None;
    let mut block: Option<Block> = None;
    let me = backend_name(backend);
    // Outside the watched tree: see `rewrite_keeping_times`.
    let clock = TempDir::new("scenario-clock");

    // The folded view of the last recursive watch: (root, view).
    let mut model: Option<(PathBuf, test_support::Tree)> = None;
    let check = |block: Option<Block>,
                 model: &Option<(PathBuf, test_support::Tree)>|
     -> Result<(), String> {
        let Some(b) = block else { return Ok(()) };
        if b.folded {
            let Some((root, view)) = model else {
                return Err(format!("line {}: folded without a recursive watch", b.line));
            };
            let real = test_support::scan(root);
            if *view != real {
                return Err(format!(
                    "sync at line {}: folded view differs from the tree:\n  view: {view:?}\n  tree: {real:?}\n  events: {:?}",
                    b.line, b.actual
                ));
            }
            if !b.exact {
                return Ok(());
            }
        }
        let expected = normalize(if b.has_specific { b.specific } else { b.common });
        let actual = normalize(b.actual);
        if expected == actual {
            Ok(())
        } else {
            Err(format!(
                "sync at line {}:\n  expected: {expected:?}\n  actual:   {actual:?}",
                b.line
            ))
        }
    };

    for (n, raw) in script.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        let args: Vec<&str> = rest.split_whitespace().collect();
        if let Some(tag) = cmd.strip_prefix("expect") {
            let b = block
                .as_mut()
                .ok_or_else(|| format!("line {line_no}: expect without sync"))?;
            if rest == "folded" {
                b.folded = true;
                continue;
            }
            let text = if rest == "nothing" {
                None
            } else {
                // Path words may use the \xHH and {c*N} escapes.
                let words: Vec<String> = rest
                    .split_whitespace()
                    .map(|w| {
                        if w == "->" {
                            w.to_owned()
                        } else {
                            decode_path(w).to_string_lossy().into_owned()
                        }
                    })
                    .collect();
                Some(words.join(" "))
            };
            match tag {
                "" => {
                    b.exact |= !b.has_specific;
                    b.common.extend(text);
                }
                t if t == format!("[{me}]") => {
                    b.has_specific = true;
                    b.exact = true;
                    b.specific.extend(text);
                }
                _ => {}
            }
            continue;
        }
        check(block.take(), &model)?;
        let fail = |e: std::io::Error| format!("line {line_no}: {line}: {e}");
        match (cmd, args.as_slice()) {
            ("skip_if_privileged", _) => {
                if common::privileged(&base) {
                    return Ok(Some(format!(
                        "running privileged, so permission bits do not deny: {rest}"
                    )));
                }
            }
            ("mounts", _) => {
                if backend == Backend::Kqueue {
                    return Ok(Some("the kqueue backend does not notice mounts".into()));
                }
                if std::env::var_os(IN_MOUNT_NS).is_none() {
                    return Ok(Some(format!("{MOUNT_NS_NEEDED}: {rest}")));
                }
            }
            ("mount", ["--bind", from, onto]) => {
                let (from, onto) = (p(from), p(onto));
                if let Err(why) = mount(
                    "mount",
                    &["--bind".as_ref(), from.as_os_str(), onto.as_os_str()],
                ) {
                    return Ok(Some(format!("mounting is not permitted here: {why}")));
                }
            }
            ("mount", ["tmpfs", onto]) => {
                let onto = p(onto);
                if let Err(why) = mount(
                    "mount",
                    &[
                        "-t".as_ref(),
                        "tmpfs".as_ref(),
                        "tmpfs".as_ref(),
                        onto.as_os_str(),
                    ],
                ) {
                    return Ok(Some(format!("mounting is not permitted here: {why}")));
                }
            }
            ("umount", [onto]) => {
                mount("umount", &[p(onto).as_os_str()])
                    .map_err(|e| format!("line {line_no}: {e}"))?;
            }
            ("config", ["follow_symlinks"]) => config = config.follow_symlinks(true),
            ("config", ["exclude", name]) => {
                let name = decode_path(name);
                config = config.exclude(move |path| path.file_name() == Some(name.as_os_str()));
            }
            ("watch", [path, mode @ ..]) => {
                let mode = match mode {
                    ["nonrecursive"] => RecursiveMode::NonRecursive,
                    _ => RecursiveMode::Recursive,
                };
                if watcher.is_none() {
                    watcher = Some(
                        Watcher::with_config(config.clone())
                            .map_err(|e| format!("line {line_no}: {e}"))?,
                    );
                }
                if let Some(w) = watcher.as_mut() {
                    w.watch(p(path), mode)
                        .map_err(|e| format!("line {line_no}: watch: {e}"))?;
                }
                if mode == RecursiveMode::Recursive && p(path).is_dir() {
                    model = Some((p(path), test_support::scan(&p(path))));
                }
            }
            ("unwatch", [path]) => {
                if let Some(w) = watcher.as_mut() {
                    w.unwatch(p(path))
                        .map_err(|e| format!("line {line_no}: unwatch: {e}"))?;
                }
            }
            ("sync", []) => {
                let w = watcher
                    .as_mut()
                    .ok_or_else(|| format!("line {line_no}: sync before watch"))?;
                w.sync(SYNC_TIMEOUT)
                    .map_err(|e| format!("line {line_no}: sync: {e}"))?;
                let mut events = Vec::new();
                while w
                    .read(&mut events, Some(Duration::ZERO))
                    .map_err(|e| format!("line {line_no}: read: {e}"))?
                    > 0
                {}
                if let Some((root, view)) = model.as_mut() {
                    // The view holds what is below the root, not the root itself
                    // (its removal still empties the view).
                    let inside: Vec<Event> = events
                        .iter()
                        .filter(|e| e.path.starts_with(&*root))
                        .cloned()
                        .collect();
                    test_support::fold(view, &inside);
                    view.remove(&*root);
                }
                block = Some(Block {
                    line: line_no,
                    actual: events.iter().map(|e| render(&base, e)).collect(),
                    common: Vec::new(),
                    specific: Vec::new(),
                    has_specific: false,
                    exact: false,
                    folded: false,
                });
            }
            ("mkdir", ["-p", path]) => fs::create_dir_all(p(path)).map_err(fail)?,
            ("mkdir", [path]) => fs::create_dir(p(path)).map_err(fail)?,
            ("touch", [path]) => {
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p(path))
                    .map_err(fail)?;
            }
            ("write", ["-p", path, ..]) => {
                let text = rest.splitn(3, char::is_whitespace).nth(2).unwrap_or("");
                rewrite_keeping_times(&p(path), text, clock.path()).map_err(fail)?;
            }
            ("overflow", [dir]) => overflow_queue(&p(dir)).map_err(fail)?,
            ("write", [path, ..]) => {
                let text = rest.split_once(char::is_whitespace).map_or("", |(_, t)| t);
                fs::write(p(path), text).map_err(fail)?;
            }
            ("append", [path, ..]) => {
                use std::io::Write;
                let text = rest.split_once(char::is_whitespace).map_or("", |(_, t)| t);
                let mut f = fs::OpenOptions::new()
                    .append(true)
                    .open(p(path))
                    .map_err(fail)?;
                f.write_all(text.as_bytes()).map_err(fail)?;
            }
            ("mv", [from, to]) => fs::rename(p(from), p(to)).map_err(fail)?,
            ("rm", ["-r", path]) => fs::remove_dir_all(p(path)).map_err(fail)?,
            ("rm", [path]) => fs::remove_file(p(path)).map_err(fail)?,
            ("rmdir", [path]) => fs::remove_dir(p(path)).map_err(fail)?,
            ("ln", [target, link]) if !target.starts_with('-') => {
                fs::hard_link(p(target), p(link)).map_err(fail)?
            }
            ("ln", ["-s", target, link]) => {
                std::os::unix::fs::symlink(decode_path(target), p(link)).map_err(fail)?
            }
            ("chmod", [mode, path]) => {
                let mode =
                    u32::from_str_radix(mode, 8).map_err(|e| format!("line {line_no}: {e}"))?;
                fs::set_permissions(p(path), fs::Permissions::from_mode(mode)).map_err(fail)?;
            }
            _ => return Err(format!("line {line_no}: unknown step {line:?}")),
        }
    }
    check(block.take(), &model)?;
    Ok(None)
}

/// `write -p`: truncates and writes `text`, then puts back the file's
/// access and modification times, as `cp -p`, `tar x` or `rsync -t` leave
/// a file. First waits (by polling the clock, without sleeping) until a
/// change made now gets a ctime other than the file's current one: the
/// kernel stamps with a clock that may tick only every few milliseconds,
/// and a rewrite within the same tick would be invisible to every stat
/// field, which is not the case this step is for.
fn rewrite_keeping_times(path: &Path, text: &str, clock: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let before = fs::metadata(path)?;
    let ctime = |m: &fs::Metadata| (m.ctime(), m.ctime_nsec());
    let probe = clock.join("tick");
    loop {
        fs::write(&probe, b"")?;
        if ctime(&fs::metadata(&probe)?) > ctime(&before) {
            break;
        }
        std::hint::spin_loop();
    }
    fs::write(path, text)?;
    let times = fs::FileTimes::new()
        .set_accessed(before.accessed()?)
        .set_modified(before.modified()?);
    fs::File::options().write(true).open(path)?.set_times(times)
}

/// `overflow DIR`: overflows the kernel queue of an inotify watcher that is
/// not reading, by creating and removing the directory `DIR/.flood` more
/// times than the queue holds (`fs.inotify.max_queued_events`). On other
/// backends this is a directory that came and went between two looks.
fn overflow_queue(dir: &Path) -> std::io::Result<()> {
    let limit: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384);
    let flood = dir.join(".flood");
    for _ in 0..limit / 2 + 64 {
        fs::create_dir(&flood)?;
        fs::remove_dir(&flood)?;
    }
    Ok(())
}

/// Set in a child run in its own mount namespace (see [`rerun_with_mounts`]).
const IN_MOUNT_NS: &str = "WATCH_CORE_SCENARIO_MOUNT_NS";
/// How `run` asks to be run again in a mount namespace of its own.
const MOUNT_NS_NEEDED: &str = "mounts only in a mount namespace of its own";

/// Runs a script that mounts in a child of this test binary in a new mount
/// namespace with private propagation (`unshare --mount`), so no mount is
/// seen outside it. `Err(reason)` when it skipped or could not start.
fn rerun_with_mounts(script: &str, backend: Backend) -> Result<Result<(), String>, String> {
    let wrapper = ["unshare", "--mount", "--propagation", "private"].map(OsStr::new);
    let out = rs::run_again(
        "scenario_child",
        &wrapper,
        &[
            (CHILD_SCRIPT, OsStr::new(script)),
            (CHILD_BACKEND, OsStr::new(backend_name(backend))),
            (IN_MOUNT_NS, OsStr::new("1")),
        ],
    )
    .map_err(|e| format!("unshare: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("scenario-child: passed") && out.status.success() {
        Ok(Ok(()))
    } else if let Some(line) = stdout
        .lines()
        .find(|l| l.contains("scenario-child: skipped"))
    {
        Err(line.to_owned())
    } else if !stdout.contains("running 1 test") {
        // The test binary never started: unshare itself failed.
        Err(format!(
            "no mount namespace here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    } else {
        Ok(Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn run_all(backend: Backend) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut scripts: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("scenario dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    scripts.sort();
    assert!(
        !scripts.is_empty(),
        "no scenarios found in {}",
        dir.display()
    );
    let filter = std::env::var("SCENARIO").ok();
    let mut failures = Vec::new();
    let mut passed = 0;
    for script in &scripts {
        let name = script
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let text = fs::read_to_string(script).expect("read scenario");
        match run(&text, backend) {
            Ok(None) => passed += 1,
            Ok(Some(reason)) if reason.starts_with(MOUNT_NS_NEEDED) => {
                match rerun_with_mounts(&text, backend) {
                    Ok(Ok(())) => passed += 1,
                    Ok(Err(why)) => failures.push(format!(
                        "FAIL {name} [{}] in a mount namespace: {why}",
                        backend_name(backend)
                    )),
                    Err(why) => println!("SKIP {name} [{}]: {why}", backend_name(backend)),
                }
            }
            Ok(Some(reason)) if !reason.starts_with("running privileged") => {
                println!("SKIP {name} [{}]: {reason}", backend_name(backend));
            }
            Ok(Some(reason)) => match rerun_unprivileged(&text, backend) {
                Some(Ok(())) => {
                    println!(
                        "{name} [{}]: passed as uid 65534 ({reason})",
                        backend_name(backend)
                    );
                    passed += 1;
                }
                Some(Err(why)) => failures.push(format!(
                    "FAIL {name} [{}] as uid 65534: {why}",
                    backend_name(backend)
                )),
                None => println!(
                    "SKIP {name} [{}]: {reason}; no way to drop privileges here",
                    backend_name(backend)
                ),
            },
            Err(why) => failures.push(format!("FAIL {name} [{}]: {why}", backend_name(backend))),
        }
    }
    println!("{passed} scenarios passed on {}", backend_name(backend));
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[cfg(linux_kernel)]
fn scenarios_on_inotify() {
    run_all(Backend::Inotify);
}

#[test]
#[cfg(has_kqueue)]
fn scenarios_on_kqueue() {
    run_all(Backend::Kqueue);
}

#[test]
fn scenarios_on_poll() {
    run_all(Backend::Poll);
}

const CHILD_SCRIPT: &str = "WATCH_CORE_SCENARIO_SCRIPT";
const CHILD_BACKEND: &str = "WATCH_CORE_SCENARIO_BACKEND";

/// Runs a scenario that needs permission bits to deny (skipped when
/// privileged) in a child of this test binary as user `nobody`, through
/// `setpriv`. `None` when that is not possible here.
fn rerun_unprivileged(script: &str, backend: Backend) -> Option<Result<(), String>> {
    let out = rs::run_again(
        "scenario_child",
        &rs::as_nobody(),
        &[
            (CHILD_SCRIPT, OsStr::new(script)),
            (CHILD_BACKEND, OsStr::new(backend_name(backend))),
        ],
    )
    .ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("scenario-child: passed") && out.status.success() {
        Some(Ok(()))
    } else if stdout.contains("scenario-child: skipped") {
        None
    } else {
        Some(Err(format!(
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// The child side of [`rerun_unprivileged`]; does nothing in a normal run.
#[test]
fn scenario_child() {
    let (Ok(script), Ok(backend)) = (std::env::var(CHILD_SCRIPT), std::env::var(CHILD_BACKEND))
    else {
        return;
    };
    let backend = match backend.as_str() {
        "inotify" => Backend::Inotify,
        "kqueue" => Backend::Kqueue,
        _ => Backend::Poll,
    };
    match run(&script, backend) {
        Ok(None) => println!("scenario-child: passed"),
        Ok(Some(reason)) => println!("scenario-child: skipped: {reason}"),
        Err(why) => panic!("scenario-child: failed: {why}"),
    }
}

#[test]
fn path_words_decode_escapes_and_repeats() {
    assert_eq!(
        decode_path("a/\\xff"),
        PathBuf::from(OsString::from_vec(b"a/\xff".to_vec()))
    );
    assert_eq!(decode_path("{x*3}.txt"), PathBuf::from("xxx.txt"));
    assert_eq!(
        normalize(vec![
            "modified a".into(),
            "created a".into(),
            "created a".into()
        ]),
        ["created a"]
    );
}
