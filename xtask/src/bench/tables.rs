//! The summary's tables: medians, latency, storms and the scale curve.

use std::fmt::Write as _;

use super::results::{Paired, Results, id};
use super::targets::{Verdict, extra_parameter, targets};
use super::{FLOORS, IMPLEMENTATIONS, PEERS, human, ratio};

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
pub(super) fn summarise(results: &Results, machine: &str) -> String {
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
    storm_table(&mut out, results, "storm", "Storm");
    storm_table(&mut out, results, "drain", "Drain burst (no overflow)");
    scale_table(&mut out, results);
    scale_targets_table(&mut out, results);
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
    for target in results.parameters("latency") {
        let implementations = results.implementations("latency", &target);
        if implementations.is_empty() {
            continue;
        }
        let watched = match target.as_str() {
            "file" => "the file watched",
            "dir" => "its directory watched",
            _ => "watched",
        };
        let _ = writeln!(
            out,
            "## Latency: write to a file, {watched}, until the event is in user code\n"
        );
        let _ = writeln!(
            out,
            "| implementation | median | p50 | p99 | p50 vs raw | p99 vs raw | p50 vs notify | samples |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let p = |f: &str, metric: &str| results.extra("latency", f, &target, metric);
        for f in implementations {
            let median = results.median("latency", f, &target).unwrap_or(f64::NAN);
            let cell = |v: Option<f64>| v.map_or(String::new(), human);
            let vs = |metric: &str, reference: &str| {
                // The p50 ratio taken side by side, where recorded.
                let paired = (metric == "p50_ns")
                    .then(|| results.paired("latency", f, &target, reference))
                    .flatten();
                match (paired, p(f, metric), p(reference, metric)) {
                    (Some(q), _, _) => q.show(),
                    (None, Some(a), Some(b)) => ratio(a, b),
                    _ => String::new(),
                }
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
        if implementations_paired(results, &target) {
            let _ = writeln!(
                out,
                "\np50 ratios timed side by side: the median of the ratios of p50s \
                 taken block by block over rounds of one sample per implementation \
                 (order rotating), quartiles in brackets.\n"
            );
        } else {
            out.push('\n');
        }
    }
}

/// Whether the latency rows of `target` carry ratios timed side by side.
fn implementations_paired(results: &Results, target: &str) -> bool {
    results
        .implementations("latency", target)
        .iter()
        .any(|f| results.paired("latency", f, target, "raw").is_some())
}

/// The storm (`group` "storm") or drain burst ("drain") table.
fn storm_table(out: &mut String, results: &Results, group: &str, title: &str) {
    let parameter = extra_parameter(results, group);
    let figure = |f: &str, metric: &str| results.extra(group, f, &parameter, metric);
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
        "## {title}: {parameter} files created while user code is busy, then drained\n"
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

/// A scale point's label, `DIRSxFILES_PER_DIR`, as numbers.
pub(super) fn point_of(label: &str) -> Option<(u64, u64)> {
    let (dirs, files) = label.split_once('x')?;
    Some((dirs.parse().ok()?, files.parse().ok()?))
}

/// Thousands separated by commas: 100000 -> "100,000".
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The scale curve: setup time and memory per point, side by side.
fn scale_table(out: &mut String, results: &Results) {
    if results.scale_points().is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Scale curve: recursive setup and resident memory per watched directory\n"
    );
    let _ = writeln!(
        out,
        "Setup: median of side-by-side rounds (order rotating), and the median \
         per-round ratio to raw with its quartiles in brackets (the noise). Memory: \
         VmRSS delta / watched directories, own process each, user space only.\n"
    );
    scale_curve(out, results, true);
}

/// The scale curve's rows: with `detailed`, setup times, rounds and the
/// quartiles of the ratios; else ratios and bytes only (README's table).
pub(super) fn scale_curve(out: &mut String, results: &Results, detailed: bool) {
    if detailed {
        let _ = writeln!(
            out,
            "| directories x files each | rounds | raw setup | watch-core setup | notify setup | \
             raw B/dir | watch-core B/dir | notify B/dir |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    } else {
        let _ = writeln!(
            out,
            "| tree: directories x files each | setup vs raw: watch-core | notify | \
             bytes per directory: raw | watch-core | notify |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    }
    for point in results.scale_points() {
        let figure = |f: &str, m: &str| results.extra("scale", f, &point, m);
        let paired = |f: &str| results.paired("scale", f, &point, "raw");
        let setup = |f: &str| {
            let time = figure(f, "setup_ns").map_or(String::new(), human);
            match paired(f) {
                Some(p) if detailed => format!("{time}, {}", p.show()),
                Some(p) => format!("{:.2}x", p.median),
                None if detailed => time,
                None => String::new(),
            }
        };
        let bytes =
            |f: &str| figure(f, "rss_bytes_per_dir").map_or(String::new(), |b| thousands(b as u64));
        let (dirs, files) = point_of(&point).unwrap_or_default();
        let mut row = format!("| {} x {files} |", thousands(dirs));
        if detailed {
            let rounds = figure("raw", "rounds").map_or(String::new(), |r| format!("{r:.0}"));
            let _ = write!(row, " {rounds} | {} |", setup("raw"));
        }
        for cell in [
            setup("watch-core"),
            setup("notify"),
            bytes("raw"),
            bytes("watch-core"),
            bytes("notify"),
        ] {
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(out, "{row}");
    }
    out.push('\n');
}

/// One row of the scale targets: watch-core's figure, notify's, the target.
pub(super) struct ScaleRow {
    pub(super) measure: String,
    pub(super) core: String,
    pub(super) notify: String,
    pub(super) target: &'static str,
    pub(super) verdict: Verdict,
}

/// The scale point a row is judged on: 10,000 directories holding
/// `files` each if measured, else the largest measured point up to 10,000
/// directories with (`files > 0`) or without files (a quick run's).
pub(super) fn judged_point(results: &Results, files: u64) -> Option<String> {
    let points = results.scale_points();
    let wanted = format!("10000x{files}");
    if points.contains(&wanted) {
        return Some(wanted);
    }
    points
        .into_iter()
        .filter(|p| point_of(p).is_some_and(|(d, f)| d <= 10_000 && (f == 0) == (files == 0)))
        .max_by_key(|p| point_of(p))
}

/// The scale targets, each judged on watch-core's figure (notify's shown
/// for comparison).
pub(super) fn scale_rows(results: &Results) -> Vec<ScaleRow> {
    let mut rows = Vec::new();
    let time_row = |measure: String, target: &'static str, limit: f64, group: &str, param: &str| {
        let core = results.paired(group, "watch-core", param, "raw");
        let notify = results.paired(group, "notify", param, "raw");
        ScaleRow {
            measure,
            core: core.map_or("-".into(), |p| format!("{} raw", p.show())),
            notify: notify.map_or(String::new(), |p| format!("{:.2}x", p.median)),
            target,
            verdict: Verdict::of(core.map(|p| p.median <= limit)),
        }
    };
    let point_name = |p: &str| {
        let (dirs, files) = point_of(p).unwrap_or_default();
        format!(
            "{} dirs / {} files",
            thousands(dirs),
            thousands(dirs * files)
        )
    };
    let setup = judged_point(results, 10).unwrap_or_else(|| "10000x10".into());
    rows.push(time_row(
        format!("recursive setup, {}", point_name(&setup)),
        "<= 1.3x raw",
        1.3,
        "scale",
        &setup,
    ));
    for (files, limit, target) in [(10, 300.0, "<= 300 B"), (0, 200.0, "<= 200 B")] {
        let point = judged_point(results, files).unwrap_or_else(|| format!("10000x{files}"));
        let bytes = |f: &str| results.extra("scale", f, &point, "rss_bytes_per_dir");
        let core = bytes("watch-core");
        let (dirs, per_dir) = point_of(&point).unwrap_or_default();
        rows.push(ScaleRow {
            measure: format!(
                "user memory per watched dir, {} dirs x {per_dir} files",
                thousands(dirs)
            ),
            core: core.map_or("-".into(), |b| format!("{} B", thousands(b as u64))),
            notify: bytes("notify").map_or(String::new(), |b| format!("{} B", thousands(b as u64))),
            target,
            verdict: Verdict::of(core.map(|b| b <= limit)),
        });
    }
    for (param, what, limit, target) in [
        ("file", "a watched file", 1.3, "<= 1.3x raw"),
        ("dir", "a watched dir", 1.2, "<= 1.2x raw"),
    ] {
        // Timed side by side where recorded, else the ratio of the p50s.
        let p50 = |f: &str| results.extra("latency", f, param, "p50_ns");
        let vs_raw = |f: &str| {
            results.paired("latency", f, param, "raw").or_else(|| {
                p50(f).zip(p50("raw")).map(|(a, b)| Paired {
                    median: a / b,
                    q1: None,
                    q3: None,
                })
            })
        };
        let core = vs_raw("watch-core");
        rows.push(ScaleRow {
            measure: format!("latency p50, {what}"),
            core: core.map_or("-".into(), |p| format!("{} raw", p.show())),
            notify: vs_raw("notify").map_or(String::new(), |p| format!("{:.2}x", p.median)),
            target,
            verdict: Verdict::of(core.map(|p| p.median <= limit)),
        });
    }
    rows.push(time_row(
        "add + remove 1,000 non-recursive roots".into(),
        "<= 4x raw",
        4.0,
        "registration",
        "1000",
    ));
    let drain = extra_parameter(results, "drain");
    let rate = |f: &str| {
        results
            .paired("drain", f, &drain, "raw")
            .map(Paired::inverse)
    };
    // Judged on the read into an `EventBuf` (no allocation per created file, as
    // raw's loop has none); the read into a `Vec<Event>` is shown beside it.
    let core = rate("watch-core-buf");
    let into_vec = rate("watch-core").map_or(String::new(), |p| {
        format!("; into a Vec<Event> {}", p.show())
    });
    rows.push(ScaleRow {
        measure: format!(
            "drain: events/s through Watcher::read into an EventBuf ({} files)",
            drain.parse().map_or(drain.clone(), thousands)
        ),
        core: core.map_or("-".into(), |p| format!("{} raw rate{into_vec}", p.show())),
        notify: rate("notify").map_or(String::new(), |p| format!("{:.2}x", p.median)),
        target: ">= 0.8x raw rate",
        verdict: Verdict::of(core.map(|p| p.median >= 0.8)),
    });
    rows
}

/// The scale targets as a Markdown table.
pub(super) fn scale_rows_table(out: &mut String, rows: &[ScaleRow]) {
    let _ = writeln!(out, "| measure | watch-core | notify | target | verdict |");
    let _ = writeln!(out, "|---|---:|---:|---:|---|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.measure,
            row.core,
            row.notify,
            row.target,
            row.verdict.label()
        );
    }
}

pub(super) fn scale_targets_table(out: &mut String, results: &Results) {
    let rows = scale_rows(results);
    if rows.iter().all(|r| r.verdict == Verdict::NotMeasured) {
        return;
    }
    let _ = writeln!(out, "## Scale targets\n");
    let _ = writeln!(
        out,
        "Time ratios to raw timed side by side (median of the rounds, quartiles in \
         brackets); latency p50s from interleaved samples, compared block by block.\n"
    );
    scale_rows_table(out, &rows);
    out.push('\n');
}
