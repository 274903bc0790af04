//! Shared fixtures: an owned copy of events, draining an instance, a
//! watching instance. Temp dirs come from `test-support`.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::Path;

use inotify::{Event, EventBuffer, EventMask, Inotify, WatchDescriptor};

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
