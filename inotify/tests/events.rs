//! Each event kind, produced by real filesystem operations in temp dirs.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};

use common::{Ev, drain, watching};
use inotify::{EventBuffer, EventMask, WatchMask};
use test_support::TempDir;

fn only(evs: &[Ev]) -> &Ev {
    assert_eq!(evs.len(), 1, "expected one event, got {evs:?}");
    &evs[0]
}

#[test]
fn create_names_the_entry() {
    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE);
    File::create(dir.join("a.txt")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(
        only(&evs),
        &Ev::Watch {
            wd,
            mask: EventMask::CREATE,
            cookie: 0,
            name: Some("a.txt".into())
        }
    );
}

#[test]
fn modify_and_close_write() {
    let dir = TempDir::new("inotify-test");
    let path = dir.join("f");
    fs::write(&path, b"x").unwrap();
    let (ino, _) = watching(dir.path(), WatchMask::MODIFY | WatchMask::CLOSE_WRITE);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"more").unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(only(&evs).mask(), EventMask::MODIFY);
    assert_eq!(evs[0].name(), Some("f"));
    drop(f);
    let evs = drain(&ino, &mut buf);
    assert_eq!(only(&evs).mask(), EventMask::CLOSE_WRITE);
    assert_eq!(evs[0].name(), Some("f"));
}

#[test]
fn open_and_close_nowrite_on_the_file_itself() {
    let dir = TempDir::new("inotify-test");
    let path = dir.join("f");
    fs::write(&path, b"x").unwrap();
    let (ino, wd) = watching(&path, WatchMask::OPEN | WatchMask::CLOSE_NOWRITE);
    let mut s = String::new();
    File::open(&path).unwrap().read_to_string(&mut s).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    let masks: Vec<_> = evs.iter().map(Ev::mask).collect();
    assert_eq!(masks, [EventMask::OPEN, EventMask::CLOSE_NOWRITE]);
    for e in &evs {
        let Ev::Watch { wd: w, name, .. } = e else {
            panic!()
        };
        assert_eq!(*w, wd);
        assert_eq!(
            *name, None,
            "events on the watched file itself carry no name"
        );
    }
}

#[test]
fn attrib() {
    let dir = TempDir::new("inotify-test");
    let path = dir.join("f");
    fs::write(&path, b"x").unwrap();
    let (ino, _) = watching(dir.path(), WatchMask::ATTRIB);
    let mut perm = fs::metadata(&path).unwrap().permissions();
    perm.set_readonly(true);
    fs::set_permissions(&path, perm).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(only(&evs).mask(), EventMask::ATTRIB);
    assert_eq!(evs[0].name(), Some("f"));
}

