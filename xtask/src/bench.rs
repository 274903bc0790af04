//! `cargo xtask bench [--quick] [--summary-only]`: runs the criterion benches
//! of the `benches` crate, then prints one summary table and writes it to
//! `target/bench-summary.md`, next to criterion's HTML reports
//! (`target/criterion/report/index.html`).
//!
//! The summary holds, per operation, the median of every implementation and
//! its ratio to the raw floor and to each peer crate (time ratios: below
//! 1.00x is faster), the latency percentiles, the storm and memory figures
//! the benches record themselves, and whether each target of the benches
//! issue is met. Ratios matter more than absolute times: the machines are
//! shared, so all implementations of a comparison run in one go.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::Result;
use crate::workspace::{self, seconds};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--summary-only | --reload-only]

  --quick         small sizes, short warm-up and measurement, no plots
                  (the CI smoke run; well under two minutes once built)
  --summary-only  do not run the benches; summarise the results on disk
  --reload-only   run only the reload scenarios against a real Prometheus";

/// Where the reload section is kept between runs, relative to the target
/// directory (`--summary-only` shows the last one).
const RELOAD_SECTION: &str = "bench-reload.md";

/// Set for the bench binaries to select their quick sizes (see
/// `benches::mode::QUICK_ENV`).
const QUICK_ENV: &str = "WATCHFS_BENCH_QUICK";

/// Where the benches write the figures criterion does not keep, relative to
/// the target directory (see `benches::results`).
const EXTRA_DIR: &str = "criterion/watchfs";

/// Implementations in display order. `raw` is the inotify floor; `batch`
/// and `per-fd` are the two ways of registering with kqueue.
const IMPLEMENTATIONS: &[&str] = &[
    "raw",
    "ours",
    "watch-core",
    "inotify-published",
    "notify",
    "batch",
    "per-fd",
];
/// The floors every implementation is compared with, where measured.
const FLOORS: &[&str] = &["raw", "per-fd"];
/// The peer crates every implementation is also compared with.
const PEERS: &[&str] = &["inotify-published", "notify"];

/// Entry point of `cargo xtask bench`.
pub fn main(args: &[String]) -> Result {
    let (mut quick, mut summary_only, mut reload_only) = (false, false, false);
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            "--summary-only" => summary_only = true,
            "--reload-only" => reload_only = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}").into()),
        }
    }
    let root = workspace::root();
    let target = target_dir(&root);
    let reload_path = target.join(RELOAD_SECTION);
    let reload = if summary_only {
        fs::read_to_string(&reload_path).unwrap_or_default()
    } else {
        let section = crate::reload_bench::section(&root, &target, quick)?;
        fs::write(&reload_path, &section)
            .map_err(|e| format!("cannot write {}: {e}", reload_path.display()))?;
        section
    };
    if reload_only {
        println!("{reload}");
        return Ok(());
    }
    let since = if summary_only {
        None
    } else {
        Some(run_benches(&root, &target, quick)?)
    };
    let results = collect(&target, since)?;
    if results.medians.is_empty() {
        return Err(format!(
            "no criterion results under {}; run `cargo xtask bench` first",
            target.join("criterion").display()
        )
        .into());
    }
    let mode = if quick { "quick" } else { "full" };
    let mut summary = summarise(&results, &machine(mode));
    summary.push_str(&reload);
    println!("{summary}");
    let path = target.join("bench-summary.md");
    fs::write(&path, &summary).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!(
        "bench: summary written to {}; criterion reports in {}",
        workspace::relative(&path, &root).display(),
        workspace::relative(&target.join("criterion/report/index.html"), &root).display()
    );
    Ok(())
}

/// `cargo xtask bench --quick`, for `cargo xtask ci`.
pub fn quick(_args: &[String]) -> Result {
    main(&["--quick".to_owned()])
}

