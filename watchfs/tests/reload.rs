//! End to end: reload actions fire exactly once per real content change.
//!
//! Pattern for "exactly once" and "not at all": after the step under test,
//! change a marker file and wait for the action that names it. Actions run
//! one after another in batch order, so by then every action caused by the
//! step is in the log, and the log must hold exactly the expected records.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{ActionLog, PATIENCE, TempDir, Watchfs, sh, wait_until};

/// A window wide enough that the steps of one change (open with O_TRUNC,
/// then write; write a temp file, then rename) surely fall inside it on a
/// loaded machine: what these tests check is the coalescing, not timing.
const WIDE: &[&str] = &["--debounce", "1s"];

/// `extra`, plus [`WIDE`] unless it sets its own window.
fn with_wide_window(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    if !extra.contains(&"--debounce") {
        args.extend(WIDE.iter().map(|s| s.to_string()));
    }
    args
}

/// A scenario directory: `w/` is watched and holds `conf` and `marker`;
/// the action log lives outside it.
struct Setup {
    tmp: TempDir,
    log: ActionLog,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let tmp = TempDir::new(tag);
        fs::create_dir(tmp.join("w")).unwrap();
        fs::write(tmp.join("w/conf"), "version: 1\n").unwrap();
        fs::write(tmp.join("w/marker"), "0").unwrap();
        let log = ActionLog::new(tmp.path());
        Setup { tmp, log }
    }

    fn dir(&self) -> String {
        self.tmp.join("w").display().to_string()
    }

    fn conf(&self) -> std::path::PathBuf {
        self.tmp.join("w/conf")
    }

    fn marker(&self) -> std::path::PathBuf {
        self.tmp.join("w/marker")
    }

    /// Watches the two files by name (not their directory).
    fn start_on_files(&self, extra: &[&str]) -> Watchfs {
        let mut args: Vec<String> = vec![
            self.conf().display().to_string(),
            self.marker().display().to_string(),
        ];
        args.extend(with_wide_window(extra));
        args.extend(self.log.command());
        Watchfs::start(&args)
    }

    /// Watches the directory.
    fn start_on_dir(&self, extra: &[&str]) -> Watchfs {
        let mut args: Vec<String> = vec![self.dir()];
        args.extend(with_wide_window(extra));
        args.extend(self.log.command());
        Watchfs::start(&args)
    }

    /// Changes the marker and returns the action records up to its action.
    fn records_through_marker(&self) -> Vec<Vec<String>> {
        fs::write(self.marker(), "1").unwrap();
        self.log.wait_for(&self.marker())
    }

    fn conf_record(&self) -> Vec<String> {
        vec![self.conf().display().to_string()]
    }

    fn marker_record(&self) -> Vec<String> {
        vec![self.marker().display().to_string()]
    }

    /// Asserts the step caused exactly one action, naming `conf`.
    fn assert_one_action_for_conf(&self, w: &mut Watchfs) {
        self.log.wait_for(&self.conf());
        let records = self.records_through_marker();
        let expected = vec![self.conf_record(), self.marker_record()];
        assert_eq!(records, expected, "stderr:\n{}", w.stderr_text());
    }

    /// Asserts the step caused no action at all.
    fn assert_no_action(&self, w: &mut Watchfs) {
        let records = self.records_through_marker();
        assert_eq!(
            records,
            vec![self.marker_record()],
            "stderr:\n{}",
            w.stderr_text()
        );
    }
}

#[test]
fn atomic_save_of_a_watched_file_is_one_action() {
    let s = Setup::new("atomic");
    let mut w = s.start_on_files(&[]);
    // The write-temp-then-rename save of vim, JetBrains, Go and Rust tools.
    let tmp = s.tmp.join("w/.conf.swp");
    fs::write(&tmp, "version: 2\n").unwrap();
    fs::rename(&tmp, s.conf()).unwrap();
    s.assert_one_action_for_conf(&mut w);
}

