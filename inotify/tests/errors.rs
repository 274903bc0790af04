//! Typed errors from real system calls, and the watch flags that cause them.

mod common;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{drain, watching};
use inotify::{ErrorKind, EventBuffer, EventMask, Inotify, WatchMask};
use test_support::TempDir;

#[test]
fn missing_path_is_not_found_and_named() {
    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init().unwrap();
    let missing = dir.join("missing");
    let err = ino.add_watch(&missing, WatchMask::CREATE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.path(), Some(missing.as_path()));
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn onlydir_on_a_file_is_not_a_directory() {
    let dir = TempDir::new("inotify-test");
    let file = dir.join("f");
    fs::write(&file, b"").unwrap();
    let ino = Inotify::init().unwrap();
    let err = ino
        .add_watch(&file, WatchMask::CREATE | WatchMask::ONLYDIR)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotADirectory);
    // Without ONLYDIR the file can be watched.
    ino.add_watch(&file, WatchMask::MODIFY).unwrap();
}

#[test]
fn dont_follow_watches_the_link_itself() {
    let dir = TempDir::new("inotify-test");
    fs::create_dir(dir.join("target")).unwrap();
    std::os::unix::fs::symlink("target", dir.join("link")).unwrap();
    let ino = Inotify::init().unwrap();
    // Following the link reaches a directory...
    ino.add_watch(dir.join("link"), WatchMask::CREATE | WatchMask::ONLYDIR)
        .unwrap();
    // ...not following it leaves a symlink, which is not one.
    let err = ino
        .add_watch(
            dir.join("link"),
            WatchMask::CREATE | WatchMask::ONLYDIR | WatchMask::DONT_FOLLOW,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotADirectory);
}

#[test]
fn mask_create_on_a_watched_object_is_already_watched() {
    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init().unwrap();
    ino.add_watch(dir.path(), WatchMask::CREATE | WatchMask::MASK_CREATE)
        .unwrap();
    let err = ino
        .add_watch(dir.path(), WatchMask::DELETE | WatchMask::MASK_CREATE)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyWatched);
    assert_eq!(err.path(), Some(dir.path()));
}

#[test]
fn same_object_twice_gives_the_same_descriptor() {
    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init().unwrap();
    let a = ino.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let b = ino.add_watch(dir.path(), WatchMask::DELETE).unwrap();
    assert_eq!(a, b);
}

#[test]
fn mask_add_merges_and_plain_add_replaces() {
    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE);
    ino.add_watch(dir.path(), WatchMask::DELETE | WatchMask::MASK_ADD)
        .unwrap();
    File::create(dir.join("f")).unwrap();
    fs::remove_file(dir.join("f")).unwrap();
    let mut buf = EventBuffer::default();
    let masks: Vec<_> = drain(&ino, &mut buf).iter().map(|e| e.mask()).collect();
    assert_eq!(masks, [EventMask::CREATE, EventMask::DELETE]);
    // Without MASK_ADD the mask is replaced: CREATE is no longer reported.
    assert_eq!(ino.add_watch(dir.path(), WatchMask::DELETE).unwrap(), wd);
    File::create(dir.join("g")).unwrap();
    fs::remove_file(dir.join("g")).unwrap();
    let masks: Vec<_> = drain(&ino, &mut buf).iter().map(|e| e.mask()).collect();
    assert_eq!(masks, [EventMask::DELETE]);
}

#[test]
fn oneshot_reports_once_then_ignored() {
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::CREATE | WatchMask::ONESHOT);
    File::create(dir.join("a")).unwrap();
    File::create(dir.join("b")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    let got: Vec<_> = evs.iter().map(|e| (e.mask(), e.name())).collect();
    assert_eq!(
        got,
        [(EventMask::CREATE, Some("a")), (EventMask::IGNORED, None)]
    );
}

#[test]
fn excl_unlink_silences_unlinked_children() {
    let mut buf = EventBuffer::default();
    for (flags, expect_modify) in [(WatchMask::empty(), true), (WatchMask::EXCL_UNLINK, false)] {
        let dir = TempDir::new("inotify-test");
        let path = dir.join("f");
        let (ino, _) = watching(dir.path(), WatchMask::MODIFY | flags);
        let mut f = File::create(&path).unwrap();
        fs::remove_file(&path).unwrap();
        std::io::Write::write_all(&mut f, b"after unlink").unwrap();
        let got = drain(&ino, &mut buf);
        assert_eq!(
            got.iter().any(|e| e.mask() == EventMask::MODIFY),
            expect_modify,
            "flags {flags:?}: {got:?}"
        );
    }
}

#[test]
fn nul_in_path_is_rejected() {
    let ino = Inotify::init().unwrap();
    let p = Path::new(OsStr::from_bytes(b"/tmp\0/x"));
    let err = ino.add_watch(p, WatchMask::CREATE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PathContainsNul);
    assert_eq!(err.raw_os_error(), None, "no system call was made");
}