/// The cargo target directory: `CARGO_TARGET_DIR` or `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Runs every bench target; returns when it started, so only results
/// written by this run are summarised.
fn run_benches(root: &Path, target: &Path, quick: bool) -> Result<SystemTime> {
    let extra = target.join(EXTRA_DIR);
    if extra.exists() {
        fs::remove_dir_all(&extra).map_err(|e| format!("cannot clear {}: {e}", extra.display()))?;
    }
    let started = SystemTime::now();
    let clock = Instant::now();
    let mut command = workspace::cargo();
    // `--bench '*'`: the bench targets only, not the library's test harness,
    // which would reject criterion's options.
    command
        .args(["bench", "-p", "benches", "--bench", "*", "--"])
        .current_dir(root);
    if quick {
        command.arg("--noplot").env(QUICK_ENV, "1");
    } else {
        command.env_remove(QUICK_ENV);
    }
    workspace::run(&mut command)?;
    println!("bench: benches ran in {}", seconds(clock.elapsed()));
    Ok(started)
}

/// One criterion benchmark: `group/function/parameter`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Id {
    group: String,
    function: String,
    parameter: String,
}

/// Everything a run left on disk.
#[derive(Debug, Default)]
struct Results {
    /// Criterion's median in nanoseconds and the elements per iteration.
    medians: BTreeMap<Id, (f64, Option<f64>)>,
    /// The benches' own figures: `(id, metric) -> value`, where the id's
    /// function is the implementation.
    extra: BTreeMap<(Id, String), f64>,
}

impl Results {
    fn median(&self, group: &str, function: &str, parameter: &str) -> Option<f64> {
        self.medians
            .get(&id(group, function, parameter))
            .map(|(median, _)| *median)
    }

    fn extra(&self, group: &str, function: &str, parameter: &str, metric: &str) -> Option<f64> {
        self.extra
            .get(&(id(group, function, parameter), metric.to_owned()))
            .copied()
    }

    /// The parameters measured in `group`, in order.
    fn parameters(&self, group: &str) -> Vec<String> {
        let mut params: Vec<String> = self
            .medians
            .keys()
            .filter(|k| k.group == group)
            .map(|k| k.parameter.clone())
            .collect();
        params.dedup();
        params.sort_by_key(|p| (p.parse::<u64>().unwrap_or(u64::MAX), p.clone()));
        params.dedup();
        params
    }

    /// The implementations measured in `group` for `parameter`, in display order.
    fn implementations(&self, group: &str, parameter: &str) -> Vec<&'static str> {
        IMPLEMENTATIONS
            .iter()
            .copied()
            .filter(|f| self.median(group, f, parameter).is_some())
            .collect()
    }
}

fn id(group: &str, function: &str, parameter: &str) -> Id {
    Id {
        group: group.to_owned(),
        function: function.to_owned(),
        parameter: parameter.to_owned(),
    }
}

/// Reads criterion's `new/benchmark.json` + `new/estimates.json` pairs
/// (those written at or after `since`, if given) and the benches' own
/// result files.
fn collect(target: &Path, since: Option<SystemTime>) -> Result<Results> {
    let mut results = Results::default();
    let criterion = target.join("criterion");
    let mut pending = vec![criterion.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|n| n == "benchmark.json")
                && path.parent().is_some_and(|p| p.ends_with("new"))
            {
                let fresh = since.is_none_or(|since| {
                    fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .is_ok_and(|modified| modified >= since)
                });
                if fresh {
                    let (id, median, elements) = read_benchmark(&path)?;
                    results.medians.insert(id, (median, elements));
                }
            }
        }
    }
    if let Ok(entries) = fs::read_dir(target.join(EXTRA_DIR)) {
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "tsv") {
                let text = fs::read_to_string(&path)?;
                parse_extra(&text, &mut results.extra)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    Ok(results)
}

/// One benchmark's id, median (ns) and elements per iteration.
fn read_benchmark(benchmark_json: &Path) -> Result<(Id, f64, Option<f64>)> {
    let read = |path: &Path| -> Result<serde_json::Value> {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?)
    };
    let benchmark = read(benchmark_json)?;
    let estimates = read(&benchmark_json.with_file_name("estimates.json"))?;
    let text = |key: &str| benchmark[key].as_str().unwrap_or_default().to_owned();
    let id = Id {
        group: text("group_id"),
        function: text("function_id"),
        parameter: text("value_str"),
    };
    let median = estimates["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| {
            format!(
                "{}: no median.point_estimate",
                benchmark_json.with_file_name("estimates.json").display()
            )
        })?;
    let elements = benchmark["throughput"]["Elements"].as_f64();
    Ok((id, median, elements))
}

