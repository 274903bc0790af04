//! End to end: what a reload sidecar is trusted for. Never apply a config
//! that changed under the check, never drop an unapplied change, stop
//! promptly at every stage, refuse at startup what can never work, and
//! never let a FIFO or a device in a watched directory switch it off.
//!
//! Each test runs the real binary against a real HTTP server on loopback
//! ([`FakeService`]) that reads the config at each request, as Prometheus
//! does, so what was applied is what the service saw.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{FakeService, READY, Reply, TempDir, Watchfs, wait_until};

/// Bound on "exits within a second": generous for a loaded machine, far
/// below what waiting for the check, the backoff or the request would take.
const PROMPT: Duration = Duration::from_secs(3);

fn ok() -> Reply {
    Reply::Status(200, "")
}

/// Arguments that post to `service` on a change of `conf`.
fn posting(service: &FakeService, conf: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--post".to_string(),
        service.url.clone(),
        conf.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A check that reads the config when it starts (like promtool), then
/// waits for the test to release it, then passes if the content it read
/// starts with "valid". It creates `started` while it waits.
struct SlowCheck {
    started: PathBuf,
    release: PathBuf,
    text: String,
}

impl SlowCheck {
    fn new(tmp: &TempDir, conf: &Path) -> SlowCheck {
        let started = tmp.join("check-started");
        let release = tmp.join("check-release");
        let script = "c=$(cat \"$1\"); : > \"$2\"; \
                      while [ ! -e \"$3\" ]; do sleep 0.01; done; rm -f \"$2\" \"$3\"; \
                      case \"$c\" in valid*) exit 0;; *) echo \"rejected: $c\" >&2; exit 1;; esac";
        let text = format!(
            "sh -c '{script}' check {} {} {}",
            conf.display(),
            started.display(),
            release.display()
        );
        SlowCheck {
            started,
            release,
            text,
        }
    }

    fn wait_started(&self) {
        wait_until("the check to start", || self.started.exists());
    }

    fn release(&self) {
        fs::write(&self.release, "").unwrap();
        wait_until("the check to finish", || !self.release.exists());
    }
}

/// `conf` holding "valid 1", a service answering 200 that records what
/// `conf` holds at each request, and watchfs posting to it when `conf`
/// changes, behind a [`SlowCheck`]. The temp dir must outlive the test.
fn behind_a_slow_check(tag: &str) -> (TempDir, PathBuf, FakeService, SlowCheck, Watchfs) {
    let tmp = TempDir::new(tag);
    let conf = tmp.join("conf");
    fs::write(&conf, "valid 1\n").unwrap();
    let service = FakeService::start(&[ok()], Some(&conf));
    let check = SlowCheck::new(&tmp, &conf);
    let w = Watchfs::start(&posting(&service, &conf, &["--check", &check.text]));
    (tmp, conf, service, check, w)
}

#[test]
fn a_save_during_the_check_is_checked_before_anything_is_applied() {
    let (_tmp, conf, service, check, mut w) = behind_a_slow_check("safe-race");

    fs::write(&conf, "valid 2\n").unwrap();
    check.wait_started();
    // A broken save lands while the check looks at the good one.
    fs::write(&conf, "broken 3\n").unwrap();
    check.release();
    w.wait_stderr("a watched file changed during the check");
    // The broken save gets its own check, which rejects it.
    check.wait_started();
    check.release();
    w.wait_stderr("rejected: broken 3");
    // A good save after that is applied.
    fs::write(&conf, "valid 4\n").unwrap();
    check.wait_started();
    check.release();
    let received = service.wait_requests(1);
    w.wait_stderr("-> 200");
    let configs: Vec<Option<String>> = received.iter().map(|r| r.config.clone()).collect();
    assert_eq!(
        configs,
        [Some("valid 4\n".to_string())],
        "stderr:\n{}",
        w.stderr_text()
    );
}

#[test]
fn a_rejection_is_reported_with_the_reason_and_tried_again_at_the_next_save() {
    let tmp = TempDir::new("safe-500");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let body = "failed to reload config: couldn't load configuration (--config.file=\"conf\")\n\
                parsing YAML file conf: yaml: line 3";
    let service = FakeService::start(&[Reply::Status(500, body), ok()], Some(&conf));
    let mut w = Watchfs::start(&posting(
        &service,
        &conf,
        &["--retries", "3", "--backoff", "10ms"],
    ));
    fs::write(&conf, "v: 2\n").unwrap();
    let (rejected, line) = w.wait_stderr_after(0, "answered 500");
    assert!(
        line.ends_with(
            "failed to reload config: couldn't load configuration (--config.file=\"conf\")"
        ),
        "{line}"
    );
    w.wait_stderr_after(rejected, "the change stays pending");
    // The same bytes saved again: still not applied, so applied now.
    fs::write(&conf, "v: 2\n").unwrap();
    let (applied, _) = w.wait_stderr_after(rejected, "-> 200");
    let lines = w.stderr_lines();
    let changes: Vec<usize> = (0..=applied)
        .filter(|&i| lines[i].contains("changed: "))
        .collect();
    // 200 came for the re-save, not for a retry of the rejected request.
    assert_eq!(changes.len(), 2, "{}", lines.join("\n"));
    assert!(changes[1] > rejected, "{}", lines.join("\n"));
    assert!(
        !lines[..applied].iter().any(|l| l.contains("retrying")),
        "a 500 was retried:\n{}",
        lines.join("\n")
    );
    assert_eq!(service.received().len(), 2);
}

#[test]
fn a_change_outlives_a_long_outage_and_is_applied_without_another_edit() {
    let tmp = TempDir::new("safe-outage");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let unavailable = Reply::Status(503, "Service Unavailable");
    let service = FakeService::start(
        &[
            unavailable.clone(),
            unavailable.clone(),
            unavailable.clone(),
            unavailable,
            ok(),
        ],
        Some(&conf),
    );
    let mut w = Watchfs::start(&posting(
        &service,
        &conf,
        &["--retries", "1", "--backoff", "10ms"],
    ));
    fs::write(&conf, "v: 2\n").unwrap();
    w.wait_stderr("after 2 attempts");
    w.wait_stderr("the change stays pending");
    w.wait_stderr("-> 200");
    let received = service.wait_requests(5);
    assert_eq!(received.len(), 5, "{received:?}");
    assert!(
        received
            .iter()
            .all(|r| r.config.as_deref() == Some("v: 2\n"))
    );
}

#[test]
fn a_service_that_is_down_gets_the_change_when_it_comes_back() {
    let tmp = TempDir::new("safe-down");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    // A port nobody listens on, yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/-/reload");
    let mut w = Watchfs::start(&[
        "--post",
        &url,
        "--retries",
        "0",
        "--backoff",
        "10ms",
        &conf.display().to_string(),
    ]);
    fs::write(&conf, "v: 2\n").unwrap();
    w.wait_stderr("the change stays pending");
    let service = FakeService::start_at(&addr.to_string(), &[ok()], Some(&conf));
    w.wait_stderr("-> 200");
    let received = service.wait_requests(1);
    assert_eq!(received[0].config.as_deref(), Some("v: 2\n"));
}

#[test]
fn a_state_file_applies_a_change_made_while_down_exactly_once() {
    let tmp = TempDir::new("safe-state");
    let conf = tmp.join("conf");
    let state = tmp.join("state.json");
    fs::write(&conf, "v: 1\n").unwrap();
    let service = FakeService::start(&[ok()], Some(&conf));
    let args = posting(
        &service,
        &conf,
        &["--state-file", &state.display().to_string()],
    );
    // First run: records what the service has.
    let mut w = Watchfs::start(&args);
    assert_eq!(w.terminate().code(), Some(0));
    assert!(state.exists());
    assert!(service.received().is_empty());
    // Changed while watchfs was down: applied at startup, once.
    fs::write(&conf, "v: 2\n").unwrap();
    let mut w = Watchfs::start(&args);
    assert_eq!(service.received().len(), 1, "{}", w.stderr_text());
    assert_eq!(w.terminate().code(), Some(0));
    // Nothing changed since: nothing applied. The startup comparison runs
    // before the watches are announced, so the count is final here.
    let mut w = Watchfs::start(&args);
    assert_eq!(service.received().len(), 1, "{}", w.stderr_text());
    assert_eq!(w.terminate().code(), Some(0));
    assert_eq!(service.received()[0].config.as_deref(), Some("v: 2\n"));
}

#[test]
fn sigterm_during_the_check_kills_it_and_skips_the_action() {
    let (_tmp, conf, service, check, mut w) = behind_a_slow_check("safe-term-check");
    fs::write(&conf, "valid 2\n").unwrap();
    check.wait_started();
    let (status, took) = w.signal_and_time_exit("TERM");
    assert_eq!(status.code(), Some(0), "{}", w.stderr_text());
    assert!(took < PROMPT, "took {took:?}");
    // Released now, a surviving check would pass and nothing would stop
    // the request: none may come.
    fs::write(&check.release, "").unwrap();
    assert!(service.received().is_empty());
    let text = w.stderr_text();
    assert!(text.contains("the check was stopped"), "{text}");
}

#[test]
fn sigterm_during_the_backoff_sends_no_further_request() {
    let tmp = TempDir::new("safe-term-backoff");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let service = FakeService::start(&[Reply::Status(503, "")], Some(&conf));
    let mut w = Watchfs::start(&posting(
        &service,
        &conf,
        &["--retries", "5", "--backoff", "20s"],
    ));
    fs::write(&conf, "v: 2\n").unwrap();
    w.wait_stderr("retrying in 20s");
    let (status, took) = w.signal_and_time_exit("TERM");
    assert_eq!(status.code(), Some(0));
    assert!(took < PROMPT, "took {took:?}");
    assert_eq!(service.received().len(), 1);
}

#[test]
fn sigterm_during_a_hanging_request_abandons_it() {
    let tmp = TempDir::new("safe-term-hang");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let service = FakeService::start(&[Reply::Hang], Some(&conf));
    let mut w = Watchfs::start(&posting(&service, &conf, &["--timeout", "60s"]));
    fs::write(&conf, "v: 2\n").unwrap();
    service.wait_requests(1);
    let (status, took) = w.signal_and_time_exit("TERM");
    assert_eq!(status.code(), Some(0));
    assert!(took < PROMPT, "took {took:?}");
}

#[test]
fn sigint_during_the_check_is_prompt_too() {
    let (_tmp, conf, service, check, mut w) = behind_a_slow_check("safe-int-check");
    fs::write(&conf, "valid 2\n").unwrap();
    check.wait_started();
    let (status, took) = w.signal_and_time_exit("INT");
    assert_eq!(status.code(), Some(0));
    assert!(took < PROMPT, "took {took:?}");
    fs::write(&check.release, "").unwrap();
    assert!(service.received().is_empty());
}

#[test]
fn sighup_applies_the_current_content_and_does_not_kill() {
    let (_tmp, _conf, service, check, mut w) = behind_a_slow_check("safe-hup");
    common::send_signal(w.pid(), "HUP");
    // Nothing changed, yet the check runs and the action follows.
    check.wait_started();
    check.release();
    let received = service.wait_requests(1);
    assert_eq!(received[0].config.as_deref(), Some("valid 1\n"));
    w.wait_stderr("-> 200");
    assert!(w.is_running(), "SIGHUP killed watchfs");
    w.wait_stderr("SIGHUP: applying the current content");
    assert_eq!(w.terminate().code(), Some(0));
}

/// Runs watchfs with `args` and returns its exit code and stderr; it must
/// exit by itself, before announcing any watch.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let mut w = Watchfs::spawn(args);
    let status = w.wait_exit();
    let text = w.stderr_text();
    assert!(!text.contains(READY), "{args:?} started watching:\n{text}");
    (status.code(), text)
}