#[test]
fn in_place_write_is_one_action() {
    let s = Setup::new("inplace");
    let mut w = s.start_on_files(&[]);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(s.conf())
        .unwrap();
    file.write_all(b"version: ").unwrap();
    file.write_all(b"2\n").unwrap();
    drop(file);
    s.assert_one_action_for_conf(&mut w);
}

#[test]
fn sed_in_place_is_one_action() {
    let s = Setup::new("sed");
    let mut w = s.start_on_files(&[]);
    sh(&format!("sed -i 's/1/2/' '{}'", s.conf().display()));
    assert_eq!(fs::read_to_string(s.conf()).unwrap(), "version: 2\n");
    s.assert_one_action_for_conf(&mut w);
}

#[test]
fn touch_and_equal_content_rewrite_cause_no_action() {
    let s = Setup::new("touch");
    let mut w = s.start_on_dir(&[]);
    sh(&format!("touch '{}'", s.conf().display()));
    fs::write(s.conf(), "version: 1\n").unwrap();
    // An atomic save with the same bytes, too.
    fs::write(s.tmp.join("w/.conf.tmp"), "version: 1\n").unwrap();
    fs::rename(s.tmp.join("w/.conf.tmp"), s.conf()).unwrap();
    s.assert_no_action(&mut w);
}

#[test]
fn thousand_writes_within_the_window_are_one_action() {
    let s = Setup::new("storm");
    // A wide window, so that the 1000 writes surely fall inside it even on a
    // loaded machine. -v lists the events on stderr, shown if this fails.
    let mut w = s.start_on_files(&["--debounce", "2s", "-v"]);
    for i in 0..1000 {
        fs::write(s.conf(), format!("version: {i}\n")).unwrap();
    }
    s.assert_one_action_for_conf(&mut w);
}

/// The exact sequence the kubelet uses to update a mounted ConfigMap.
fn configmap_layout(dir: &Path) {
    sh(&format!(
        "cd '{}' && mkdir ..2024_01 && echo 'v: 1' > ..2024_01/prometheus.yml \
         && ln -s ..2024_01 ..data && ln -s ..data/prometheus.yml prometheus.yml",
        dir.display()
    ));
}

fn configmap_swap(dir: &Path) {
    sh(&format!(
        "cd '{}' && mkdir ..2024_02 && echo 'v: 2' > ..2024_02/prometheus.yml \
         && ln -s ..2024_02 ..data_tmp && mv -T ..data_tmp ..data && rm -rf ..2024_01",
        dir.display()
    ));
}

#[test]
fn configmap_swap_in_a_watched_directory_is_one_action() {
    let tmp = TempDir::new("configmap");
    let cm = tmp.join("cm");
    fs::create_dir(&cm).unwrap();
    configmap_layout(&cm);
    let marker = cm.join("marker");
    fs::write(&marker, "0").unwrap();
    let log = ActionLog::new(tmp.path());
    let mut args = vec![cm.display().to_string()];
    args.extend(with_wide_window(&[]));
    args.extend(log.command());
    let _w = Watchfs::start(&args);
    configmap_swap(&cm);
    let conf = cm.join("prometheus.yml");
    log.wait_for(&conf);
    fs::write(&marker, "1").unwrap();
    let records = log.wait_for(&marker);
    let conf = conf.display().to_string();
    assert_eq!(
        records,
        vec![vec![conf], vec![marker.display().to_string()]]
    );
}

#[test]
fn configmap_swap_of_a_watched_file_is_one_action() {
    let tmp = TempDir::new("configmap-file");
    let cm = tmp.join("cm");
    fs::create_dir(&cm).unwrap();
    configmap_layout(&cm);
    let marker = tmp.join("marker");
    fs::write(&marker, "0").unwrap();
    let log = ActionLog::new(tmp.path());
    let conf = cm.join("prometheus.yml");
    let mut args = vec![conf.display().to_string(), marker.display().to_string()];
    args.extend(with_wide_window(&[]));
    args.extend(log.command());
    let _w = Watchfs::start(&args);
    configmap_swap(&cm);
    log.wait_for(&conf);
    fs::write(&marker, "1").unwrap();
    let records = log.wait_for(&marker);
    assert_eq!(
        records,
        vec![
            vec![conf.display().to_string()],
            vec![marker.display().to_string()]
        ]
    );
}

