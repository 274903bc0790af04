//! `cargo xtask soak --cli --ops N --seed S [--stop] [--overflow]`: the
//! command-line tool under a seeded storm, judged by its output alone.
//!
//! Runs `watchfs -r --json TREE` (the debug build, built first) on a temp
//! tree, waits for "watches established" on its stderr, then performs `N`
//! operations from a bounded mix as fast as it can: files created, appended
//! to, chmodded, removed, renamed (also over an existing file, also twice in
//! a row: a -> b -> c), saved atomically (temp file renamed over); directories
//! created, created as `mkdir -p` chains with a file, created, filled and
//! renamed at once, renamed (also over an empty directory), removed
//! recursively; files and filled directories moved in from outside (also
//! over an existing file) and moved out; symlinks created and removed.
//!
//! Then it creates a cookie file and waits for its event (everything before
//! it has then been printed), stops `watchfs`, folds the JSON lines onto the
//! tree as it was when the watches were established, and compares the result
//! with a walk of the tree: every path missing from the fold or extra in it
//! is a failure, and so is a file written during the storm without an event
//! naming it (by any name it had since) printed after its last write.
//!
//! `--stop` stops `watchfs` with SIGSTOP for the middle third of the storm
//! (SIGCONT after). `--overflow` stops it while more changes than the kernel
//! queue holds (`fs.inotify.max_queued_events`) happen, and requires the
//! output to report the overflow.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Result;
use crate::tree::{max_queued_events, scan};
use test_support::TempDir;

use crate::workspace;

mod ops;
mod output;
mod tracer;

use ops::Storm;
use output::Printed;
use tracer::Tracer;

const USAGE: &str = "usage: cargo xtask soak --cli [--ops N] [--seed N] [--stop] [--overflow] [--trace] [--replays N] [--release] | --cli --ci [--release]
  --ops N      operations in the storm (default 20000)
  --seed N     seed of the operation mix (default: fixed)
  --stop       SIGSTOP watchfs during the middle third of the storm
  --overflow   SIGSTOP watchfs while more changes than the kernel queue holds happen
  --trace      also check an in-process watcher's debounced batches against its raw events
  --replays N  with --trace: replay its raw events N times with other batch boundaries (default 10)
  --release    run the optimised build of watchfs (built first) instead of the debug one
  --ci         the set meant for CI: seeds 1 and 2, seed 3 with --stop, seed 4 with --overflow";

/// Most files and directories the tree may hold; past these, operations
/// that add entries turn into ones that remove them.
const MAX_FILES: usize = 2_000;
const MAX_DIRS: usize = 400;
/// Generous bounds that only catch a hang.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);
const COOKIE_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of one storm.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    ops: usize,
    seed: u64,
    stop: bool,
    overflow: bool,
    /// Also run a watcher and a debouncer in this process, and check each
    /// of its batches against the raw events it folds (to tell a loss in
    /// the watcher from one in the debouncer).
    trace: bool,
    /// With `trace`: how many times the raw log is replayed with other
    /// batch boundaries.
    replays: u64,
    /// Run the release build of `watchfs` (faster, so it keeps up with the
    /// storm more often: other interleavings of reads and changes).
    release: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        ops: 20_000,
        seed: 0x5707_3a11,
        stop: false,
        overflow: false,
        trace: false,
        replays: 10,
        release: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64> {
            let v = it
                .next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a non-negative integer\n{USAGE}").into())
        };
        match arg.as_str() {
            "--cli" => {}
            "--ops" => options.ops = number("--ops")? as usize,
            "--seed" => options.seed = number("--seed")?,
            "--stop" => options.stop = true,
            "--overflow" => options.overflow = true,
            "--trace" => options.trace = true,
            "--replays" => {
                options.replays = number("--replays")?;
                options.trace = true;
            }
            "--release" => options.release = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}").into()),
        }
    }
    Ok(options)
}

/// Entry point of `cargo xtask soak --cli`.
pub fn main(args: &[String]) -> Result {
    if args.iter().any(|a| a == "--ci") {
        return ci(args);
    }
    let options = parse(args)?;
    let binary = build_watchfs(options.release)?;
    let report = run(&binary, &options)?;
    report.print();
    report.verdict(&options)
}

