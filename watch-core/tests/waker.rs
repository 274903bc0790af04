//! `Watcher::waker`: another thread ends a blocked or future `read`, on
//! every backend this build can run.

mod common;

use std::fs;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::backends;
use test_support::TempDir;
use watch_core::{Backend, Config, Event, EventKind, RecursiveMode, Watcher};

/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

fn watcher(backend: Backend, dir: &TempDir) -> Watcher {
    // A poll interval far beyond the test, so a poll read really blocks.
    let config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_secs(3600));
    let mut w = Watcher::with_config(config).expect("watcher");
    w.watch(dir.path(), RecursiveMode::Recursive)
        .expect("watch");
    w
}

/// The calling thread's id, from /proc/thread-self (`PID/task/TID`).
fn own_tid() -> String {
    let link = fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name().unwrap().to_string_lossy().into_owned()
}

/// Whether thread `tid` of this process sleeps inside a system call
/// (state `S` in its stat, a syscall number rather than `running`).
fn blocked(tid: &str) -> bool {
    let task = format!("/proc/self/task/{tid}");
    let stat = fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().next());
    let syscall = fs::read_to_string(format!("{task}/syscall")).unwrap_or_default();
    state == Some("S")
        && syscall
            .split_whitespace()
            .next()
            .is_some_and(|nr| nr != "running")
}

/// `read(&mut events, None)` on another thread; fails instead of hanging
/// when it does not return within [`PATIENCE`].
fn read_forever(w: Watcher, what: &str) -> (Watcher, usize, Vec<Event>) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut w = w;
        let mut events = Vec::new();
        let n = w.read(&mut events, None).expect("read");
        let _ = tx.send((w, n, events));
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("{what}: read(None) did not return"))
}

#[test]
fn a_wake_ends_a_read_blocked_without_timeout() {
    for backend in backends() {
        let dir = TempDir::new("wake-blocked");
        let mut w = watcher(backend, &dir);
        let waker = w.waker();
        let (tid_tx, tid_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            tid_tx.send(own_tid()).unwrap();
            let mut events = Vec::new();
            let n = w.read(&mut events, None);
            done_tx.send(()).unwrap();
            (n.map_err(|e| e.to_string()), events)
        });
        let tid = tid_rx.recv().unwrap();
        let limit = Instant::now() + PATIENCE;
        // Twice in a row, so a passing system call on the way is not taken
        // for the wait.
        while !(blocked(&tid) && blocked(&tid)) {
            assert!(
                Instant::now() < limit,
                "{backend}: the reader never blocked"
            );
            std::thread::yield_now();
        }
        assert!(
            done_rx.try_recv().is_err(),
            "{backend}: read returned unwoken"
        );
        waker.wake().unwrap();
        done_rx
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{backend}: the wake did not end the read"));
        let (n, events) = reader.join().unwrap();
        assert_eq!(n, Ok(0), "{backend}: {events:?}");
    }
}

#[test]
fn a_wake_before_a_read_ends_that_read_and_only_that_one() {
    for backend in backends() {
        let dir = TempDir::new("wake-before");
        let w = watcher(backend, &dir);
        let waker = w.waker();
        // From another thread, before anyone reads; two wakes count once.
        let handle = waker.clone();
        std::thread::spawn(move || {
            handle.wake().unwrap();
            handle.wake().unwrap();
        })
        .join()
        .unwrap();
        let (mut w, n, _) = read_forever(w, &format!("{backend}, woken before"));
        assert_eq!(n, 0, "{backend}");
        let mut events = Vec::new();
        // The wake is spent: a timed read waits its whole timeout.
        let wait = Duration::from_millis(50);
        let start = Instant::now();
        assert_eq!(w.read(&mut events, Some(wait)).unwrap(), 0, "{backend}");
        assert!(start.elapsed() >= wait, "{backend}: returned early");
    }
}

#[test]
fn events_read_before_a_wake_are_not_lost_and_the_wake_stays_pending() {
    for backend in backends() {
        let dir = TempDir::new("wake-events");
        let mut w = watcher(backend, &dir);
        let waker = w.waker();
        fs::write(dir.path().join("f"), "x").unwrap();
        w.sync(PATIENCE).unwrap();
        waker.wake().unwrap();
        let (w, _, events) = read_forever(w, &format!("{backend}, events"));
        assert!(
            events
                .iter()
                .any(|e| e.kind == EventKind::Created && e.path == dir.path().join("f")),
            "{backend}: {events:?}"
        );
        // The wake was not spent on the read that had events.
        let (_, n, more) = read_forever(w, &format!("{backend}, the wake after events"));
        assert_eq!(n, 0, "{backend}: {more:?}");
    }
}

#[test]
fn a_waker_outliving_its_watcher_does_nothing() {
    for backend in backends() {
        let dir = TempDir::new("wake-dropped");
        let w = watcher(backend, &dir);
        let waker = w.waker();
        drop(w);
        waker.wake().unwrap();
    }
}

#[test]
fn a_wake_survives_a_sync() {
    for backend in backends() {
        let dir = TempDir::new("wake-sync");
        let mut w = watcher(backend, &dir);
        let waker = w.waker();
        waker.wake().unwrap();
        fs::write(dir.path().join("f"), "x").unwrap();
        w.sync(PATIENCE).unwrap();
        // The events sync saw, then the wake: both reads return at once.
        let (w, n, _) = read_forever(w, &format!("{backend}, events of the sync"));
        assert!(n > 0, "{backend}");
        let (_, n, more) = read_forever(w, &format!("{backend}, the wake before the sync"));
        assert_eq!(n, 0, "{backend}: {more:?}");
    }
}

#[test]
fn a_read_that_may_not_wait_leaves_the_wake_for_one_that_would() {
    for backend in backends() {
        let dir = TempDir::new("wake-zero");
        let mut w = watcher(backend, &dir);
        w.waker().wake().unwrap();
        let mut events = Vec::new();
        assert_eq!(w.read(&mut events, Some(Duration::ZERO)).unwrap(), 0);
        let (_, n, more) = read_forever(w, &format!("{backend}, after a zero read"));
        assert_eq!(n, 0, "{backend}: {more:?}");
    }
}