/// Parses `group<TAB>implementation<TAB>parameter<TAB>metric<TAB>value` lines.
fn parse_extra(text: &str, into: &mut BTreeMap<(Id, String), f64>) -> Result {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [group, implementation, parameter, metric, value] = fields[..] else {
            return Err(format!("line {}: expected 5 tab-separated fields", n + 1).into());
        };
        let value: f64 = value
            .parse()
            .map_err(|e| format!("line {}: bad value `{value}`: {e}", n + 1))?;
        into.insert(
            (id(group, implementation, parameter), metric.to_owned()),
            value,
        );
    }
    Ok(())
}

/// One line saying what the numbers were measured on (no host names).
fn machine(mode: &str) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{mode} run on a {cores}-core {} {} machine",
        std::env::consts::OS,
        std::env::consts::ARCH,
    )
}

/// Nanoseconds as a short human time.
fn human(ns: f64) -> String {
    let (value, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}x", a / b)
}

/// What each group measures, for the table headings.
const GROUPS: &[(&str, &str)] = &[
    (
        "registration",
        "Registration: add then remove a watch on each of N directories",
    ),
    (
        "decode",
        "Decode a prepared buffer of mixed records, no system call",
    ),
    (
        "read_decode",
        "read(2) + decode of the same buffer through a descriptor",
    ),
    (
        "kqueue_registration",
        "kqueue: add then delete a vnode registration on each of N directories",
    ),
    (
        "recursive_setup",
        "Recursive setup: watch every directory of a tree",
    ),
];

/// The whole summary, as Markdown.
fn summarise(results: &Results, machine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# watchfs bench summary\n");
    let _ = writeln!(
        out,
        "{machine}. Medians from criterion; \"vs X\" is time / time of X \
         (below 1.00x is faster). Machines are shared: compare ratios, not times.\n"
    );
    for (group, title) in GROUPS {
        for parameter in results.parameters(group) {
            median_table(&mut out, results, group, title, &parameter);
        }
    }
    latency_table(&mut out, results);
    storm_table(&mut out, results);
    memory_table(&mut out, results);
    targets(&mut out, results);
    out
}