#[test]
fn what_can_never_work_is_refused_at_startup() {
    let tmp = TempDir::new("safe-startup");
    let conf = tmp.join("conf");
    fs::write(&conf, "x").unwrap();
    let conf = conf.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--post", "http://", &conf], "hint:"),
        (&["--post", "http://exa mple/", &conf], "hint:"),
        (
            &[
                "--post",
                "http://127.0.0.1:1/",
                "--check",
                "no-such-checker x",
                &conf,
            ],
            "not found on PATH",
        ),
        (
            &[
                "--post",
                "http://127.0.0.1:1/",
                "--check",
                "promtool check config a.yml > /dev/null",
                &conf,
            ],
            "add --shell",
        ),
        (
            &[
                "--post",
                "http://127.0.0.1:1/",
                "--check",
                "true && true",
                &conf,
            ],
            "add --shell",
        ),
        (
            &[
                "--post",
                "http://127.0.0.1:1/",
                "--check",
                "test -f $CONF",
                &conf,
            ],
            "add --shell",
        ),
        (&[&conf, "--", "no-such-command-here"], "not found on PATH"),
    ];
    for (args, hint) in cases {
        let (code, text) = refused(args);
        assert_eq!(code, Some(2), "{args:?}:\n{text}");
        assert!(text.contains(hint), "{args:?}: no {hint:?} in\n{text}");
    }
}