#[test]
fn failing_check_suppresses_the_action_until_a_good_change() {
    let s = Setup::new("check");
    let conf = s.conf().display().to_string();
    let check = format!("grep -qx 'version: [0-9]*' '{conf}'");
    let mut w = s.start_on_files(&["--check", &check]);
    fs::write(s.conf(), "version: broken\n").unwrap();
    w.wait_stderr("check 'grep");
    w.wait_stderr("action skipped");
    fs::write(s.conf(), "version: 3\n").unwrap();
    let records = s.log.wait_for(&s.conf());
    assert_eq!(records, vec![s.conf_record()], "only the good change acted");
    s.assert_one_action_for_conf_after(1);
}

impl Setup {
    /// Like `assert_one_action_for_conf`, for a log that already holds
    /// `before` records.
    fn assert_one_action_for_conf_after(&self, before: usize) {
        let records = self.records_through_marker();
        assert_eq!(records.len(), before + 1, "{records:?}");
        assert_eq!(records.last().unwrap(), &self.marker_record());
    }
}

#[test]
fn missing_path_is_watched_until_it_appears() {
    let s = Setup::new("missing");
    let later = s.tmp.join("w/later.conf");
    let mut args = vec![
        later.display().to_string(),
        s.marker().display().to_string(),
    ];
    args.extend(with_wide_window(&[]));
    args.extend(s.log.command());
    let mut w = Watchfs::spawn(&args);
    w.wait_stderr("later.conf does not exist yet; watching for it to appear");
    w.wait_stderr(common::READY);
    fs::write(&later, "x").unwrap();
    let records = s.log.wait_for(&later);
    assert_eq!(records, vec![vec![later.display().to_string()]]);
}

