//! End to end against a real Prometheus (Debian's `prometheus` package,
//! installed by `.ci/run`): watchfs validates each save with promtool and
//! POSTs `/-/reload`; Prometheus's own metrics and its loaded config say
//! what it applied. Atomic save, `sed -i`, a ConfigMap swap, a broken save
//! kept out, and a broken save landing while the check runs.
//!
//! Skipped, with the reason printed, where `prometheus` or `promtool` is
//! not on PATH.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{TempDir, Watchfs, sh, wait_until};

/// A Prometheus on 127.0.0.1 with the lifecycle API, its data in a temp dir.
struct Prometheus {
    child: Child,
    base: String,
}

impl Prometheus {
    /// Starts Prometheus on `config`; `None` (with the reason printed) when
    /// it is not installed.
    fn start(config: &Path, data: &Path) -> Option<Prometheus> {
        for tool in ["prometheus", "promtool"] {
            if which::which(tool).is_err() {
                println!("skipped: {tool} is not on PATH (Debian package `prometheus`)");
                return None;
            }
        }
        // A free port: bound and released; Prometheus takes it next.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
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
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_until("Prometheus to be ready", || {
            prometheus.get("/-/ready").is_some()
        });
        Some(prometheus)
    }

    fn get(&self, path: &str) -> Option<String> {
        let mut response = ureq::get(&format!("{}{path}", self.base)).call().ok()?;
        response.body_mut().read_to_string().ok()
    }

    fn reload_url(&self) -> String {
        format!("{}/-/reload", self.base)
    }

    /// A sample's value from `/metrics` (0 when absent).
    fn metric(&self, sample: &str) -> f64 {
        let text = self.get("/metrics").expect("metrics");
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().expect("a number"))
    }

    /// Reload requests Prometheus answered with `code`.
    fn reloads(&self, code: u16) -> f64 {
        self.metric(&format!(
            "prometheus_http_requests_total{{code=\"{code}\",handler=\"/-/reload\"}}"
        ))
    }

    /// The `version` external label of the loaded config.
    fn live_version(&self) -> String {
        let status = self.get("/api/v1/status/config").expect("config status");
        let value: serde_json::Value = serde_json::from_str(&status).unwrap();
        let yaml = value["data"]["yaml"].as_str().unwrap_or_default();
        yaml.lines()
            .find_map(|l| l.trim().strip_prefix("version: "))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    }

    fn wait_live(&self, version: &str) {
        wait_until(
            &format!("Prometheus to run config version {version}"),
            || self.live_version() == version,
        );
    }

    /// Prometheus's own verdict on the last reload, and its reload counts.
    fn assert_healthy(&self, successes: f64, context: &str) {
        // The request is counted as its answer goes out, just after the
        // new config is live.
        wait_until(&format!("{successes} reloads ({context})"), || {
            self.reloads(200) >= successes
        });
        assert_eq!(
            self.metric("prometheus_config_last_reload_successful"),
            1.0,
            "{context}"
        );
        assert_eq!(self.reloads(200), successes, "{context}");
        assert_eq!(self.reloads(500), 0.0, "a rejected reload: {context}");
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(version: &str) -> String {
    format!("global:\n  scrape_interval: 1m\n  external_labels:\n    version: \"{version}\"\n")
}

const BROKEN: &str = "global:\n  scrape_interval: [1m\n";

/// Writes `content` to a temporary file and renames it over `path`.
fn atomic_save(path: &Path, content: &str) {
    let tmp = path.with_extension("yml.tmp");
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, path).unwrap();
}

/// A `--check` running promtool on a copy of the config taken when the
/// check starts (as a slow promtool reads it first, then works), slowed
/// down and held until the test releases it while `slow` exists.
struct Check {
    text: String,
    slow: PathBuf,
    started: PathBuf,
    release: PathBuf,
}

impl Check {
    fn new(tmp: &TempDir, conf: &Path) -> Check {
        let (copy, slow, started, release) = (
            tmp.join("checked.yml"),
            tmp.join("slow"),
            tmp.join("started"),
            tmp.join("release"),
        );
        let script = "cp \"$1\" \"$2\" || exit 1; if [ -e \"$3\" ]; then rm -f \"$3\"; : > \"$4\"; \
                      while [ ! -e \"$5\" ]; do sleep 0.01; done; rm -f \"$4\" \"$5\"; fi; \
                      exec promtool check config \"$2\"";
        let text = format!(
            "sh -c '{script}' check {} {} {} {} {}",
            conf.display(),
            copy.display(),
            slow.display(),
            started.display(),
            release.display()
        );
        Check {
            text,
            slow,
            started,
            release,
        }
    }
}