#[test]
fn the_startup_line_says_what_will_happen() {
    let tmp = TempDir::new("safe-plan");
    let conf = tmp.join("conf");
    let rules = tmp.join("rules");
    fs::write(&conf, "x").unwrap();
    fs::create_dir(&rules).unwrap();
    let service = FakeService::start(&[ok()], None);
    let mut w = Watchfs::start(&[
        "--check",
        "true check config",
        "--post",
        &service.url,
        &conf.display().to_string(),
        &rules.display().to_string(),
    ]);
    let line = w.wait_stderr("on change:");
    assert_eq!(
        line,
        format!(
            "watchfs: watching 2 paths; on change: check 'true check config', then POST {}",
            service.url
        )
    );
}

#[test]
fn a_fifo_or_a_device_in_a_watched_directory_does_not_stop_watchfs() {
    let tmp = TempDir::new("safe-fifo");
    let w_dir = tmp.join("w");
    fs::create_dir(&w_dir).unwrap();
    let conf = w_dir.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let status = Command::new("mkfifo")
        .arg(w_dir.join("fifo"))
        .status()
        .unwrap();
    assert!(status.success());
    let log = common::ActionLog::new(tmp.path());
    let mut args = vec![w_dir.display().to_string()];
    args.extend(log.command());
    // The baseline must not open the FIFO and wait for a writer.
    let _w = Watchfs::start(&args);
    // A link to an endless device appears; reading it would never end.
    std::os::unix::fs::symlink("/dev/zero", w_dir.join("zero")).unwrap();
    log.wait_for(&w_dir.join("zero"));
    // Later changes are still seen.
    fs::write(&conf, "v: 2\n").unwrap();
    log.wait_for(&conf);
}

