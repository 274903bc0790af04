//! The reload section of `cargo xtask bench`: the release `watchfs` binary
//! reloading a real Prometheus (Debian's `prometheus` and `promtool`) on
//! loopback, as an operator runs it. Measured end to end, never asserted:
//!
//! - save-to-live: from the start of an atomic save until watchfs has
//!   Prometheus's 200 for `POST /-/reload` (Prometheus answers once the new
//!   config is loaded), with `--check 'promtool check config …'` and
//!   without, next to the check's own time (as watchfs reports it with
//!   `-v`, under the same load) and a bare `POST /-/reload`;
//! - 50 atomic saves in one second: how many reloads they cause;
//! - a writer holding the file open across a 400 ms gap: whether a reload
//!   happened before it closed the file (its first half is a valid config
//!   of its own, so Prometheus would accept it).
//!
//! Skipped, with a line saying so, where Prometheus is not installed.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::Result;
use test_support::TempDir;

use crate::workspace;

/// Bound on every wait; only a broken setup reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Pause between isolated saves: past watchfs's 100 ms burst window, so
/// each save is measured as a save on its own.
const APART: Duration = Duration::from_millis(300);

/// Runs the scenarios and returns the Markdown section.
pub fn section(root: &Path, target: &Path, quick: bool) -> Result<String> {
    let mut out = String::from("\n## Reload: save to live in a real Prometheus\n\n");
    let installed = ["prometheus", "promtool"].iter().all(|tool| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !installed {
        out.push_str(
            "Skipped: `prometheus` and `promtool` are not on PATH (Debian package \
             `prometheus`).\n\n",
        );
        return Ok(out);
    }
    let clock = Instant::now();
    // The quick run (a CI smoke step) takes the debug binary the tests
    // already built; the figures worth reading come from a release build.
    let profile = if quick { "debug" } else { "release" };
    let mut build = workspace::cargo();
    build.args(["build", "--quiet", "-p", "watchfs"]);
    if !quick {
        build.arg("--release");
    }
    workspace::run(build.current_dir(root))?;
    let watchfs = target.join(profile).join("watchfs");
    let scratch = TempDir::try_new("xtask-reload-bench")?;
    let figures = measure(&watchfs, scratch.path(), quick)?;
    println!(
        "bench: reload scenarios ran in {}",
        workspace::seconds(clock.elapsed())
    );
    figures.write(&mut out, profile);
    Ok(out)
}

/// What the scenarios measured.
struct Figures {
    saves: usize,
    with_check: Vec<Duration>,
    promtool: Vec<Duration>,
    without_check: Vec<Duration>,
    bare_reload: Vec<Duration>,
    burst_reloads: u64,
    burst_reloads_checked: u64,
    gap_trials: usize,
    gap_half_applied: usize,
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

impl Figures {
    fn write(&self, out: &mut String, profile: &str) {
        let checked = median(&self.with_check);
        let promtool = median(&self.promtool);
        // Per save: save to live minus that save's own check.
        let overheads: Vec<Duration> = self
            .with_check
            .iter()
            .zip(&self.promtool)
            .map(|(total, check)| total.saturating_sub(*check))
            .collect();
        let overhead = median(&overheads);
        let unchecked = median(&self.without_check);
        let bare = median(&self.bare_reload);
        let over = |a: Duration, b: Duration| a.saturating_sub(b);
        let met = |ok: bool| if ok { "met" } else { "missed" };
        let twenty = Duration::from_millis(20);
        let _ = writeln!(
            out,
            "`watchfs --post …/-/reload` ({profile} build) on loopback, {} isolated atomic \
             saves per row; medians. \"Live\" is watchfs receiving Prometheus's 200, which \
             Prometheus sends once the new config is loaded.\n",
            self.saves
        );
        let _ = writeln!(out, "| scenario | measured | reference | target | |");
        let _ = writeln!(out, "|---|---:|---:|---|---|");
        let _ = writeln!(
            out,
            "| save to live, `--check 'promtool check config …'` | {} | the check itself {} (median of the differences +{}) | check + 20 ms | {} |",
            ms(checked),
            ms(promtool),
            ms(overhead),
            met(overhead <= twenty)
        );
        let _ = writeln!(
            out,
            "| save to live, no check | {} | bare POST /-/reload {} (+{}) | 20 ms + Prometheus's reload | {} |",
            ms(unchecked),
            ms(bare),
            ms(over(unchecked, bare)),
            met(unchecked <= bare + twenty)
        );
        let _ = writeln!(
            out,
            "| 50 atomic saves in 1 s, no check | {} reloads | | at most 3 | {} |",
            self.burst_reloads,
            met(self.burst_reloads <= 3)
        );
        let _ = writeln!(
            out,
            "| 50 atomic saves in 1 s, with check | {} reloads | | at most 3 | {} |",
            self.burst_reloads_checked,
            met(self.burst_reloads_checked <= 3)
        );
        let _ = writeln!(
            out,
            "| writer holding the file open across 400 ms | half applied in {} of {} trials | | never | {} |\n",
            self.gap_half_applied,
            self.gap_trials,
            met(self.gap_half_applied == 0)
        );
    }
}

fn config(version: &str) -> String {
    format!("global:\n  scrape_interval: 1m\n  external_labels:\n    version: \"{version}\"\n")
}

fn measure(watchfs: &Path, dir: &Path, quick: bool) -> Result<Figures> {
    let saves = if quick { 3 } else { 25 };
    let gap_trials = if quick { 1 } else { 5 };
    let conf = dir.join("prometheus.yml");
    fs::write(&conf, config("0"))?;
    let prometheus = Prometheus::start(&conf, &dir.join("data"))?;
    let check = format!("promtool check config {}", conf.display());
    let url = prometheus.reload_url();

    let mut bare_reload = Vec::new();

    // With -v, watchfs says how long each check took: the check's own
    // time, under the same load as the save it belongs to.
    let mut with = Watchfs::start(watchfs, &["-v", "--post", &url, "--check", &check], &conf)?;
    let mut promtool = Vec::new();
    let with_check = isolated_saves(
        &mut with,
        &prometheus,
        &conf,
        saves,
        "c",
        &mut || Ok(()),
        Some(&mut promtool),
    )?;
    let burst_reloads_checked = burst(&mut with, &prometheus, &conf, "bc")?;
    drop(with);

    let mut without = Watchfs::start(watchfs, &["--post", &url], &conf)?;
    let mut time_bare = || -> Result {
        let start = Instant::now();
        prometheus.post_reload()?;
        bare_reload.push(start.elapsed());
        Ok(())
    };
    let without_check = isolated_saves(
        &mut without,
        &prometheus,
        &conf,
        saves,
        "n",
        &mut time_bare,
        None,
    )?;
    let burst_reloads = burst(&mut without, &prometheus, &conf, "bn")?;
    let mut gap_half_applied = 0;
    for trial in 0..gap_trials {
        if writer_gap(&mut without, &prometheus, &conf, trial)? {
            gap_half_applied += 1;
        }
    }
    drop(without);
    Ok(Figures {
        saves,
        with_check,
        promtool,
        without_check,
        bare_reload,
        burst_reloads,
        burst_reloads_checked,
        gap_trials,
        gap_half_applied,
    })
}

/// Writes a temporary file and renames it over `path`.
fn atomic_save(path: &Path, content: &str) -> Result {
    let tmp = path.with_extension("yml.swp");
    fs::write(&tmp, content)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

/// `saves` atomic saves, each after `reference` (the same work without
/// watchfs, timed by the caller) and a pause; with `checks`, also collects
/// the time of each check as watchfs reports it.
fn isolated_saves(
    w: &mut Watchfs,
    prometheus: &Prometheus,
    conf: &Path,
    saves: usize,
    tag: &str,
    reference: &mut dyn FnMut() -> Result,
    mut checks: Option<&mut Vec<Duration>>,
) -> Result<Vec<Duration>> {
    let mut samples = Vec::new();
    for i in 0..saves {
        reference()?;
        std::thread::sleep(APART);
        w.skip_pending();
        let version = format!("{tag}{i}");
        let start = Instant::now();
        atomic_save(conf, &config(&version))?;
        if let Some(checks) = checks.as_mut() {
            let (_, line) = w.wait_line_text("check passed in ")?;
            let took = line
                .rsplit("check passed in ")
                .next()
                .and_then(|rest| rest.trim_end_matches(" ms").parse::<f64>().ok())
                .ok_or_else(|| format!("cannot read the check's time in {line:?}"))?;
            checks.push(Duration::from_secs_f64(took / 1e3));
        }
        let live = w.wait_line("-> 200")?;
        samples.push(live.saturating_duration_since(start));
        if prometheus.live_version()? != version {
            return Err(format!("Prometheus does not run version {version}").into());
        }
    }
    Ok(samples)
}

/// Fifty atomic saves 20 ms apart; returns the reloads they caused.
fn burst(w: &mut Watchfs, prometheus: &Prometheus, conf: &Path, tag: &str) -> Result<u64> {
    std::thread::sleep(APART);
    w.skip_pending();
    let before = prometheus.reloads_ok()?;
    let last = format!("{tag}49");
    for i in 0..50 {
        atomic_save(conf, &config(&format!("{tag}{i}")))?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + PATIENCE;
    while prometheus.live_version()? != last {
        if Instant::now() > deadline {
            return Err("the last save of the burst never went live".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Anything still on its way has come after a second of quiet.
    std::thread::sleep(Duration::from_secs(1));
    Ok((prometheus.reloads_ok()? - before).round() as u64)
}

/// A writer that writes a valid config, keeps the file open for 400 ms,
/// then appends the rest; returns whether a reload happened before it
/// closed the file.
fn writer_gap(w: &mut Watchfs, prometheus: &Prometheus, conf: &Path, trial: usize) -> Result<bool> {
    std::thread::sleep(APART);
    w.skip_pending();
    let version = format!("gap{trial}");
    let mut file = fs::File::create(conf)?;
    file.write_all(b"global:\n  scrape_interval: 1m\n")?;
    std::thread::sleep(Duration::from_millis(400));
    let early = w.has_line("-> 200");
    file.write_all(format!("  external_labels:\n    version: \"{version}\"\n").as_bytes())?;
    drop(file);
    w.wait_line("-> 200")?;
    if prometheus.live_version()? != version {
        return Err(format!("Prometheus does not run version {version}").into());
    }
    Ok(early)
}

/// A Prometheus on a free loopback port with the lifecycle API.
struct Prometheus {
    child: Child,
    base: String,
}

impl Prometheus {
    fn start(config: &Path, data: &Path) -> Result<Prometheus> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start prometheus: {e}"))?;
        let prometheus = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + PATIENCE;
        while prometheus.get("/-/ready").is_err() {
            if Instant::now() > deadline {
                return Err("Prometheus did not become ready".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(prometheus)
    }

    fn reload_url(&self) -> String {
        format!("{}/-/reload", self.base)
    }

    fn get(&self, path: &str) -> Result<String> {
        let mut response = ureq::get(&format!("{}{path}", self.base)).call()?;
        Ok(response.body_mut().read_to_string()?)
    }

    fn post_reload(&self) -> Result {
        ureq::post(&self.reload_url()).send_empty()?;
        Ok(())
    }

    /// Reload requests Prometheus answered with 200.
    fn reloads_ok(&self) -> Result<f64> {
        let text = self.get("/metrics")?;
        let sample = "prometheus_http_requests_total{code=\"200\",handler=\"/-/reload\"} ";
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(sample))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0))
    }

    /// The `version` external label of the loaded config.
    fn live_version(&self) -> Result<String> {
        let status = self.get("/api/v1/status/config")?;
        let value: serde_json::Value = serde_json::from_str(&status)?;
        let yaml = value["data"]["yaml"].as_str().unwrap_or_default();
        Ok(yaml
            .lines()
            .find_map(|l| l.trim().strip_prefix("version: "))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running watchfs whose stderr lines arrive with their time of arrival.
struct Watchfs {
    child: Child,
    lines: Receiver<(Instant, String)>,
}

impl Watchfs {
    fn start(bin: &Path, args: &[&str], conf: &Path) -> Result<Watchfs> {
        let mut child = Command::new(bin)
            .args(args)
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut watchfs = Watchfs { child, lines: rx };
        watchfs.wait_line("watches established")?;
        Ok(watchfs)
    }

    /// Waits for the next line containing `needle`; returns when it came.
    fn wait_line(&mut self, needle: &str) -> Result<Instant> {
        Ok(self.wait_line_text(needle)?.0)
    }

    /// Waits for the next line containing `needle`; returns when it came
    /// and the line.
    fn wait_line_text(&mut self, needle: &str) -> Result<(Instant, String)> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, line) = self
                .lines
                .recv_timeout(left)
                .map_err(|_| format!("watchfs printed no line with {needle:?}"))?;
            if line.contains(needle) {
                return Ok((at, line));
            }
        }
    }

    /// Whether a line containing `needle` has come (consumes what came).
    fn has_line(&mut self, needle: &str) -> bool {
        let mut found = false;
        while let Ok((_, line)) = self.lines.try_recv() {
            found |= line.contains(needle);
        }
        found
    }

    /// Drops the lines that came so far.
    fn skip_pending(&mut self) {
        while self.lines.try_recv().is_ok() {}
    }
}

impl Drop for Watchfs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