#[test]
fn prometheus_gets_every_good_save_and_never_a_broken_one() {
    let tmp = TempDir::new("prom");
    let dir = tmp.join("etc");
    fs::create_dir(&dir).unwrap();
    let conf = dir.join("prometheus.yml");
    fs::write(&conf, config("1")).unwrap();
    let Some(prom) = Prometheus::start(&conf, &tmp.join("data")) else {
        return;
    };
    let check = Check::new(&tmp, &conf);
    let mut w = Watchfs::start(&[
        "--post",
        &prom.reload_url(),
        "--check",
        &check.text,
        &conf.display().to_string(),
    ]);
    assert_eq!(prom.live_version(), "1");

    // An editor's atomic save.
    atomic_save(&conf, &config("2"));
    prom.wait_live("2");
    prom.assert_healthy(1.0, "atomic save");

    // sed -i: a new file renamed over the old one.
    sh(&format!(
        "sed -i 's/version: \"2\"/version: \"3\"/' '{}'",
        conf.display()
    ));
    prom.wait_live("3");
    prom.assert_healthy(2.0, "sed -i");

    // A broken save is reported by promtool and never reaches Prometheus.
    fs::write(&conf, BROKEN).unwrap();
    w.wait_stderr("action skipped");
    assert_eq!(prom.live_version(), "3");
    prom.assert_healthy(2.0, "broken save");

    // The next good save is applied.
    atomic_save(&conf, &config("4"));
    prom.wait_live("4");
    prom.assert_healthy(3.0, "fixed");

    // A good save starts a slow check; a broken save lands while it runs.
    fs::write(&check.slow, "").unwrap();
    atomic_save(&conf, &config("5"));
    wait_until("the slow check to start", || check.started.exists());
    fs::write(&conf, BROKEN).unwrap();
    fs::write(&check.release, "").unwrap();
    let (changed, _) = w.wait_stderr_after(0, "a watched file changed during the check");
    w.wait_stderr_after(changed, "action skipped");
    assert_eq!(prom.live_version(), "4");
    prom.assert_healthy(3.0, "broken save during the check");

    atomic_save(&conf, &config("6"));
    prom.wait_live("6");
    prom.assert_healthy(4.0, "after the race");
    assert_eq!(w.terminate().code(), Some(0));
}

#[test]
fn prometheus_gets_one_reload_per_configmap_swap() {
    let tmp = TempDir::new("prom-cm");
    let cm = tmp.join("cm");
    fs::create_dir(&cm).unwrap();
    fs::create_dir(cm.join("..v1")).unwrap();
    fs::write(cm.join("..v1/prometheus.yml"), config("1")).unwrap();
    sh(&format!(
        "cd '{}' && ln -s ..v1 ..data && ln -s ..data/prometheus.yml prometheus.yml",
        cm.display()
    ));
    let conf = cm.join("prometheus.yml");
    let Some(prom) = Prometheus::start(&conf, &tmp.join("data")) else {
        return;
    };
    let check = format!("promtool check config {}", conf.display());
    let mut w = Watchfs::start(&[
        "--post",
        &prom.reload_url(),
        "--check",
        &check,
        &cm.display().to_string(),
    ]);
    // The kubelet's update: a new timestamped directory, `..data` renamed
    // over, the old directory removed.
    for (n, version) in [(1.0, "2"), (2.0, "3")] {
        let (old, new) = (format!("..v{}", n as u32), format!("..v{version}"));
        // All steps in one process, back to back, as the kubelet does them.
        let staged = tmp.join(format!("staged-{version}.yml"));
        fs::write(&staged, config(version)).unwrap();
        sh(&format!(
            "cd '{}' && mkdir {new} && cp '{}' {new}/prometheus.yml && ln -s {new} ..data_tmp \
             && mv -T ..data_tmp ..data && rm -rf {old}",
            cm.display(),
            staged.display()
        ));
        prom.wait_live(version);
        // One reload per swap: an extra one for the first swap would have
        // been sent before the second swap's.
        prom.assert_healthy(n, &format!("swap to {version}"));
    }
    assert_eq!(w.terminate().code(), Some(0));
}