#[test]
fn empty_and_contradictory_masks_are_invalid() {
    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init().unwrap();
    let err = ino.add_watch(dir.path(), WatchMask::empty()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMask);
    let err = ino
        .add_watch(
            dir.path(),
            WatchMask::CREATE | WatchMask::MASK_ADD | WatchMask::MASK_CREATE,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidMask);
}

#[test]
fn path_longer_than_path_max_reaches_the_kernel() {
    let ino = Inotify::init().unwrap();
    let long = "a/".repeat(3000);
    let err = ino.add_watch(&long, WatchMask::CREATE).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    assert_eq!(err.kind(), ErrorKind::Other);
}

#[test]
fn descriptors_of_two_instances_never_compare_equal() {
    let dir = TempDir::new("inotify-test");
    let a = Inotify::init().unwrap();
    let b = Inotify::init().unwrap();
    assert_ne!(a.instance_id(), b.instance_id());
    let wa = a.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let wb = b.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    assert_eq!(wa.raw(), wb.raw(), "fresh instances both start at wd 1");
    assert_ne!(wa, wb);
    assert_ne!(wa.cmp(&wb), std::cmp::Ordering::Equal);
    let set: std::collections::HashSet<_> = [wa, wb].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert_eq!(wa.instance_id(), a.instance_id());
}

#[test]
fn foreign_descriptor_is_refused_without_touching_our_watch() {
    let dir = TempDir::new("inotify-test");
    let (a, wa) = watching(dir.path(), WatchMask::CREATE);
    let b = Inotify::init_nonblocking().unwrap();
    let wb = b.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    assert_eq!(wa.raw(), wb.raw());
    let err = a.rm_watch(wb).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownWatch);
    // a's watch is still alive.
    File::create(dir.join("f")).unwrap();
    let mut buf = EventBuffer::default();
    let evs = drain(&a, &mut buf);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].mask(), EventMask::CREATE);
}

#[test]
fn a_descriptor_rebuilt_from_its_number_removes_the_watch() {
    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE);
    let again = ino.watch_descriptor(wd.raw());
    assert_eq!(again, wd);
    ino.rm_watch(again).unwrap();
    let err = ino.rm_watch(wd).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownWatch);
    // Another instance's descriptor with the same number stays foreign.
    let other = Inotify::init_nonblocking().unwrap();
    assert_ne!(other.watch_descriptor(wd.raw()), wd);
}

#[test]
fn events_carry_descriptors_equal_to_add_watch_results() {
    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE);
    File::create(dir.join("f")).unwrap();
    let mut buf = EventBuffer::default();
    match &drain(&ino, &mut buf)[..] {
        [common::Ev::Watch { wd: got, .. }] => assert_eq!(*got, wd),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wait_reports_readiness_and_timeouts() {
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::CREATE);
    assert!(!ino.wait(Some(std::time::Duration::ZERO)).unwrap());
    assert!(
        !ino.wait(Some(std::time::Duration::from_millis(20)))
            .unwrap()
    );
    File::create(dir.join("f")).unwrap();
    assert!(ino.wait(Some(std::time::Duration::ZERO)).unwrap());
    assert!(ino.wait(None).unwrap());
    let mut buf = EventBuffer::default();
    assert_eq!(drain(&ino, &mut buf).len(), 1);
    assert!(!ino.wait(Some(std::time::Duration::ZERO)).unwrap());
    // wait(None) returns when another thread causes an event.
    std::thread::scope(|s| {
        s.spawn(|| File::create(dir.join("g")).unwrap());
        assert!(ino.wait(None).unwrap());
    });
}

#[test]
fn owned_fd_round_trip_keeps_the_queue() {
    let dir = TempDir::new("inotify-test");
    let (ino, _) = watching(dir.path(), WatchMask::CREATE);
    let old_id = ino.instance_id();
    File::create(dir.join("f")).unwrap();
    let fd: std::os::fd::OwnedFd = ino.into();
    let ino = Inotify::from(fd);
    assert_ne!(ino.instance_id(), old_id);
    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].name(), Some("f"));
}

#[test]
fn decode_of_raw_bytes_matches_read() {
    use std::io::Read;
    use std::os::fd::AsFd;
    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE);
    File::create(dir.join("raw")).unwrap();
    let mut file = File::from(ino.as_fd().try_clone_to_owned().unwrap());
    let mut bytes = vec![0u8; 4096];
    let n = file.read(&mut bytes).unwrap();
    let evs: Vec<_> = ino
        .decode(&bytes[..n])
        .map(|e| common::own(e.unwrap()))
        .collect();
    assert_eq!(
        evs,
        [common::Ev::Watch {
            wd,
            mask: EventMask::CREATE,
            cookie: 0,
            name: Some("raw".into())
        }]
    );
}
