//! `AsyncWatcher` and `AsyncDebouncedWatcher` (feature `tokio`) on a
//! current-thread runtime, for every backend whose descriptor can drive a
//! stream. One test per binary: it checks that descriptors are closed.

mod common;

use std::fs;
use std::future::poll_fn;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use common::backends;
use futures_core::Stream;
use test_support::TempDir;
use watch_core::{AsyncWatcher, Backend, Config, Error, Event, EventKind, RecursiveMode, Watcher};

/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

fn watcher(backend: Backend, dir: &Path) -> Watcher {
    let config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_millis(20));
    let mut w = Watcher::with_config(config).expect("watcher");
    w.watch(dir, RecursiveMode::Recursive).expect("watch");
    w
}

/// What descriptor `fd` of this process refers to, if it is open.
fn fd_target(fd: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

async fn next_matching(
    stream: &mut AsyncWatcher,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(PATIENCE, async {
        // Through the Stream trait, as combinators use it.
        while let Some(event) = poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await {
            let event = event.expect("stream error");
            let done = pred(&event);
            seen.push(event);
            if done {
                return;
            }
        }
        panic!("the stream ended");
    })
    .await;
    assert!(found.is_ok(), "no {what} within {PATIENCE:?}: {seen:?}");
    seen
}

#[test]
fn streams_deliver_a_creation_and_a_rename_and_end_cleanly_on_drop() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Outside a runtime: a typed error, not a panic.
    let dir = TempDir::new("tokio-outside");
    let err = AsyncWatcher::new(watcher(Backend::Poll, dir.path())).unwrap_err();
    assert!(err.to_string().contains("tokio runtime"), "{err}");

    for backend in backends() {
        let dir = TempDir::new("tokio-stream");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        rt.block_on(async {
            let stream = AsyncWatcher::new(watcher(backend, dir.path()));
            let mut stream = match stream {
                Err(Error::Unsupported { .. }) if backend == Backend::Kqueue => return,
                other => other.expect("AsyncWatcher::new"),
            };
            let fd = stream.get_ref().as_raw_fd();
            let target = fd_target(fd).expect("the watcher's descriptor is open");

            fs::write(&a, "1").unwrap();
            next_matching(&mut stream, "creation of a", |e| {
                e.kind == EventKind::Created && e.path == a
            })
            .await;
            fs::rename(&a, &b).unwrap();
            let seen = next_matching(&mut stream, "rename a -> b", |e| e.path == b).await;
            let last = seen.last().unwrap();
            assert_eq!(
                last.kind,
                EventKind::Renamed { from: a.clone() },
                "{backend}: {seen:?}"
            );

            // A watch added through the stream reports too.
            let other = TempDir::new("tokio-stream-added");
            stream
                .watch(other.path(), RecursiveMode::NonRecursive)
                .unwrap();
            let c = other.path().join("c");
            fs::write(&c, "1").unwrap();
            next_matching(&mut stream, "creation of c", |e| e.path == c).await;

            drop(stream);
            assert_ne!(
                fd_target(fd),
                Some(target),
                "{backend}: the descriptor outlived the stream"
            );
        });
    }

    // Debounced: an atomic save is one batch.
    for backend in backends() {
        let dir = TempDir::new("tokio-debounced");
        let config = dir.path().join("config.toml");
        fs::write(&config, "old").unwrap();
        rt.block_on(async {
            let stream = AsyncWatcher::new(watcher(backend, dir.path()));
            let stream = match stream {
                Err(Error::Unsupported { .. }) if backend == Backend::Kqueue => return,
                other => other.expect("AsyncWatcher::new"),
            };
            let mut batches = stream.debounced(Duration::from_millis(50));
            let tmp = dir.path().join(".config.toml.tmp");
            fs::write(&tmp, "new").unwrap();
            fs::rename(&tmp, &config).unwrap();
            let batch = tokio::time::timeout(PATIENCE, batches.next_batch())
                .await
                .expect("a batch in time")
                .expect("the stream goes on")
                .expect("no error");
            assert!(
                batch.iter().any(|e| e.path == config),
                "{backend}: {batch:?}"
            );
            assert!(batch.iter().all(|e| e.path != tmp), "{backend}: {batch:?}");
        });
    }
    drop(rt);
}