#[test]
fn changed_paths_are_named_as_the_user_named_them() {
    let tmp = TempDir::new("safe-names");
    let w_dir = tmp.join("w");
    let cm = tmp.join("cm");
    fs::create_dir(&w_dir).unwrap();
    fs::create_dir(&cm).unwrap();
    fs::write(w_dir.join("conf"), "1").unwrap();
    fs::write(tmp.join("single"), "1").unwrap();
    // The Kubernetes ConfigMap layout.
    common::sh(&format!(
        "cd '{}' && mkdir ..v1 && echo 'v: 1' > ..v1/prometheus.yml \
         && ln -s ..v1 ..data && ln -s ..data/prometheus.yml prometheus.yml",
        cm.display()
    ));
    let log = tmp.join("log");
    let args = [
        "w",
        "cm",
        "single",
        "--",
        "sh",
        "-c",
        "printf '%s\\n' \"$WATCHFS_CHANGED\" >> log",
    ];
    let mut w = Watchfs::start_in(tmp.path(), &args);
    let lines = || -> Vec<String> {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    fs::write(w_dir.join("conf"), "2").unwrap();
    wait_until("the change in w", || lines().len() == 1);
    common::sh(&format!(
        "cd '{}' && mkdir ..v2 && echo 'v: 2' > ..v2/prometheus.yml \
         && ln -s ..v2 ..tmp && mv -T ..tmp ..data && rm -rf ..v1",
        cm.display()
    ));
    wait_until("the ConfigMap swap", || lines().len() == 2);
    fs::write(tmp.join("single"), "2").unwrap();
    wait_until("the change of the single file", || lines().len() == 3);
    assert_eq!(
        lines(),
        ["w/conf", "cm/prometheus.yml", "single"],
        "{}",
        w.stderr_text()
    );
    let text = w.stderr_text();
    assert!(text.contains("changed: cm/prometheus.yml"), "{text}");
}

#[test]
fn a_writer_pausing_with_the_file_open_is_never_applied_half() {
    let tmp = TempDir::new("safe-half");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let log = tmp.join("applied");
    let script = format!("cat '{}' >> '{}'", conf.display(), log.display());
    let mut w = Watchfs::start(&[
        conf.display().to_string(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        script,
    ]);
    let mut writer = fs::File::create(&conf).unwrap();
    writer.write_all(b"v: 2, first half").unwrap();
    // A writer that keeps the file open across a pause (a slow tool, a
    // network copy): nothing may be applied until it is done.
    std::thread::sleep(Duration::from_millis(400));
    writer.write_all(b", second half\n").unwrap();
    drop(writer);
    // The action's output is complete once it ends a line (the half has
    // no newline; the whole file has one).
    wait_until("the action", || {
        fs::read_to_string(&log).is_ok_and(|t| t.ends_with('\n'))
    });
    // One more change, so that anything the first one caused has run.
    fs::write(&conf, "v: 3\n").unwrap();
    wait_until("the second action", || {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("v: 3")
    });
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "v: 2, first half, second half\nv: 3\n",
        "{}",
        w.stderr_text()
    );
}

#[test]
fn a_check_that_hangs_does_not_outlive_watchfs() {
    // The check's whole process group goes, not only its shell.
    let tmp = TempDir::new("safe-group");
    let conf = tmp.join("conf");
    fs::write(&conf, "v: 1\n").unwrap();
    let pids = tmp.join("pids");
    let check = format!(
        "sh -c 'sleep 60 & echo $! > \"$1\"; wait' check {}",
        pids.display()
    );
    let service = FakeService::start(&[ok()], None);
    let mut w = Watchfs::start(&posting(&service, &conf, &["--check", &check]));
    fs::write(&conf, "v: 2\n").unwrap();
    wait_until("the check's child", || {
        fs::read_to_string(&pids).is_ok_and(|t| t.ends_with('\n'))
    });
    let (_, took) = w.signal_and_time_exit("TERM");
    assert!(took < PROMPT, "took {took:?}");
    let pid = fs::read_to_string(&pids).unwrap().trim().to_string();
    wait_until("the check's child to go", || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(") ")
            .next()
            .and_then(|rest| rest.chars().next());
        matches!(state, None | Some('Z') | Some('X'))
    });
}
