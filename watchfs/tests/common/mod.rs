//! Shared fixtures for the end-to-end tests: temp dirs, a running `watchfs`
//! with its output collected line by line, and condition waits.
//!
//! Every wait is for a condition (a line printed, a file content, a request
//! received) with a generous deadline that only bounds a failing test; no
//! test sleeps and hopes.
#![allow(dead_code)] // each test binary uses a different part

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Bound for waits that normally finish in milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub use test_support::TempDir;

/// Collected lines of one output stream.
struct Lines {
    rx: Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn new(stream: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a line matching `pred` (also among lines already seen
    /// after `from`); returns its index.
    fn wait_for(&mut self, from: usize, pred: &dyn Fn(&str) -> bool) -> Option<usize> {
        if let Some(i) = self.seen.iter().skip(from).position(|l| pred(l)) {
            return Some(from + i);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line);
                    if pred(self.seen.last().unwrap()) {
                        return Some(self.seen.len() - 1);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Collects lines until the writer closes the stream.
    fn finish(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => return,
            }
        }
    }

    /// Takes every line that has arrived so far without waiting.
    fn drain(&mut self) {
        while let Ok(line) = self.rx.try_recv() {
            self.seen.push(line);
        }
    }
}

/// A running `watchfs`.
pub struct Watchfs {
    child: Child,
    stdout: Lines,
    stderr: Lines,
}

/// The line watchfs prints on stderr once its watches are in place.
pub const READY: &str = "watchfs: watches established";

impl Watchfs {
    /// Starts `watchfs ARGS` and waits until it reports its watches ready.
    pub fn start<S: AsRef<OsStr>>(args: &[S]) -> Watchfs {
        let mut watchfs = Watchfs::spawn(args);
        if watchfs
            .stderr
            .wait_for(0, &|l| l.starts_with(READY))
            .is_none()
        {
            panic!(
                "watchfs never became ready; stderr:\n{}",
                watchfs.stderr_text()
            );
        }
        watchfs
    }

    /// Starts `watchfs ARGS` without waiting for anything.
    pub fn spawn<S: AsRef<OsStr>>(args: &[S]) -> Watchfs {
        Watchfs::spawn_in(Path::new("."), args)
    }

    /// Starts `watchfs ARGS` in directory `cwd` and waits until it reports
    /// its watches ready.
    pub fn start_in<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Watchfs {
        let mut watchfs = Watchfs::spawn_in(cwd, args);
        if watchfs
            .stderr
            .wait_for(0, &|l| l.starts_with(READY))
            .is_none()
        {
            panic!(
                "watchfs never became ready; stderr:\n{}",
                watchfs.stderr_text()
            );
        }
        watchfs
    }

    /// Starts `watchfs ARGS` in directory `cwd` without waiting.
    pub fn spawn_in<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Watchfs {
        Watchfs::spawn_with_env(cwd, args, &[])
    }

    /// Starts `watchfs ARGS` in `cwd` with these environment variables set,
    /// without waiting.
    pub fn spawn_with_env<S: AsRef<OsStr>>(
        cwd: &Path,
        args: &[S],
        envs: &[(&str, &str)],
    ) -> Watchfs {
        let mut child = Command::new(env!("CARGO_BIN_EXE_watchfs"))
            .current_dir(cwd)
            .envs(envs.iter().copied())
            .args(args)
            // Requests go to the test's own server, never through a proxy.
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start watchfs");
        let stdout = Lines::new(child.stdout.take().unwrap());
        let stderr = Lines::new(child.stderr.take().unwrap());
        Watchfs {
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for a stderr line containing `needle`; panics with the whole
    /// stderr when it does not come.
    pub fn wait_stderr(&mut self, needle: &str) -> String {
        self.wait_stderr_after(0, needle).1
    }

    /// Like [`wait_stderr`](Self::wait_stderr), only considering lines from
    /// index `from` on; returns the index and the line.
    pub fn wait_stderr_after(&mut self, from: usize, needle: &str) -> (usize, String) {
        match self.stderr.wait_for(from, &|l| l.contains(needle)) {
            Some(i) => (i, self.stderr.seen[i].clone()),
            None => panic!(
                "no stderr line containing {needle:?} within {PATIENCE:?}; stderr:\n{}",
                self.stderr_text()
            ),
        }
    }

    /// Waits for the next stdout line matching `pred`.
    pub fn wait_stdout(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        match self.stdout.wait_for(0, &pred) {
            Some(i) => self.stdout.seen[i].clone(),
            None => panic!(
                "no stdout line {what} within {PATIENCE:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout.seen.join("\n"),
                self.stderr_text()
            ),
        }
    }

    /// Stdout lines received so far.
    pub fn stdout_lines(&mut self) -> Vec<String> {
        self.stdout.drain();
        self.stdout.seen.clone()
    }

    /// Stderr lines received so far.
    pub fn stderr_lines(&mut self) -> Vec<String> {
        self.stderr.drain();
        self.stderr.seen.clone()
    }

    pub fn stderr_text(&mut self) -> String {
        self.stderr_lines().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends `signal` and returns the exit status and how long the exit
    /// took from the signal on.
    pub fn signal_and_time_exit(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        send_signal(self.child.id(), signal);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = sent.elapsed();
                self.stdout.finish();
                self.stderr.finish();
                return (status, took);
            }
            if sent.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!(
                    "watchfs did not exit after SIG{signal}; stderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.stdout.finish();
                self.stderr.finish();
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("watchfs did not exit; stderr:\n{}", self.stderr_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        send_signal(self.child.id(), "TERM");
        self.wait_exit()
    }
}

impl Drop for Watchfs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill -SIG pid` through the system tool, keeping the tests free of
/// unsafe code and extra dependencies.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Polls `cond` until it holds; panics with `what` after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs a shell snippet (the filesystem steps of a scenario), failing the
/// test if it fails.
pub fn sh(script: &str) {
    let output = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "script failed: {script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An action that appends one record per run to a log file: the changed
/// paths (WATCHFS_CHANGED) and a `---` separator.
pub struct ActionLog {
    pub path: PathBuf,
}

impl ActionLog {
    pub fn new(dir: &Path) -> ActionLog {
        ActionLog {
            path: dir.join("actions.log"),
        }
    }

    /// `-- sh -c '...'` arguments that append to this log.
    pub fn command(&self) -> Vec<String> {
        vec![
            "--".into(),
            "sh".into(),
            "-c".into(),
            format!(
                "printf '%s\\n---\\n' \"$WATCHFS_CHANGED\" >> '{}'",
                self.path.display()
            ),
        ]
    }

    /// The records so far: for each run, its changed paths.
    pub fn records(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut records = Vec::new();
        let mut current = Vec::new();
        for line in text.lines() {
            if line == "---" {
                records.push(std::mem::take(&mut current));
            } else {
                current.push(line.to_string());
            }
        }
        records
    }

    /// Waits until a record names `path`; returns all records up to and
    /// including it.
    pub fn wait_for(&self, path: &Path) -> Vec<Vec<String>> {
        let wanted = path.display().to_string();
        let mut found = None;
        wait_until(&format!("an action naming {wanted}"), || {
            let records = self.records();
            if let Some(i) = records.iter().position(|r| r.contains(&wanted)) {
                found = Some(records[..=i].to_vec());
                true
            } else {
                false
            }
        });
        found.unwrap()
    }
}

/// What a [`FakeService`] does with one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers with this status and body.
    Status(u16, &'static str),
    /// Accepts the request and never answers.
    Hang,
}

/// One request a [`FakeService`] received.
#[derive(Clone, Debug)]
pub struct Received {
    /// `METHOD /path`.
    pub line: String,
    /// The content of the config file when the request came (what the
    /// service would load), if the service reads one.
    pub config: Option<String>,
}

/// A stand-in for a service's reload endpoint on 127.0.0.1: answers the
/// scripted replies in turn (the last one repeats), reads its config file
/// at each request like Prometheus does, and records what it saw.
pub struct FakeService {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    replies: std::sync::Arc<std::sync::Mutex<Vec<Reply>>>,
}

impl FakeService {
    pub fn start(replies: &[Reply], config: Option<&Path>) -> FakeService {
        FakeService::start_at("127.0.0.1:0", replies, config)
    }

    /// Like [`start`](Self::start), on a given address (a port that was
    /// down until now).
    pub fn start_at(addr: &str, replies: &[Reply], config: Option<&Path>) -> FakeService {
        use std::sync::{Arc, Mutex};
        let server = tiny_http::Server::http(addr).unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(replies.to_vec()));
        let (seen, replies) = (Arc::clone(&received), Arc::clone(&script));
        let config = config.map(Path::to_path_buf);
        std::thread::spawn(move || {
            let mut hanging = Vec::new();
            for (i, request) in server.incoming_requests().enumerate() {
                let content = config
                    .as_ref()
                    .map(|c| std::fs::read_to_string(c).unwrap_or_default());
                let reply = {
                    let replies = replies.lock().unwrap();
                    replies[i.min(replies.len() - 1)].clone()
                };
                seen.lock().unwrap().push(Received {
                    line: format!("{} {}", request.method(), request.url()),
                    config: content,
                });
                match reply {
                    Reply::Status(status, body) => {
                        let response =
                            tiny_http::Response::from_string(body).with_status_code(status);
                        let _ = request.respond(response);
                    }
                    Reply::Hang => hanging.push(request),
                }
            }
        });
        FakeService {
            url: format!("http://{addr}/-/reload"),
            received,
            replies: script,
        }
    }

    /// Replaces the script: requests from now on get these replies (the
    /// last one repeats), counted from the next request.
    pub fn answer_from_now(&self, replies: &[Reply]) {
        let done = self.received().len();
        let mut script = self.replies.lock().unwrap();
        let last = script.last().cloned();
        script.truncate(done);
        while script.len() < done {
            script.push(last.clone().unwrap());
        }
        script.extend_from_slice(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have come; returns them all.
    pub fn wait_requests(&self, n: usize) -> Vec<Received> {
        wait_until(&format!("{n} request(s) at the fake service"), || {
            self.received().len() >= n
        });
        self.received()
    }
}

/// Status line and body of `GET path` from the HTTP server at `addr`.
pub fn get(addr: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}
