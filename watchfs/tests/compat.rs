//! End to end: the drop-in flag sets of configmap-reload and
//! prometheus-config-reloader, each driving a real local HTTP server (or a
//! real process for the signal method).

mod common;

use std::io::Write;
use std::process::Command;

use common::{FakeService, Reply, TempDir, Watchfs, get, wait_until};

fn served_at(w: &mut Watchfs) -> String {
    let line = w.wait_stderr("serving metrics on http://");
    let rest = line.split("http://").nth(1).unwrap();
    rest.split('/').next().unwrap().to_string()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn configmap_reload_flags() {
    let tmp = TempDir::new("cm-reload");
    let volume = tmp.join("config");
    std::fs::create_dir(&volume).unwrap();
    // The first request fails, the retry succeeds with the configured code.
    let service = FakeService::start(&[Reply::Status(503, "busy"), Reply::Status(204, "")], None);
    let second = FakeService::start(&[Reply::Status(204, "")], None);
    let mut w = Watchfs::start(&[
        "--volume-dir",
        volume.to_str().unwrap(),
        "--webhook-url",
        &service.url,
        "--webhook-url",
        &second.url,
        "--webhook-method",
        "PUT",
        "--webhook-status-code",
        "204",
        "--webhook-retries",
        "2",
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.telemetry-path",
        "/custom-metrics",
    ]);
    let addr = served_at(&mut w);
    std::fs::write(volume.join("app.yaml"), "a: 1\n").unwrap();
    let requests = service.wait_requests(2);
    assert!(
        requests.iter().all(|r| r.line == "PUT /-/reload"),
        "{requests:?}"
    );
    // Every --webhook-url gets the request.
    let requests = second.wait_requests(1);
    assert_eq!(requests[0].line, "PUT /-/reload");
    let mut metrics = String::new();
    wait_until("a successful reload in the metrics", || {
        metrics = get(&addr, "/custom-metrics").1;
        metrics.contains("reloader_last_reload_successful 1")
            && metrics.contains("reloader_config_apply_operations_total 1")
    });
    assert!(get(&addr, "/metrics").0.contains(" 404"));
    assert!(get(&addr, "/healthz").0.contains(" 200"));
}

#[test]
fn prometheus_config_reloader_flags_render_gzip_and_envsubst() {
    let tmp = TempDir::new("pcr");
    let input = tmp.join("prometheus.yaml.gz");
    let output = tmp.join("prometheus.env.yaml");
    let rules = tmp.join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        &input,
        gzip("replica: $(WATCHFS_E2E_REPLICA) shard: ${WATCHFS_E2E_SHARD}\n"),
    )
    .unwrap();
    // The service reads the rendered file at each request, as Prometheus does.
    let service = FakeService::start(&[Reply::Status(200, "")], Some(&output));
    let mut w = Watchfs::spawn_with_env(
        std::path::Path::new("."),
        &[
            "--reload-url",
            &service.url,
            "--config-file",
            input.to_str().unwrap(),
            "--config-envsubst-file",
            output.to_str().unwrap(),
            "--watched-dir",
            rules.to_str().unwrap(),
            "--listen-address",
            "127.0.0.1:0",
            "--delay-interval",
            "50ms",
            "--retry-interval",
            "100ms",
            "--reload-timeout",
            "5s",
            "--watch-interval",
            "1h",
        ],
        &[("WATCHFS_E2E_REPLICA", "pod-7"), ("WATCHFS_E2E_SHARD", "3")],
    );
    w.wait_stderr("watches established");
    let addr = served_at(&mut w);
    // Rendered at startup, before any reload.
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "replica: pod-7 shard: 3\n"
    );

    std::fs::write(&input, gzip("replica: $(WATCHFS_E2E_REPLICA) v2\n")).unwrap();
    let requests = service.wait_requests(1);
    assert_eq!(requests[0].line, "POST /-/reload");
    assert_eq!(requests[0].config.as_deref(), Some("replica: pod-7 v2\n"));

    std::fs::write(rules.join("alerts.yaml"), "groups: []\n").unwrap();
    let requests = service.wait_requests(2);
    assert_eq!(requests[1].config.as_deref(), Some("replica: pod-7 v2\n"));

    // A template naming a variable that is not set: an error naming it,
    // no reload, the rendered file left as it was, a failed apply counted.
    std::fs::write(&input, gzip("x: $(WATCHFS_E2E_NOT_SET)\n")).unwrap();
    w.wait_stderr("WATCHFS_E2E_NOT_SET is not set");
    let mut metrics = String::new();
    wait_until("a failed apply in the metrics", || {
        metrics = get(&addr, "/metrics").1;
        metrics.contains("reloader_config_apply_operations_failed_total 1")
    });
    assert_eq!(service.received().len(), 2);
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "replica: pod-7 v2\n"
    );
}