#[test]
fn signal_reaches_the_service_once_per_change() {
    let s = Setup::new("signal");
    let pidfile = s.tmp.join("svc.pid");
    let hups = s.tmp.join("hups");
    // A stand-in service: counts its SIGHUPs in a file.
    let script = format!(
        "trap 'echo hup >> \"{}\"' HUP; echo $$ > \"{}.tmp\"; mv \"{}.tmp\" \"{}\"; \
         while :; do sleep 1 & wait $!; done",
        hups.display(),
        pidfile.display(),
        pidfile.display(),
        pidfile.display()
    );
    let mut service = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the service's pid file", || pidfile.exists());
    let count = || {
        fs::read_to_string(&hups)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut w = Watchfs::start(&[
        "--debounce",
        "1s",
        "--signal",
        "HUP",
        "--pidfile",
        &pidfile.display().to_string(),
        &s.conf().display().to_string(),
        &s.marker().display().to_string(),
    ]);
    fs::write(s.conf(), "version: 2\n").unwrap();
    w.wait_stderr("sent SIGHUP to pid");
    wait_until("the first SIGHUP", || count() >= 1);
    let (first, _) = w.wait_stderr_after(0, "sent SIGHUP");
    fs::write(s.marker(), "1").unwrap();
    w.wait_stderr_after(first + 1, "sent SIGHUP");
    wait_until("the second SIGHUP", || count() >= 2);
    let sent = w
        .stderr_lines()
        .iter()
        .filter(|l| l.contains("sent SIGHUP"))
        .count();
    assert_eq!(sent, 2, "{}", w.stderr_text());
    let _ = service.kill();
    let _ = service.wait();
    assert_eq!(count(), 2);
}

/// A tiny HTTP server on 127.0.0.1 answering with the given statuses in
/// turn (the last one repeats), recording each request line.
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(statuses: &[u16]) -> Server {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let statuses = statuses.to_vec();
        std::thread::spawn(move || {
            for (i, request) in server.incoming_requests().enumerate() {
                let status = statuses[i.min(statuses.len() - 1)];
                seen.lock()
                    .unwrap()
                    .push(format!("{} {}", request.method(), request.url()));
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        Server {
            url: format!("http://{addr}/-/reload"),
            requests,
        }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn start_posting(s: &Setup, server: &Server, extra: &[&str]) -> Watchfs {
    let mut args = vec![
        "--post".to_string(),
        server.url.clone(),
        "--backoff".into(),
        "10ms".into(),
        s.conf().display().to_string(),
    ];
    args.extend(with_wide_window(extra));
    Watchfs::start(&args)
}

#[test]
fn post_200_is_a_successful_reload() {
    let s = Setup::new("post200");
    let server = Server::start(&[200]);
    let mut w = start_posting(&s, &server, &[]);
    fs::write(s.conf(), "version: 2\n").unwrap();
    w.wait_stderr("-/reload -> 200");
    assert_eq!(server.requests(), ["POST /-/reload"]);
}

#[test]
fn post_503_is_retried_then_reported() {
    let s = Setup::new("post503");
    let server = Server::start(&[503]);
    let mut w = start_posting(&s, &server, &["--retries", "2"]);
    fs::write(s.conf(), "version: 2\n").unwrap();
    let line = w.wait_stderr("answered 503");
    assert!(line.contains("retrying"), "{line}");
    let last = w.wait_stderr("after 3 attempts");
    assert!(last.contains("answered 503"), "{last}");
    // The change stays pending: the retries go on, further apart.
    w.wait_stderr("the change stays pending");
    assert!(server.requests().len() >= 3);
}

#[test]
fn post_403_explains_the_lifecycle_flag() {
    let s = Setup::new("post403");
    let server = Server::start(&[403]);
    let mut w = start_posting(&s, &server, &[]);
    fs::write(s.conf(), "version: 2\n").unwrap();
    w.wait_stderr("answered 403");
    w.wait_stderr("--web.enable-lifecycle");
    // 403 does not heal by retrying.
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn metrics_count_reloads() {
    let s = Setup::new("metrics");
    let server = Server::start(&[200, 500]);
    let mut w = start_posting(&s, &server, &["--metrics", "127.0.0.1:0", "--retries", "0"]);
    let line = w.wait_stderr("serving metrics on http://");
    let url = line.split("on ").nth(1).unwrap().to_string();
    fs::write(s.conf(), "version: 2\n").unwrap();
    w.wait_stderr("-> 200");
    fs::write(s.conf(), "version: 3\n").unwrap();
    w.wait_stderr("answered 500");
    let body = http_get(&url);
    let value = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
            .to_string()
    };
    assert_eq!(value("reloader_reloads_total"), "2");
    assert_eq!(value("reloader_reloads_failed_total"), "1");
    assert_eq!(value("reloader_last_reload_successful"), "0");
    assert_ne!(
        value("reloader_last_reload_success_timestamp_seconds"),
        "0.000"
    );
    assert_ne!(value("reloader_watch_events_total"), "0");
    assert_ne!(value("reloader_watches"), "0");
}

/// GET with a plain socket: enough for a test of our own server.
fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut body = String::new();
    let mut in_body = false;
    for line in BufReader::new(stream).lines() {
        let line = line.unwrap();
        if in_body {
            body.push_str(&line);
            body.push('\n');
        } else if line.is_empty() {
            in_body = true;
        }
    }
    body
}

#[test]
fn once_exits_zero_after_the_first_action() {
    let s = Setup::new("once-action");
    let mut w = s.start_on_files(&["--once"]);
    fs::write(s.conf(), "version: 2\n").unwrap();
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", w.stderr_text());
    assert_eq!(s.log.records(), vec![s.conf_record()]);
}

#[test]
fn on_busy_queue_runs_again_with_the_changes_made_meanwhile() {
    let s = Setup::new("queue");
    let gate = s.tmp.join("gate");
    // The first run waits for the gate file, so the second change arrives
    // while it is busy.
    let mut args = vec![s.dir(), "--on-busy".to_string(), "queue".to_string()];
    args.extend(with_wide_window(&[]));
    args.extend([
        "--".to_string(),
        "sh".into(),
        "-c".into(),
        format!(
            "while [ ! -e '{gate}' ]; do sleep 0.01; done; printf '%s\\n---\\n' \"$WATCHFS_CHANGED\" >> '{log}'",
            gate = gate.display(),
            log = s.log.path.display()
        ),
    ]);
    let mut w = Watchfs::start(&args);
    fs::write(s.conf(), "version: 2\n").unwrap();
    w.wait_stderr("changed: ");
    fs::write(s.marker(), "1").unwrap();
    let (first, _) = w.wait_stderr_after(0, "changed: ");
    w.wait_stderr_after(first + 1, "changed: ");
    fs::write(&gate, "").unwrap();
    let records = s.log.wait_for(&s.marker());
    assert_eq!(records, vec![s.conf_record(), s.marker_record()]);
}

#[test]
fn sigterm_stops_a_running_command_and_exits_cleanly() {
    let s = Setup::new("term-cmd");
    let pidfile = s.tmp.join("cmd.pid");
    let mut args = vec![s.conf().display().to_string()];
    args.extend(with_wide_window(&[]));
    args.push("--".to_string());
    args.extend([
        "sh".to_string(),
        "-c".into(),
        format!(
            "echo $$ > '{}.tmp'; mv '{0}.tmp' '{0}'; exec sleep 60",
            pidfile.display()
        ),
    ]);
    let mut w = Watchfs::start(&args);
    fs::write(s.conf(), "version: 2\n").unwrap();
    wait_until("the command's pid file", || pidfile.exists());
    let pid = fs::read_to_string(&pidfile).unwrap().trim().to_string();
    common::send_signal(w.pid(), "TERM");
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", w.stderr_text());
    // watchfs reaped it, so the pid no longer names a process.
    let alive = Command::new("kill")
        .args(["-0", &pid])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(!alive, "the command (pid {pid}) outlived watchfs");
}

#[test]
fn on_busy_restart_stops_the_running_command() {
    let s = Setup::new("restart");
    let starts = s.tmp.join("starts");
    let args = vec![
        s.dir(),
        "--debounce".to_string(),
        "1s".to_string(),
        "--on-busy".to_string(),
        "restart".to_string(),
        "--".to_string(),
        "sh".to_string(),
        "-c".to_string(),
        format!(
            "printf '%s\\n' \"$WATCHFS_CHANGED\" >> '{}'; exec sleep 60",
            starts.display()
        ),
    ];
    let mut w = Watchfs::start(&args);
    let lines = || {
        fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    fs::write(s.conf(), "version: 2\n").unwrap();
    wait_until("the first run", || lines().len() == 1);
    fs::write(s.marker(), "1").unwrap();
    w.wait_stderr("command stopped for a newer change (killed by signal 15)");
    wait_until("the second run", || lines().len() == 2);
    assert_eq!(
        lines(),
        [
            s.conf().display().to_string(),
            s.marker().display().to_string()
        ]
    );
}

#[test]
fn once_exits_1_when_the_action_fails() {
    let s = Setup::new("once-fail");
    let mut args = vec![s.conf().display().to_string(), "--once".to_string()];
    args.extend(with_wide_window(&[]));
    args.extend(["--".to_string(), "false".to_string()]);
    let mut w = Watchfs::start(&args);
    fs::write(s.conf(), "version: 2\n").unwrap();
    let status = w.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", w.stderr_text());
    assert!(w.stderr_text().contains("command failed (exit status 1)"));
}

#[test]
fn configmap_swap_under_a_recursive_watch_is_one_action() {
    let tmp = TempDir::new("configmap-r");
    let cm = tmp.join("cm");
    fs::create_dir(&cm).unwrap();
    configmap_layout(&cm);
    let log = ActionLog::new(tmp.path());
    let mut args = vec!["-r".to_string(), cm.display().to_string()];
    args.extend(with_wide_window(&[]));
    args.extend(log.command());
    let _w = Watchfs::start(&args);
    configmap_swap(&cm);
    let conf = cm.join("prometheus.yml");
    let records = log.wait_for(&conf);
    assert_eq!(records.len(), 1, "{records:?}");
    let marker = cm.join("marker");
    fs::write(&marker, "1").unwrap();
    let records = log.wait_for(&marker);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1], vec![marker.display().to_string()]);
}
