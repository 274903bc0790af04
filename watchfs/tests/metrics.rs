//! End to end: `--metrics` scraped over HTTP, parsed, and checked by
//! `promtool check metrics`; `/healthz` and other paths.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{ActionLog, TempDir, Watchfs, get};

/// The address from "serving metrics on http://ADDR/metrics".
fn metrics_addr(w: &mut Watchfs) -> String {
    let line = w.wait_stderr("serving metrics on http://");
    let rest = line.split("http://").nth(1).unwrap();
    rest.strip_suffix("/metrics").unwrap().to_string()
}

/// `name value` samples without labels.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn metrics_are_scraped_parsed_and_pass_promtool() {
    let tmp = TempDir::new("metrics");
    let dir = tmp.join("conf");
    std::fs::create_dir(&dir).unwrap();
    let log = ActionLog::new(tmp.path());
    let mut args = vec![
        "--metrics".to_string(),
        "127.0.0.1:0".to_string(),
        dir.display().to_string(),
    ];
    args.extend(log.command());
    let mut w = Watchfs::start(&args);
    let addr = metrics_addr(&mut w);

    let (status, body) = get(&addr, "/metrics");
    assert!(status.contains(" 200"), "{status}");
    assert_eq!(sample(&body, "reloader_watches"), 1.0);
    assert_eq!(sample(&body, "reloader_reloads_total"), 0.0);
    assert_eq!(sample(&body, "reloader_last_reload_successful"), 1.0);
    assert!(
        body.lines().any(|l| l.starts_with("watchfs_build_info{")
            && l.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))),
        "{body}"
    );
    assert!(
        sample(&body, "process_resident_memory_bytes") > 0.0,
        "{body}"
    );

    std::fs::write(dir.join("a.conf"), "v1").unwrap();
    log.wait_for(&dir.join("a.conf"));
    // The command's success is counted once it has been reaped.
    let mut body = String::new();
    common::wait_until("a counted reload", || {
        body = get(&addr, "/metrics").1;
        sample(&body, "reloader_reloads_total") == 1.0
    });
    assert_eq!(sample(&body, "reloader_reloads_failed_total"), 0.0);
    assert_eq!(sample(&body, "reloader_config_apply_operations_total"), 1.0);
    assert!(sample(&body, "reloader_watch_events_total") >= 1.0);
    assert!(sample(&body, "reloader_last_reload_success_timestamp_seconds") > 1.6e9);

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed; .ci/run installs it");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, body) = get(&addr, "/healthz");
    assert!(status.contains(" 200"), "{status}");
    assert!(!body.is_empty());
    let (status, _) = get(&addr, "/nope");
    assert!(status.contains(" 404"), "{status}");
}

#[test]
fn metrics_listen_address_forms() {
    let tmp = TempDir::new("metrics-addr");
    // Port 0 in each form: the kernel picks a free port.
    for (flag, reach) in [
        (":0", "127.0.0.1"),
        ("0.0.0.0:0", "127.0.0.1"),
        ("localhost:0", "localhost"),
    ] {
        let mut w = Watchfs::start(&["--metrics", flag, tmp.path().to_str().unwrap()]);
        let addr = metrics_addr(&mut w);
        let port = addr.rsplit(':').next().unwrap();
        let (status, _) = get(&format!("{reach}:{port}"), "/healthz");
        assert!(status.contains(" 200"), "{flag}: {status}");
    }
    for bad in ["9533", "host:port", ":99999"] {
        let out = Command::new(env!("CARGO_BIN_EXE_watchfs"))
            .args(["--metrics", bad, "."])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--metrics") && err.contains(bad),
            "{bad}: {err}"
        );
    }
}