/// `--ci`, the `soak-cli` step of `cargo xtask ci`: four storms, at seeds 1
/// and 2, 3 with watchfs stopped, 4 with a forced overflow (`--release`:
/// with the optimised build of watchfs).
pub fn ci(args: &[String]) -> Result {
    let release = args.iter().any(|a| a == "--release");
    if let Some(other) = args
        .iter()
        .find(|a| !["--cli", "--ci", "--release"].contains(&a.as_str()))
    {
        return Err(format!("--ci takes no `{other}`\n{USAGE}").into());
    }
    let binary = build_watchfs(release)?;
    let runs = [
        (1, false, false),
        (2, false, false),
        (3, true, false),
        (4, false, true),
    ];
    for (seed, stop, overflow) in runs {
        let options = Options {
            ops: 20_000,
            seed,
            stop,
            overflow,
            trace: false,
            replays: 0,
            release,
        };
        let report = run(&binary, &options)?;
        report.print();
        report.verdict(&options)?;
    }
    Ok(())
}

/// Builds `watchfs` (the release build with `release`); returns its path.
fn build_watchfs(release: bool) -> Result<PathBuf> {
    let root = workspace::root();
    let mut cargo = workspace::cargo();
    cargo.args(["build", "--quiet", "-p", "watchfs"]);
    if release {
        cargo.arg("--release");
    }
    workspace::run(cargo.current_dir(&root))?;
    let profile = if release { "release" } else { "debug" };
    Ok(workspace::target_dir(&root).join(profile).join("watchfs"))
}

// ------------------------------------------------------------------ the run

/// What one storm measured.
struct Report {
    options: Options,
    ops: usize,
    lines: usize,
    overflows: usize,
    storm: Duration,
    drained: Duration,
    missing: Vec<PathBuf>,
    extra: Vec<PathBuf>,
    unreported: Vec<PathBuf>,
    written: usize,
    files: usize,
}

impl Report {
    fn print(&self) {
        let o = &self.options;
        println!(
            "soak --cli: seed {} {}{}: {} operations in {:.1} s, output complete {:.1} s later; \
             {} events printed, {} overflows; {} paths missing, {} extra; \
             {} of {} files written during the storm (of {} at the end) without an event \
             after their last write",
            o.seed,
            if o.stop { "(SIGSTOP) " } else { "" },
            if o.overflow { "(overflow) " } else { "" },
            self.ops,
            self.storm.as_secs_f64(),
            self.drained.as_secs_f64(),
            self.lines,
            self.overflows,
            self.missing.len(),
            self.extra.len(),
            self.unreported.len(),
            self.written,
            self.files,
        );
        let show = |what: &str, paths: &[PathBuf]| {
            for p in paths.iter().take(5) {
                println!("  {what}: {}", p.display());
            }
        };
        show("missing", &self.missing);
        show("extra", &self.extra);
        show("no event after its last write", &self.unreported);
    }

    fn verdict(&self, options: &Options) -> Result {
        let mut problems = Vec::new();
        if !self.missing.is_empty() || !self.extra.is_empty() {
            problems.push(format!(
                "the folded output differs from the tree: {} missing, {} extra",
                self.missing.len(),
                self.extra.len()
            ));
        }
        if !self.unreported.is_empty() {
            problems.push(format!(
                "{} files have no event after their last write",
                self.unreported.len()
            ));
        }
        if options.overflow && self.overflows == 0 {
            problems.push("no overflow was reported although one was forced".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("soak --cli seed {}: {}", options.seed, problems.join("; ")).into())
        }
    }
}

/// Lines of a child's output, each with when it was read.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

fn collect(
    stream: impl std::io::Read + Send + 'static,
    lines: Lines,
    tell: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tell) = &tell {
                let _ = tell.send(line.clone());
            }
            if let Ok(mut lines) = lines.lock() {
                lines.push((Instant::now(), line));
            }
        }
    });
}

/// `watchfs`, stopped and reaped on drop.
struct Watchfs(Child);

impl Watchfs {
    fn signal(&self, name: &str) -> Result {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.0.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{name} {}: {status}", self.0.id()).into())
        }
    }
}