#[test]
fn a_missing_variable_at_startup_is_an_error_naming_it() {
    let tmp = TempDir::new("pcr-missing");
    let input = tmp.join("in.yaml");
    std::fs::write(&input, "a: ok\nb: ${WATCHFS_E2E_NEVER_SET}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_watchfs"))
        .args([
            "--reload-url",
            "http://127.0.0.1:9/-/reload",
            "--config-file",
        ])
        .arg(&input)
        .arg("--config-envsubst-file")
        .arg(tmp.join("out.yaml"))
        .env_remove("WATCHFS_E2E_NEVER_SET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2: environment variable WATCHFS_E2E_NEVER_SET is not set"),
        "{err}"
    );
    assert!(!tmp.join("out.yaml").exists());
}

#[test]
fn watch_interval_rechecks_without_events() {
    let tmp = TempDir::new("pcr-interval");
    let dir = tmp.join("rules");
    std::fs::create_dir(&dir).unwrap();
    let service = FakeService::start(&[Reply::Status(200, "")], None);
    std::fs::write(dir.join("r.yaml"), "v1").unwrap();
    // Polling once an hour (the scan at startup is the last one for an
    // hour): only the periodic re-check can see the change.
    let mut w = Watchfs::start(&[
        "--backend",
        "poll",
        "--poll-interval",
        "1h",
        "--reload-url",
        &service.url,
        "--watched-dir",
        dir.to_str().unwrap(),
        "--watch-interval",
        "200ms",
    ]);
    std::fs::write(dir.join("r.yaml"), "v2, longer").unwrap();
    service.wait_requests(1);
    w.wait_stderr("changed: ");
}

#[test]
fn reload_method_signal_finds_the_process_by_name() {
    let tmp = TempDir::new("pcr-signal");
    let config = tmp.join("p.yaml");
    std::fs::write(&config, "v1\n").unwrap();
    // A service with its own executable name, which logs each SIGHUP.
    let name = format!("wfsvc{}", std::process::id() % 100_000);
    let exe = tmp.join(&name);
    std::fs::copy("/bin/sh", &exe).unwrap();
    let log = tmp.join("hups.log");
    let ready = tmp.join("ready");
    let script = format!(
        "trap 'echo hup >> {log}' HUP; : > {ready}; while :; do sleep 0.05; done",
        log = log.display(),
        ready = ready.display()
    );
    // SIGHUP back to its default first: a shell cannot trap a signal it
    // was started with ignored (as under `nohup`), and ignoring is inherited.
    let service = Command::new("env")
        .arg("--default-signal=HUP")
        .arg(&exe)
        .arg("-c")
        .arg(script)
        .spawn()
        .unwrap();
    // Killed however the test ends, so a failure leaves no process behind
    // under a name a later run may use again.
    let service = KillOnDrop(service);
    wait_until("the service to start", || ready.exists());
    let mut w = Watchfs::start(&[
        "--reload-method",
        "signal",
        "--process-executable-name",
        &name,
        "--config-file",
        config.to_str().unwrap(),
    ]);
    std::fs::write(&config, "v2\n").unwrap();
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("hup")) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for SIGHUP at the service (pid {}); watchfs said:\n{}",
            service.0.id(),
            w.stderr_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    w.wait_stderr(&format!("sent SIGHUP to pid {}", service.0.id()));
}

/// A child process killed and reaped when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
