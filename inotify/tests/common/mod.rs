//! Shared fixtures: a temp dir cleaned up on drop, and an owned copy of events.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use inotify::{Event, EventBuffer, EventMask, Inotify, WatchDescriptor};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "inotify-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An event copied out of the buffer, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Watch {
        wd: WatchDescriptor,
        mask: EventMask,
        cookie: u32,
        name: Option<OsString>,
    },
    Overflow,
}

impl Ev {
    pub fn mask(&self) -> EventMask {
        match self {
            Ev::Watch { mask, .. } => *mask,
            Ev::Overflow => EventMask::Q_OVERFLOW,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            Ev::Watch { name, .. } => name.as_deref().and_then(|n| n.to_str()),
            Ev::Overflow => None,
        }
    }
}

pub fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Watch(w) => Ev::Watch {
            wd: w.wd,
            mask: w.mask,
            cookie: w.cookie,
            name: w.name.map(|n| n.to_owned()),
        },
        Event::Overflow => Ev::Overflow,
    }
}

/// Reads a non-blocking instance until `WouldBlock`. inotify queues events
/// before the system call that caused them returns, so everything done by
/// this thread beforehand is in the result.
pub fn drain(inotify: &Inotify, buf: &mut EventBuffer) -> Vec<Ev> {
    let mut out = Vec::new();
    loop {
        match inotify.read(buf) {
            Ok(events) => {
                for e in events {
                    out.push(own(e.expect("well-formed record from the kernel")));
                }
            }
            Err(e) if e.is_would_block() => return out,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// A non-blocking instance with one watch on `path`.
pub fn watching(path: &Path, mask: inotify::WatchMask) -> (Inotify, WatchDescriptor) {
    let inotify = Inotify::init_nonblocking().expect("init");
    let wd = inotify.add_watch(path, mask).expect("add_watch");
    (inotify, wd)
}