fn median_table(out: &mut String, results: &Results, group: &str, title: &str, parameter: &str) {
    let implementations = results.implementations(group, parameter);
    if implementations.is_empty() {
        return;
    }
    let heading = if parameter.is_empty() {
        format!("## {title}")
    } else {
        format!("## {title} ({parameter})")
    };
    let _ = writeln!(out, "{heading}\n");
    let references: Vec<&str> = FLOORS
        .iter()
        .chain(PEERS)
        .copied()
        .filter(|r| implementations.contains(r))
        .collect();
    let mut header = String::from("| implementation | median | per item |");
    let mut rule = String::from("|---|---:|---:|");
    for r in &references {
        let _ = write!(header, " vs {r} |");
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for implementation in &implementations {
        let Some((median, elements)) = results.medians.get(&id(group, implementation, parameter))
        else {
            continue;
        };
        let per_item = elements.map_or("".to_owned(), |n| human(median / n));
        let mut row = format!("| {implementation} | {} | {per_item} |", human(*median));
        for r in &references {
            let cell = results
                .median(group, r, parameter)
                .map_or(String::new(), |reference| ratio(*median, reference));
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(out, "{row}");
    }
    let paired: Vec<String> = results
        .extra
        .iter()
        .filter(|((id, metric), _)| {
            id.group == group && id.parameter == parameter && metric.starts_with("paired_ratio_vs_")
        })
        .map(|((id, metric), v)| {
            let reference = metric.trim_start_matches("paired_ratio_vs_");
            format!("{} / {reference} = {v:.2}x", id.function)
        })
        .collect();
    if !paired.is_empty() {
        let _ = writeln!(
            out,
            "\nTimed side by side (median of alternating rounds): {}.",
            paired.join(", ")
        );
    }
    out.push('\n');
}

fn latency_table(out: &mut String, results: &Results) {
    let implementations = results.implementations("latency", "");
    if implementations.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Latency: write to a watched file until the event is in user code\n"
    );
    let _ = writeln!(
        out,
        "| implementation | median | p50 | p99 | p50 vs raw | p99 vs raw | p50 vs notify | samples |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    let p = |f: &str, metric: &str| results.extra("latency", f, "", metric);
    for f in implementations {
        let median = results.median("latency", f, "").unwrap_or(f64::NAN);
        let cell = |v: Option<f64>| v.map_or(String::new(), human);
        let vs = |metric: &str, reference: &str| match (p(f, metric), p(reference, metric)) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => String::new(),
        };
        let samples = p(f, "samples").map_or(String::new(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "| {f} | {} | {} | {} | {} | {} | {} | {samples} |",
            human(median),
            cell(p(f, "p50_ns")),
            cell(p(f, "p99_ns")),
            vs("p50_ns", "raw"),
            vs("p99_ns", "raw"),
            vs("p50_ns", "notify"),
        );
    }
    out.push('\n');
}

fn storm_table(out: &mut String, results: &Results) {
    let parameter = storm_parameter(results);
    let figure = |f: &str, metric: &str| results.extra("storm", f, &parameter, metric);
    let implementations: Vec<&str> = IMPLEMENTATIONS
        .iter()
        .copied()
        .filter(|f| figure(f, "drain_ns").is_some())
        .collect();
    if implementations.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Storm: {parameter} files created while user code is busy, then drained\n"
    );
    let _ = writeln!(
        out,
        "| implementation | drain (median) | vs raw | vs notify | events/s to user code | lost / created | overflows |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for f in implementations {
        let drain = figure(f, "drain_ns");
        let vs = |reference: &str| match (drain, figure(reference, "drain_ns")) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => String::new(),
        };
        let whole = |metric: &str| figure(f, metric).map_or(String::new(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "| {f} | {} | {} | {} | {} | {} / {} | {} |",
            drain.map_or(String::new(), human),
            vs("raw"),
            vs("notify"),
            whole("events_per_sec"),
            whole("lost"),
            whole("created"),
            whole("overflows"),
        );
    }
    out.push('\n');
}

fn memory_table(out: &mut String, results: &Results) {
    let rows: Vec<(&Id, f64)> = results
        .extra
        .iter()
        .filter(|((id, metric), _)| id.group == "memory" && metric == "rss_bytes_per_dir")
        .map(|((id, _), v)| (id, *v))
        .collect();
    let Some((first, _)) = rows.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "## Resident memory per watched directory ({}; user space only, own process each)\n",
        first.parameter
    );
    let _ = writeln!(
        out,
        "| implementation | VmRSS delta | bytes per directory | vs notify |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let notify = rows
        .iter()
        .find(|(id, _)| id.function == "notify")
        .map(|(_, v)| *v);
    for implementation in IMPLEMENTATIONS {
        let Some((id, per_dir)) = rows.iter().find(|(id, _)| id.function == *implementation) else {
            continue;
        };
        let kib = results
            .extra(&id.group, &id.function, &id.parameter, "rss_delta_kib")
            .map_or(String::new(), |k| format!("{k:.0} KiB"));
        let vs = notify.map_or(String::new(), |n| ratio(*per_dir, n));
        let _ = writeln!(out, "| {implementation} | {kib} | {per_dir:.0} | {vs} |");
    }
    out.push('\n');
}

/// A target's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Met,
    Missed,
    NotMeasured,
}