#[test]
fn rename_pairs_moved_from_and_moved_to_by_cookie() {
    let dir = TempDir::new("inotify-test");
    fs::create_dir(dir.join("src")).unwrap();
    fs::create_dir(dir.join("dst")).unwrap();
    fs::write(dir.join("src/a"), b"").unwrap();
    let ino = inotify::Inotify::init_nonblocking().unwrap();
    let wsrc = ino.add_watch(dir.join("src"), WatchMask::MOVE).unwrap();
    let wdst = ino.add_watch(dir.join("dst"), WatchMask::MOVE).unwrap();
    assert_ne!(wsrc, wdst);
    fs::rename(dir.join("src/a"), dir.join("dst/b")).unwrap();
    fs::rename(dir.join("dst/b"), dir.join("dst/c")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(evs.len(), 4, "{evs:?}");
    let fields = |e: &Ev| match e {
        Ev::Watch {
            wd, mask, cookie, ..
        } => (*wd, *mask, *cookie, e.name().unwrap().to_owned()),
        Ev::Overflow => panic!(),
    };
    let (w0, m0, c0, n0) = fields(&evs[0]);
    let (w1, m1, c1, n1) = fields(&evs[1]);
    let (w2, m2, c2, n2) = fields(&evs[2]);
    let (w3, m3, c3, n3) = fields(&evs[3]);
    assert_eq!((w0, m0, n0.as_str()), (wsrc, EventMask::MOVED_FROM, "a"));
    assert_eq!((w1, m1, n1.as_str()), (wdst, EventMask::MOVED_TO, "b"));
    assert_eq!((w2, m2, n2.as_str()), (wdst, EventMask::MOVED_FROM, "b"));
    assert_eq!((w3, m3, n3.as_str()), (wdst, EventMask::MOVED_TO, "c"));
    assert_ne!(c0, 0);
    assert_eq!(c0, c1);
    assert_eq!(c2, c3);
    assert_ne!(c0, c2, "each rename has its own cookie");
}

#[test]
fn delete() {
    let dir = TempDir::new("inotify-test");
    fs::write(dir.join("f"), b"").unwrap();
    let (ino, _) = watching(dir.path(), WatchMask::DELETE);
    fs::remove_file(dir.join("f")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(only(&evs).mask(), EventMask::DELETE);
    assert_eq!(evs[0].name(), Some("f"));
}

#[test]
fn delete_self_is_followed_by_ignored() {
    let dir = TempDir::new("inotify-test");
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let (ino, wd) = watching(&sub, WatchMask::DELETE_SELF);
    fs::remove_dir(&sub).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(
        evs[0],
        Ev::Watch {
            wd,
            mask: EventMask::DELETE_SELF,
            cookie: 0,
            name: None
        }
    );
    assert_eq!(
        evs[1],
        Ev::Watch {
            wd,
            mask: EventMask::IGNORED,
            cookie: 0,
            name: None
        }
    );
    // The kernel dropped the watch: removing it again is an UnknownWatch.
    let err = ino.rm_watch(wd).unwrap_err();
    assert_eq!(err.kind(), inotify::ErrorKind::UnknownWatch);
}

#[test]
fn move_self() {
    let dir = TempDir::new("inotify-test");
    let sub = dir.join("sub");
    fs::create_dir(&sub).unwrap();
    let (ino, wd) = watching(&sub, WatchMask::MOVE_SELF);
    fs::rename(&sub, dir.join("moved")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(
        only(&evs),
        &Ev::Watch {
            wd,
            mask: EventMask::MOVE_SELF,
            cookie: 0,
            name: None
        }
    );
}

#[test]
fn isdir_is_set_for_directories_only() {
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::CREATE | WatchMask::DELETE);
    fs::create_dir(dir.join("d")).unwrap();
    fs::write(dir.join("f"), b"").unwrap();
    fs::remove_dir(dir.join("d")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    let got: Vec<_> = evs.iter().map(|e| (e.mask(), e.name().unwrap())).collect();
    assert_eq!(
        got,
        [
            (EventMask::CREATE | EventMask::ISDIR, "d"),
            (EventMask::CREATE, "f"),
            (EventMask::DELETE | EventMask::ISDIR, "d"),
        ]
    );
}

#[test]
fn rm_watch_queues_ignored() {
    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE);
    ino.rm_watch(wd).unwrap();
    File::create(dir.join("after")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(only(&evs).mask(), EventMask::IGNORED);
}

#[test]
fn nonblocking_read_with_nothing_queued_would_block() {
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::ALL_EVENTS);
    let mut buf = EventBuffer::default();
    let err = ino.read(&mut buf).unwrap_err();
    assert!(err.is_would_block());
    assert_eq!(err.kind(), inotify::ErrorKind::WouldBlock);
}

#[test]
fn blocking_read_returns_once_an_event_arrives() {
    let dir = TempDir::new("inotify-test");
    let ino = inotify::Inotify::init().unwrap();
    ino.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let target = dir.join("late");
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut buf = EventBuffer::default();
            let evs: Vec<Ev> = ino
                .read(&mut buf)
                .unwrap()
                .map(|e| common::own(e.unwrap()))
                .collect();
            evs
        });
        File::create(&target).unwrap();
        let evs = reader.join().unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].name(), Some("late"));
    });
}

#[test]
fn many_events_fill_a_small_buffer_across_reads() {
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::CREATE);
    let names: Vec<String> = (0..200).map(|i| format!("file-{i:03}")).collect();
    for n in &names {
        File::create(dir.join(n)).unwrap();
    }
    let mut buf = EventBuffer::new(EventBuffer::MIN_LEN).unwrap();
    let mut reads = 0;
    let mut got = Vec::new();
    loop {
        match ino.read(&mut buf) {
            Ok(evs) => {
                reads += 1;
                for e in evs {
                    got.push(common::own(e.unwrap()).name().unwrap().to_owned());
                }
            }
            Err(e) if e.is_would_block() => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, names);
    assert!(reads > 1, "272 bytes cannot hold 200 events");
}

#[test]
fn kernel_name_padding_matches_the_sys_layout_helpers() {
    use std::os::fd::AsFd;
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::CREATE);
    let names: Vec<String> = (1..=40).map(|n| "n".repeat(n)).collect();
    for n in &names {
        File::create(dir.join(n)).unwrap();
    }
    let mut raw = File::from(ino.as_fd().try_clone_to_owned().unwrap());
    let mut bytes = vec![0u8; 64 * 1024];
    let total = raw.read(&mut bytes).unwrap();
    let bytes = &bytes[..total];
    let mut off = 0;
    for n in &names {
        let len = u32::from_ne_bytes(bytes[off + 12..off + 16].try_into().unwrap()) as usize;
        assert_eq!(
            len,
            inotify_sys::inotify_name_size(n.len()),
            "name of {} bytes",
            n.len()
        );
        assert_eq!(len % inotify_sys::IN_NAME_ALIGN, 0);
        off += inotify_sys::inotify_record_size(n.len());
    }
    assert_eq!(off, total, "all records accounted for");
    let decoded: Vec<String> = ino
        .decode(bytes)
        .map(|e| common::own(e.unwrap()).name().unwrap().to_owned())
        .collect();
    assert_eq!(decoded, names);
}