impl Watchfs {
    /// Waits until the kernel shows the process stopped (state `T`).
    fn wait_stopped(&self) -> Result {
        let stat = format!("/proc/{}/stat", self.0.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = fs::read_to_string(&stat)?;
            // The state follows the parenthesised command name.
            let state = text
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            if state == Some("T") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("watchfs did not stop on SIGSTOP".into());
            }
            std::thread::yield_now();
        }
    }
}

impl Drop for Watchfs {
    fn drop(&mut self) {
        let _ = self.signal("CONT");
        let _ = self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(binary: &Path, options: &Options) -> Result<Report> {
    let scratch = TempDir::try_new("watchfs-storm")?;
    let root = scratch.path().join("tree");
    let outside = scratch.path().join("outside");
    fs::create_dir(&root)?;
    fs::create_dir(&outside)?;
    let mut storm = Storm::new(&root, &outside, options.seed);
    storm.seed_tree();

    let mut child = Command::new(binary)
        .args(["-r", "--json"])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let watchfs = Watchfs(child);
    let out: Lines = Arc::default();
    let err: Lines = Arc::default();
    let (tell, told) = mpsc::channel();
    collect(stdout, Arc::clone(&out), None);
    collect(stderr, Arc::clone(&err), Some(tell));
    let established = Instant::now() + ESTABLISH_TIMEOUT;
    loop {
        let left = established.saturating_duration_since(Instant::now());
        match told.recv_timeout(left) {
            Ok(line) if line.contains("watches established") => break,
            Ok(_) => {}
            Err(_) => return Err("watchfs did not establish its watches".into()),
        }
    }
    let initial = scan(&root);

    let queue = max_queued_events();
    let cookie = root.join(".storm-cookie");
    let tracer = if options.trace {
        let tracer = Tracer::new(&root, options.replays)?;
        let cookie = cookie.clone();
        Some(std::thread::spawn(move || tracer.run(&cookie)))
    } else {
        None
    };
    let start = Instant::now();
    for i in 0..options.ops {
        if options.stop && i == options.ops / 3 {
            watchfs.signal("STOP")?;
        }
        if options.stop && i == 2 * options.ops / 3 {
            watchfs.signal("CONT")?;
        }
        if options.overflow && i == options.ops / 2 {
            watchfs.signal("STOP")?;
            watchfs.wait_stopped()?;
            storm.burst(queue + queue / 4);
            watchfs.signal("CONT")?;
        }
        storm.step();
    }
    let storm_time = start.elapsed();

    // Everything before the cookie is printed once the cookie is. A second
    // cookie, written once the first is printed, also flushes what the
    // watcher reports only on its next read after a quiet queue.
    fs::write(&cookie, b"")?;
    if let Some(tracer) = tracer {
        tracer.join().map_err(|_| "the tracer panicked")??;
    }
    wait_for_path(&out, &cookie)?;
    let second = root.join(".storm-cookie-2");
    fs::write(&second, b"")?;
    let printed = wait_for_path(&out, &second)?;
    let drained = start.elapsed() - storm_time;
    drop(watchfs);
    fs::remove_file(&cookie)?;
    fs::remove_file(&second)?;

    let mut events = Vec::with_capacity(printed.len());
    for (at, line) in &printed {
        let event = Printed::parse(line).ok_or_else(|| format!("not an event: {line}"))?;
        events.push((*at, event));
    }
    let mut folded = initial;
    let mut odd = Vec::new();
    for (i, (_, event)) in events.iter().enumerate() {
        if let Some(what) = event.odd(&folded, &root) {
            odd.push((i, what));
        }
        event.fold(&mut folded);
    }
    folded.remove(&cookie);
    folded.remove(&second);
    let real = scan(&root);
    // Clues for a failure: events that do not fit the tree they apply to,
    // with their batch.
    let differs = real.iter().any(|(p, d)| folded.get(p) != Some(d))
        || folded.iter().any(|(p, d)| real.get(p) != Some(d));
    if differs {
        for (i, what) in odd.iter().take(3) {
            println!("  odd event: {what}");
            let batch = &events[*i].1.batch;
            for (_, e) in events.iter().filter(|(_, e)| e.batch == *batch) {
                println!("    {}", e.show(&root));
            }
        }
    }
    let missing = real
        .iter()
        .filter(|(p, d)| folded.get(*p) != Some(d))
        .map(|(p, _)| p.clone())
        .collect();
    let extra = folded
        .iter()
        .filter(|(p, d)| real.get(*p) != Some(d))
        .map(|(p, _)| p.clone())
        .collect();
    // Path (as the output, folded, names it at the end) -> when the last
    // event telling a consumer to look at its content was read.
    let mut told: BTreeMap<PathBuf, Instant> = BTreeMap::new();
    for (at, e) in &events {
        e.fold_times(&mut told, *at);
    }
    let mut unreported = Vec::new();
    let mut written = 0;
    for file in &storm.files {
        let Some(write) = &file.write else { continue };
        written += 1;
        if told.get(&file.path).is_none_or(|at| *at < write.at) {
            unreported.push(file.path.clone());
        }
    }
    Ok(Report {
        options: options.clone(),
        ops: options.ops,
        lines: events.len(),
        overflows: events.iter().filter(|(_, e)| e.kind == "overflow").count(),
        storm: storm_time,
        drained,
        missing,
        extra,
        unreported,
        written,
        files: storm.files.len(),
    })
}

/// Waits until a line of `out` names `path`; returns every line so far.
fn wait_for_path(out: &Lines, path: &Path) -> Result<Vec<(Instant, String)>> {
    let text = path.to_string_lossy().into_owned();
    let deadline = Instant::now() + COOKIE_TIMEOUT;
    let mut looked = 0;
    loop {
        {
            let lines = out.lock().map_err(|_| "output lock poisoned")?;
            let found = lines[looked..].iter().any(|(_, l)| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["path"].as_str() == Some(&text))
            });
            looked = lines.len();
            if found {
                return Ok(lines.clone());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "watchfs did not report {} within two minutes",
                path.display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Tree;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse(&args("--cli")).unwrap();
        assert_eq!(
            (o.ops, o.stop, o.overflow, o.release),
            (20_000, false, false, false)
        );
        assert!(parse(&args("--cli --release")).unwrap().release);
        let o = parse(&args("--cli --ops 100000 --seed 7 --stop --overflow")).unwrap();
        assert_eq!(
            (o.ops, o.seed, o.stop, o.overflow),
            (100_000, 7, true, true)
        );
        for bad in ["--ops", "--ops x", "--seed -1", "--nope"] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn output_lines_fold_as_events_document() {
        let lines = [
            r#"{"kind":"created","path":"/r/a","from":null,"is_dir":true}"#,
            r#"{"kind":"created","path":"/r/a/f","from":null,"is_dir":false}"#,
            r#"{"kind":"renamed","path":"/r/b","from":"/r/a","is_dir":true}"#,
            r#"{"kind":"created","path":"/r/x","from":null,"is_dir":false}"#,
            r#"{"kind":"removed","path":"/r/x","from":null,"is_dir":false}"#,
            r#"{"kind":"overflow","path":"/r","from":null,"is_dir":true}"#,
        ];
        let mut tree = Tree::new();
        for line in lines {
            Printed::parse(line).unwrap().fold(&mut tree);
        }
        let want: Tree = [
            (PathBuf::from("/r/b"), true),
            (PathBuf::from("/r/b/f"), false),
        ]
        .into_iter()
        .collect();
        assert_eq!(tree, want);
        assert!(Printed::parse("watchfs: not json").is_none());
    }

    #[test]
    fn a_loss_or_an_invention_fails_the_verdict() {
        let report = |missing: usize, extra: usize, overflows: usize| Report {
            options: parse(&args("--cli --overflow")).unwrap(),
            ops: 1,
            lines: 1,
            overflows,
            storm: Duration::ZERO,
            drained: Duration::ZERO,
            missing: vec![PathBuf::from("m"); missing],
            extra: vec![PathBuf::from("e"); extra],
            unreported: Vec::new(),
            written: 0,
            files: 0,
        };
        let options = parse(&args("--cli --overflow")).unwrap();
        assert!(report(0, 0, 1).verdict(&options).is_ok());
        assert!(report(1, 0, 1).verdict(&options).is_err());
        assert!(report(0, 1, 1).verdict(&options).is_err());
        assert!(report(0, 0, 0).verdict(&options).is_err());
    }
}