impl Verdict {
    fn of(value: Option<bool>) -> Verdict {
        match value {
            Some(true) => Verdict::Met,
            Some(false) => Verdict::Missed,
            None => Verdict::NotMeasured,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One row of the targets table.
struct Target {
    what: String,
    measured: String,
    verdict: Verdict,
}

/// Checks a time ratio `a / b` against `limit` (`a <= limit * b`).
fn within(what: String, a: Option<f64>, b: Option<f64>, limit: f64) -> Target {
    let value = a.zip(b).map(|(a, b)| a / b);
    Target {
        what,
        measured: value.map_or("-".to_owned(), |v| format!("{v:.2}x")),
        verdict: Verdict::of(value.map(|v| v <= limit)),
    }
}

/// Checks the ratio a bench timed side by side (`paired`), or else the
/// ratio of two criterion medians, against `limit`.
fn within_paired(
    what: String,
    paired: Option<f64>,
    medians: (Option<f64>, Option<f64>),
    limit: f64,
) -> Target {
    match paired {
        Some(ratio) => Target {
            what,
            measured: format!("{ratio:.2}x side by side"),
            verdict: Verdict::of(Some(ratio <= limit)),
        },
        None => within(what, medians.0, medians.1, limit),
    }
}

fn evaluate(results: &Results) -> Vec<Target> {
    let mut targets = Vec::new();
    let registration = results.parameters("registration");
    for n in &registration {
        targets.push(within_paired(
            format!("our inotify add+remove path within 1.10x of raw (N = {n})"),
            results.extra("registration", "ours", n, "paired_ratio_vs_raw"),
            (
                results.median("registration", "ours", n),
                results.median("registration", "raw", n),
            ),
            1.10,
        ));
    }
    if registration.is_empty() {
        targets.push(within(
            "our inotify add+remove path within 1.10x of raw".into(),
            None,
            None,
            1.10,
        ));
    }
    targets.push(within(
        "our decoder at least as fast as the raw loop".into(),
        results.median("decode", "ours", ""),
        results.median("decode", "raw", ""),
        1.0,
    ));
    let ours = results.median("read_decode", "ours", "");
    let peer = results.median("read_decode", "inotify-published", "");
    targets.push(Target {
        what: "our read+decode faster than the published inotify's".into(),
        measured: ours
            .zip(peer)
            .map_or("-".into(), |(a, b)| format!("{:.2}x", a / b)),
        verdict: Verdict::of(ours.zip(peer).map(|(a, b)| a < b)),
    });
    let trees = results.parameters("recursive_setup");
    for tree in &trees {
        let core = results.median("recursive_setup", "watch-core", tree);
        targets.push(within_paired(
            format!("watch-core recursive setup within 1.25x of raw ({tree})"),
            results.extra("recursive_setup", "watch-core", tree, "paired_ratio_vs_raw"),
            (core, results.median("recursive_setup", "raw", tree)),
            1.25,
        ));
        let paired = results.extra(
            "recursive_setup",
            "notify",
            tree,
            "paired_ratio_vs_watch-core",
        );
        let notify = results.median("recursive_setup", "notify", tree);
        let speedup = paired.or(notify.zip(core).map(|(n, c)| n / c));
        let how = if paired.is_some() {
            " side by side"
        } else {
            ""
        };
        targets.push(Target {
            what: format!("watch-core recursive setup at least 2x faster than notify ({tree})"),
            measured: speedup.map_or("-".into(), |v| format!("notify / watch-core {v:.2}x{how}")),
            verdict: Verdict::of(speedup.map(|v| v >= 2.0)),
        });
    }
    if trees.is_empty() {
        targets.push(within(
            "watch-core recursive setup within 1.25x of raw".into(),
            None,
            None,
            1.25,
        ));
    }
    let memory = |f: &str| {
        results
            .extra
            .iter()
            .find(|((id, metric), _)| {
                id.group == "memory" && id.function == f && metric == "rss_bytes_per_dir"
            })
            .map(|(_, v)| *v)
    };
    let (core, notify) = (memory("watch-core"), memory("notify"));
    targets.push(Target {
        what: "watch-core memory per watched directory below notify's".into(),
        measured: core
            .zip(notify)
            .map_or("-".into(), |(c, n)| format!("{c:.0} B vs {n:.0} B")),
        verdict: Verdict::of(core.zip(notify).map(|(c, n)| c < n)),
    });
    for f in ["ours", "watch-core"] {
        targets.push(within(
            format!("latency p50 of {f} within 1.2x of raw"),
            results.extra("latency", f, "", "p50_ns"),
            results.extra("latency", "raw", "", "p50_ns"),
            1.2,
        ));
    }
    let lost = results.extra("storm", "watch-core", &storm_parameter(results), "lost");
    targets.push(Target {
        what: "watch-core loses no change in a storm (after sync)".into(),
        measured: lost.map_or("-".into(), |v| format!("{v:.0} lost")),
        verdict: Verdict::of(lost.map(|v| v == 0.0)),
    });
    targets
}

/// The storm size measured (the benches record one).
fn storm_parameter(results: &Results) -> String {
    results
        .extra
        .keys()
        .find(|(id, _)| id.group == "storm")
        .map(|(id, _)| id.parameter.clone())
        .unwrap_or_default()
}

fn targets(out: &mut String, results: &Results) {
    let targets = evaluate(results);
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(out, "| target | measured | verdict |");
    let _ = writeln!(out, "|---|---:|---|");
    for t in &targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            t.what,
            t.measured,
            t.verdict.label()
        );
    }
    let missed: Vec<&str> = targets
        .iter()
        .filter(|t| t.verdict == Verdict::Missed)
        .map(|t| t.what.as_str())
        .collect();
    let unmeasured = targets
        .iter()
        .filter(|t| t.verdict == Verdict::NotMeasured)
        .count();
    out.push('\n');
    if missed.is_empty() {
        let _ = writeln!(out, "No target missed.");
    } else {
        let _ = writeln!(out, "Missed: {}.", missed.join("; "));
    }
    if unmeasured > 0 {
        let _ = writeln!(
            out,
            "{unmeasured} target(s) not measured in this run (an implementation was left out)."
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::TempDir;

    fn write_benchmark(dir: &TempDir, full: &str, median: f64, elements: Option<u64>) {
        let parts: Vec<&str> = full.split('/').collect();
        let (group, function, value) = (parts[0], parts[1], parts.get(2).copied());
        let throughput = elements.map_or("null".to_owned(), |n| format!("{{\"Elements\":{n}}}"));
        let value = value.map_or("null".to_owned(), |v| format!("\"{v}\""));
        dir.write(
            &format!("criterion/{full}/new/benchmark.json"),
            &format!(
                "{{\"group_id\":\"{group}\",\"function_id\":\"{function}\",\"value_str\":{value},\
                 \"throughput\":{throughput},\"full_id\":\"{full}\"}}"
            ),
        );
        dir.write(
            &format!("criterion/{full}/new/estimates.json"),
            &format!(
                "{{\"median\":{{\"point_estimate\":{median}}},\"mean\":{{\"point_estimate\":1}}}}"
            ),
        );
    }

    fn sample() -> (TempDir, Results) {
        let dir = TempDir::new("bench-summary");
        write_benchmark(&dir, "registration/raw/1000", 1_000_000.0, Some(1000));
        write_benchmark(&dir, "registration/ours/1000", 1_050_000.0, Some(1000));
        write_benchmark(&dir, "registration/notify/1000", 9_000_000.0, Some(1000));
        write_benchmark(&dir, "decode/raw", 10_000.0, Some(2000));
        write_benchmark(&dir, "decode/ours", 12_000.0, Some(2000));
        write_benchmark(&dir, "latency/raw", 20_000.0, None);
        write_benchmark(&dir, "latency/ours", 21_000.0, None);
        // A stale copy in criterion's `base` must be ignored.
        dir.write(
            "criterion/decode/ours/base/benchmark.json",
            "{\"group_id\":\"decode\",\"function_id\":\"ours\",\"value_str\":null}",
        );
        dir.write(
            "criterion/watchfs/latency.tsv",
            "latency\traw\t\tp50_ns\t20000\nlatency\tours\t\tp50_ns\t30000\n\
             latency\tours\t\tp99_ns\t90000\n",
        );
        dir.write(
            "criterion/watchfs/registration.tsv",
            "registration\tours\t1000\tpaired_ratio_vs_raw\t1.08\n",
        );
        dir.write(
            "criterion/watchfs/recursive.tsv",
            "memory\tnotify\t10dirs\trss_bytes_per_dir\t600\n\
             memory\twatch-core\t10dirs\trss_bytes_per_dir\t200\n",
        );
        dir.write(
            "criterion/watchfs/storm.tsv",
            "storm\traw\t500\tdrain_ns\t1000000\nstorm\traw\t500\tlost\t3\n\
             storm\traw\t500\tcreated\t1500\nstorm\twatch-core\t500\tdrain_ns\t2500000\n\
             storm\twatch-core\t500\tlost\t0\nstorm\twatch-core\t500\tcreated\t1500\n",
        );
        let results = collect(dir.path(), None).expect("collect");
        (dir, results)
    }

    #[test]
    fn collects_medians_and_extra_figures() {
        let (_dir, results) = sample();
        assert_eq!(results.medians.len(), 7);
        assert_eq!(
            results.medians[&id("registration", "ours", "1000")],
            (1_050_000.0, Some(1000.0))
        );
        assert_eq!(results.median("decode", "ours", ""), Some(12_000.0));
        assert_eq!(
            results.extra("latency", "ours", "", "p99_ns"),
            Some(90_000.0)
        );
        assert_eq!(results.parameters("registration"), ["1000"]);
        assert_eq!(
            results.implementations("registration", "1000"),
            ["raw", "ours", "notify"]
        );
    }

    #[test]
    fn results_older_than_the_run_are_left_out() {
        let (dir, _) = sample();
        let future = SystemTime::now() + std::time::Duration::from_secs(3600);
        let results = collect(dir.path(), Some(future)).expect("collect");
        assert!(results.medians.is_empty());
    }

    #[test]
    fn summary_has_ratios_and_plain_verdicts() {
        let (_dir, results) = sample();
        let summary = summarise(&results, "test run");
        assert!(
            summary.contains("| ours | 1.05 ms | 1.05 µs | 1.05x | 0.12x |"),
            "{summary}"
        );
        assert!(
            summary.contains("| notify | 9.00 ms | 9.00 µs | 9.00x | 1.00x |"),
            "{summary}"
        );
        assert!(summary.contains(
            "| our inotify add+remove path within 1.10x of raw (N = 1000) | 1.08x side by side | met |"
        ), "{summary}");
        assert!(
            summary
                .contains("Timed side by side (median of alternating rounds): ours / raw = 1.08x.")
        );
        assert!(
            summary.contains("| our decoder at least as fast as the raw loop | 1.20x | MISSED |")
        );
        assert!(summary.contains("| latency p50 of ours within 1.2x of raw | 1.50x | MISSED |"));
        assert!(
            summary.contains("| ours | 21.0 µs | 30.0 µs | 90.0 µs | 1.50x |"),
            "{summary}"
        );
        assert!(summary.contains(
            "| watch-core memory per watched directory below notify's | 200 B vs 600 B | met |"
        ));
        assert!(
            summary.contains("| watch-core |  | 200 | 0.33x |"),
            "{summary}"
        );
        assert!(summary.contains("Missed: our decoder at least as fast as the raw loop; latency p50 of ours within 1.2x of raw."));
        assert!(summary.contains("not measured in this run"));
        assert!(summary.contains("## Storm: 500 files"), "{summary}");
        assert!(
            summary.contains("| raw | 1.00 ms | 1.00x |  |  | 3 / 1500 |  |"),
            "{summary}"
        );
        assert!(
            summary.contains("| watch-core | 2.50 ms | 2.50x |  |  | 0 / 1500 |  |"),
            "{summary}"
        );
        assert!(
            summary
                .contains("| watch-core loses no change in a storm (after sync) | 0 lost | met |")
        );
    }

    #[test]
    fn bad_result_lines_are_reported_with_their_number() {
        let mut into = BTreeMap::new();
        let err = parse_extra("a\tb\tc\td\t1\nbroken line\n", &mut into).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_extra("a\tb\tc\td\tx\n", &mut into).unwrap_err();
        assert!(err.to_string().contains("bad value `x`"), "{err}");
    }

    #[test]
    fn human_times() {
        assert_eq!(human(812.0), "812 ns");
        assert_eq!(human(12_345.0), "12.3 µs");
        assert_eq!(human(4_560_000.0), "4.56 ms");
        assert_eq!(human(1_230_000_000.0), "1.23 s");
    }
}
