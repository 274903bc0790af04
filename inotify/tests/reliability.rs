//! Reliability of the safe inotify layer under forced faults and bad input.
//!
//! Faults are forced for real: a child process with a lower `RLIMIT_NOFILE`
//! (`prlimit`), a child in a user namespace whose inotify watch and instance
//! limits are lowered (`unshare`), an unprivileged child (`setpriv`), and
//! signals delivered to a thread blocked in `read(2)` or `poll(2)`.

mod common;

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::thread::JoinHandleExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Ev, drain, watching};
use inotify::{ErrorKind, limits};
use inotify::{EventBuffer, EventMask, Inotify, WatchMask};
use test_support::TempDir;
use test_support::child as rs;

// ---------------------------------------------------------------- bad input

#[test]
fn path_with_nul_is_rejected_before_any_syscall() {
    let inotify = Inotify::init_nonblocking().unwrap();
    for bytes in [&b"a\0b"[..], b"\0", b"/var\0/x", b"trailing\0"] {
        let path = Path::new(OsStr::from_bytes(bytes));
        let err = inotify.add_watch(path, WatchMask::CREATE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PathContainsNul, "{bytes:?}");
        assert_eq!(err.path(), Some(path));
        assert_eq!(err.raw_os_error(), None, "no syscall was made");
        assert!(err.to_string().contains("NUL"), "{err}");
    }
}

#[test]
fn empty_path_is_not_found() {
    let inotify = Inotify::init_nonblocking().unwrap();
    let err = inotify.add_watch("", WatchMask::CREATE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn non_utf8_names_and_paths_round_trip() {
    let dir = TempDir::new("inotify-test");
    let sub = dir.path().join(OsStr::from_bytes(b"dir-\xff\xfe"));
    fs::create_dir(&sub).unwrap();
    let (inotify, wd) = watching(&sub, WatchMask::CREATE);
    let names: [&[u8]; 3] = [b"\x80", b"caf\xe9", b"\xf0\x28\x8c\x28 x"];
    for name in names {
        File::create(sub.join(OsStr::from_bytes(name))).unwrap();
    }
    let evs = drain(&inotify, &mut EventBuffer::default());
    let got: Vec<Vec<u8>> = evs
        .iter()
        .map(|e| match e {
            Ev::Watch { wd: w, name, .. } => {
                assert_eq!(*w, wd);
                name.as_ref().unwrap().as_bytes().to_vec()
            }
            Ev::Overflow => panic!("overflow"),
        })
        .collect();
    assert_eq!(got, names.map(<[u8]>::to_vec));
}

#[test]
fn names_of_255_bytes_and_more() {
    let dir = TempDir::new("inotify-test");
    let (inotify, _) = watching(dir.path(), WatchMask::CREATE);
    let ascii = vec![b'n'; 255];
    let binary = vec![0xffu8; 255];
    File::create(dir.path().join(OsStr::from_bytes(&ascii))).unwrap();
    fs::create_dir(dir.path().join(OsStr::from_bytes(&binary))).unwrap();
    // The smallest buffer holds exactly one record with the longest name.
    let mut small = EventBuffer::new(EventBuffer::MIN_LEN).unwrap();
    let evs = drain(&inotify, &mut small);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(evs[0].mask(), EventMask::CREATE);
    assert_eq!(evs[1].mask(), EventMask::CREATE | EventMask::ISDIR);
    for (ev, want) in evs.iter().zip([&ascii, &binary]) {
        let Ev::Watch { name: Some(n), .. } = ev else {
            panic!("{ev:?}")
        };
        assert_eq!(n.as_bytes(), want.as_slice());
    }

    // 256 bytes: the kernel's answer, with the path, and no panic.
    let too_long = dir.path().join("x".repeat(256));
    let err = inotify.add_watch(&too_long, WatchMask::CREATE).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    assert_eq!(err.path(), Some(too_long.as_path()));
    assert!(err.to_string().contains("File name too long"), "{err}");
}

#[test]
fn paths_around_path_max() {
    let inotify = Inotify::init_nonblocking().unwrap();
    let path_max = libc::PATH_MAX as usize;
    // PATH_MAX - 1 bytes plus the NUL fit: the stack path, resolved normally.
    let mut fits = "./".repeat((path_max - 2) / 2);
    fits.push_str(&"y".repeat(path_max - 1 - fits.len()));
    assert_eq!(fits.len(), path_max - 1);
    let err = inotify.add_watch(&fits, WatchMask::CREATE).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // PATH_MAX bytes and beyond: the heap path, refused by the kernel.
    for len in [path_max, path_max + 1, 3 * path_max] {
        let long = "a/".repeat(len / 2 + 1)[..len].to_owned();
        let err = inotify.add_watch(&long, WatchMask::CREATE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG), "len {len}");
        assert_eq!(err.path().map(|p| p.as_os_str().len()), Some(len));
    }
    // And a directory that really exists but whose absolute path is longer
    // than PATH_MAX (`mkdir -p` builds it one relative step at a time).
    let dir = TempDir::new("inotify-test");
    let component = "d".repeat(200);
    let mut deep = dir.path().to_path_buf();
    for _ in 0..25 {
        deep.push(&component);
    }
    assert!(deep.as_os_str().len() > path_max);
    let status = Command::new("mkdir").arg("-p").arg(&deep).status().unwrap();
    assert!(
        status.success(),
        "mkdir -p of a {}-byte path",
        deep.as_os_str().len()
    );
    let err = inotify.add_watch(&deep, WatchMask::CREATE).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
}

#[test]
fn fifo_is_watched_without_blocking() {
    let dir = TempDir::new("inotify-test");
    let fifo = dir.join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    // Watching never opens the FIFO, so it cannot block on a missing writer.
    let (inotify, wd) = watching(&fifo, WatchMask::MODIFY | WatchMask::ACCESS);
    // O_RDWR on a FIFO does not block on Linux.
    let mut pipe = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    pipe.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    std::io::Read::read_exact(&mut pipe, &mut got).unwrap();
    let evs = drain(&inotify, &mut EventBuffer::default());
    let masks: Vec<EventMask> = evs.iter().map(Ev::mask).collect();
    assert_eq!(masks, [EventMask::MODIFY, EventMask::ACCESS], "{evs:?}");
    assert!(matches!(&evs[0], Ev::Watch { wd: w, name: None, .. } if *w == wd));
}

#[test]
fn device_file_reports_our_own_writes() {
    let (inotify, wd) = watching(Path::new("/dev/null"), WatchMask::OPEN | WatchMask::MODIFY);
    let mut null = OpenOptions::new().write(true).open("/dev/null").unwrap();
    null.write_all(b"x").unwrap();
    // Other processes may use /dev/null too: ours must be among the events.
    let evs = drain(&inotify, &mut EventBuffer::default());
    for want in [EventMask::OPEN, EventMask::MODIFY] {
        assert!(
            evs.iter()
                .any(|e| matches!(e, Ev::Watch { wd: w, mask, .. } if *w == wd && *mask == want)),
            "{want:?} missing in {evs:?}"
        );
    }
}

#[test]
fn proc_entries_can_be_watched_and_unwatched() {
    let inotify = Inotify::init_nonblocking().unwrap();
    for path in [
        "/proc/self",
        "/proc/self/status",
        "/proc/self/fd",
        "/proc/sys/fs/inotify/max_user_watches",
    ] {
        let wd = inotify
            .add_watch(path, WatchMask::ALL_EVENTS)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        inotify.rm_watch(wd).unwrap();
    }
    // procfs does not notify; whatever it queues must decode cleanly.
    let _ = fs::read_to_string("/proc/self/status").unwrap();
    for ev in drain(&inotify, &mut EventBuffer::default()) {
        assert_ne!(ev, Ev::Overflow);
    }
}

#[test]
fn symlink_loops_are_an_error_unless_dont_follow() {
    let dir = TempDir::new("inotify-test");
    symlink("b", dir.join("a")).unwrap();
    symlink("a", dir.join("b")).unwrap();
    symlink("self", dir.join("self")).unwrap();
    let inotify = Inotify::init_nonblocking().unwrap();
    for name in ["a", "b", "self"] {
        let path = dir.join(name);
        let err = inotify.add_watch(&path, WatchMask::CREATE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{name}");
        assert_eq!(err.path(), Some(path.as_path()));
        // The link itself is a fine thing to watch.
        inotify
            .add_watch(&path, WatchMask::ATTRIB | WatchMask::DONT_FOLLOW)
            .unwrap();
    }
    // A loop below a directory is just entries to inotify.
    let err = inotify
        .add_watch(dir.join("a/x"), WatchMask::CREATE)
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
}

#[test]
fn same_inode_through_two_paths_is_one_watch() {
    let dir = TempDir::new("inotify-test");
    let file = dir.join("file");
    fs::write(&file, b"").unwrap();
    fs::hard_link(&file, dir.join("hard")).unwrap();
    symlink("file", dir.join("soft")).unwrap();
    fs::create_dir(dir.join("d")).unwrap();
    symlink("d", dir.join("dlink")).unwrap();
    let inotify = Inotify::init_nonblocking().unwrap();
    let m = WatchMask::MODIFY | WatchMask::CREATE;
    let wd = inotify.add_watch(&file, m).unwrap();
    assert_eq!(inotify.add_watch(dir.join("hard"), m).unwrap(), wd);
    assert_eq!(inotify.add_watch(dir.join("soft"), m).unwrap(), wd);
    let dwd = inotify.add_watch(dir.join("d"), m).unwrap();
    assert_eq!(inotify.add_watch(dir.join("dlink"), m).unwrap(), dwd);
    assert_ne!(wd, dwd);
    // MASK_CREATE names the second path as already watched.
    let err = inotify
        .add_watch(dir.join("hard"), m | WatchMask::MASK_CREATE)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyWatched);

    // One write through either name: exactly one event on the one watch.
    fs::write(dir.join("hard"), b"1").unwrap();
    File::create(dir.join("dlink/new")).unwrap();
    let evs = drain(&inotify, &mut EventBuffer::default());
    let want = vec![
        Ev::Watch {
            wd,
            mask: EventMask::MODIFY,
            cookie: 0,
            name: None,
        },
        Ev::Watch {
            wd: dwd,
            mask: EventMask::CREATE,
            cookie: 0,
            name: Some(OsString::from("new")),
        },
    ];
    assert_eq!(evs, want);
}

#[test]
fn permission_denied_directories_as_an_unprivileged_user() {
    const TEST: &str = "permission_denied_directories_as_an_unprivileged_user";
    if rs::in_child(TEST) {
        let base = PathBuf::from(std::env::var_os(rs::DIR_ENV).unwrap());
        let inotify = Inotify::init_nonblocking().unwrap();
        // Positive control: this user can watch at all.
        inotify
            .add_watch(base.join("open"), WatchMask::CREATE)
            .unwrap();
        for path in [base.join("locked"), base.join("private/inner")] {
            let err = inotify.add_watch(&path, WatchMask::CREATE).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
            assert_eq!(err.path(), Some(path.as_path()));
            assert!(err.to_string().contains("permission denied"), "{err}");
        }
        println!("{}", rs::CHILD_OK);
        return;
    }
    let dir = TempDir::new("inotify-test");
    fs::create_dir(dir.join("open")).unwrap();
    fs::create_dir(dir.join("locked")).unwrap();
    fs::create_dir_all(dir.join("private/inner")).unwrap();
    fs::set_permissions(dir.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(dir.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
    // Root ignores permission bits: check as `nobody` instead.
    rs::rerun(
        TEST,
        &rs::as_nobody_if_root(),
        &[(rs::DIR_ENV, dir.path().as_os_str())],
    );
}

// ------------------------------------------------------------- forced limits

#[test]
fn fd_exhaustion_is_a_typed_error_naming_rlimit_nofile() {
    const TEST: &str = "fd_exhaustion_is_a_typed_error_naming_rlimit_nofile";
    const LIMIT: u64 = 48;
    if rs::in_child(TEST) {
        let dir = PathBuf::from(std::env::var_os(rs::DIR_ENV).unwrap());
        let survivor = Inotify::init_nonblocking().unwrap();
        let wd = survivor.add_watch(&dir, WatchMask::CREATE).unwrap();
        let mut hoard = Vec::new();
        let full = loop {
            match File::open("/dev/null") {
                Ok(f) => hoard.push(f),
                Err(e) => break e,
            }
        };
        assert_eq!(full.raw_os_error(), Some(libc::EMFILE));
        assert!(hoard.len() < LIMIT as usize);
        for init in [Inotify::init, Inotify::init_nonblocking] {
            let err = init().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::FdLimit, "{err}");
            let limit = err.limit().expect("limit");
            assert_eq!(limit.name, "RLIMIT_NOFILE");
            assert_eq!(limit.value, Some(LIMIT));
            let msg = err.to_string();
            assert!(msg.contains("RLIMIT_NOFILE=48"), "{msg}");
            assert!(msg.contains("ulimit -n"), "{msg}");
        }
        // An existing instance keeps working with the table full: watches
        // need no descriptor, and events still arrive.
        fs::create_dir(dir.join("made-while-full")).unwrap();
        let evs = drain(&survivor, &mut EventBuffer::default());
        assert!(
            evs.iter()
                .any(|e| matches!(e, Ev::Watch { wd: w, .. } if *w == wd)
                    && e.name() == Some("made-while-full")),
            "{evs:?}"
        );
        // One descriptor freed: init works again.
        hoard.pop();
        Inotify::init().unwrap();
        println!("{} hoarded={}", rs::CHILD_OK, hoard.len());
        return;
    }
    let dir = TempDir::new("inotify-test");
    let nofile = format!("--nofile={LIMIT}:{LIMIT}");
    let out = rs::rerun(
        TEST,
        &[OsStr::new("prlimit"), OsStr::new(&nofile), OsStr::new("--")],
        &[(rs::DIR_ENV, dir.path().as_os_str())],
    );
    assert!(out.contains("hoarded="), "{out}");
}

#[test]
fn instance_limit_is_a_typed_error_naming_the_sysctl() {
    const TEST: &str = "instance_limit_is_a_typed_error_naming_the_sysctl";
    const LIMIT: usize = 5;
    if rs::in_child(TEST) {
        let mut held = Vec::new();
        let err = loop {
            match Inotify::init() {
                Ok(i) => held.push(i),
                Err(e) => break e,
            }
            assert!(held.len() <= LIMIT, "the namespace limit was not applied");
        };
        // The namespace starts at zero instances: exactly LIMIT succeed.
        assert_eq!(held.len(), LIMIT);
        assert_eq!(err.kind(), ErrorKind::InstanceLimit, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
        let limit = err.limit().expect("limit");
        assert_eq!(limit.name, "fs.inotify.max_user_instances");
        let msg = err.to_string();
        assert!(msg.contains("fs.inotify.max_user_instances="), "{msg}");
        assert!(msg.contains("sysctl"), "{msg}");
        // Closing one instance makes room for one more.
        held.pop();
        held.push(Inotify::init_nonblocking().unwrap());
        assert_eq!(
            Inotify::init_nonblocking().unwrap_err().kind(),
            ErrorKind::InstanceLimit
        );
        println!("{}", rs::CHILD_OK);
        return;
    }
    let wrapper = rs::in_user_namespace("max_inotify_instances", LIMIT as u64);
    let wrapper: Vec<&OsStr> = wrapper.iter().map(OsString::as_os_str).collect();
    rs::rerun(TEST, &wrapper, &[]);
}

#[test]
fn watch_limit_is_a_typed_error_naming_the_sysctl() {
    const TEST: &str = "watch_limit_is_a_typed_error_naming_the_sysctl";
    const LIMIT: usize = 6;
    if rs::in_child(TEST) {
        let base = PathBuf::from(std::env::var_os(rs::DIR_ENV).unwrap());
        let inotify = Inotify::init_nonblocking().unwrap();
        let mut wds = Vec::new();
        for i in 0..LIMIT {
            wds.push(
                inotify
                    .add_watch(base.join(i.to_string()), WatchMask::CREATE)
                    .unwrap(),
            );
        }
        let over = base.join(LIMIT.to_string());
        let err = inotify.add_watch(&over, WatchMask::CREATE).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WatchLimit, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(err.path(), Some(over.as_path()));
        let limit = err.limit().expect("limit");
        assert_eq!(limit.name, "fs.inotify.max_user_watches");
        let msg = err.to_string();
        assert!(msg.contains("inotify watch limit reached"), "{msg}");
        assert!(msg.contains("fs.inotify.max_user_watches="), "{msg}");
        assert!(msg.contains("sysctl"), "{msg}");
        // Updating an existing watch needs no new one.
        inotify
            .add_watch(base.join("0"), WatchMask::CREATE | WatchMask::DELETE)
            .unwrap();
        // Removing a watch frees a slot; the watches left keep working.
        inotify.rm_watch(wds.pop().unwrap()).unwrap();
        let again = inotify.add_watch(&over, WatchMask::CREATE).unwrap();
        File::create(over.join("f")).unwrap();
        File::create(base.join("0/g")).unwrap();
        let evs: Vec<Ev> = drain(&inotify, &mut EventBuffer::default())
            .into_iter()
            .filter(|e| !e.mask().contains(EventMask::IGNORED))
            .collect();
        let names: Vec<_> = evs.iter().map(|e| (e.name(), e.mask())).collect();
        assert_eq!(
            names,
            [
                (Some("f"), EventMask::CREATE),
                (Some("g"), EventMask::CREATE)
            ]
        );
        assert!(matches!(&evs[0], Ev::Watch { wd, .. } if *wd == again));
        println!("{}", rs::CHILD_OK);
        return;
    }
    let dir = TempDir::new("inotify-test");
    for i in 0..=LIMIT {
        fs::create_dir(dir.join(i.to_string())).unwrap();
    }
    let wrapper = rs::in_user_namespace("max_inotify_watches", LIMIT as u64);
    let wrapper: Vec<&OsStr> = wrapper.iter().map(OsString::as_os_str).collect();
    rs::rerun(TEST, &wrapper, &[(rs::DIR_ENV, dir.path().as_os_str())]);
}

#[test]
fn limits_are_readable() {
    // The values the errors quote come from the same sysctls the kernel uses.
    let from_proc = |name: &str| -> u64 {
        fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(
        limits::max_user_watches(),
        Some(from_proc("max_user_watches"))
    );
    assert_eq!(
        limits::max_user_instances(),
        Some(from_proc("max_user_instances"))
    );
    assert_eq!(
        limits::max_queued_events(),
        Some(from_proc("max_queued_events"))
    );
}

// ------------------------------------------------------------------- signals

static SIGNALS_HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// Installs a SIGUSR2 handler *without* `SA_RESTART`, so that a `read(2)`
/// or `poll(2)` blocked in a thread that receives it fails with `EINTR`.
fn install_interrupting_handler() {
    // SAFETY: an all-zero sigaction is valid (empty mask, no flags); the
    // handler only touches an atomic, which is async-signal-safe.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0;
    // SAFETY: `action` is initialised above and outlives the call; the old
    // action is not requested.
    let rc = unsafe { libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "sigaction: {}", std::io::Error::last_os_error());
}

fn interrupt(thread: libc::pthread_t) {
    // SAFETY: `thread` is a live thread of this process (its JoinHandle is
    // held by the caller and it has not been joined).
    let rc = unsafe { libc::pthread_kill(thread, libc::SIGUSR2) };
    assert_eq!(rc, 0);
}

/// Syscall numbers a blocking `Inotify::wait` may sit in.
fn poll_syscalls() -> Vec<libc::c_long> {
    let mut v = vec![libc::SYS_ppoll];
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    v.push(libc::SYS_poll);
    v
}

/// Interrupts the thread `tid` (handle `pthread`) `rounds` times, each time
/// once it is back in a blocking system call accepted by `blocked`, and
/// checks that the handler ran each time.
fn interrupt_while_blocked(
    tid: u32,
    pthread: libc::pthread_t,
    rounds: usize,
    blocked: &dyn Fn((libc::c_long, u64)) -> bool,
) {
    for _ in 0..rounds {
        rs::wait_until("the reader blocks", || {
            rs::blocked_syscall(tid).is_some_and(blocked)
        });
        let before = SIGNALS_HANDLED.load(Ordering::SeqCst);
        interrupt(pthread);
        rs::wait_until("the handler runs", || {
            SIGNALS_HANDLED.load(Ordering::SeqCst) > before
        });
    }
}

#[test]
fn signals_during_a_blocking_read_lose_nothing() {
    install_interrupting_handler();
    let dir = TempDir::new("inotify-test");
    let inotify = Arc::new(Inotify::init().unwrap());
    let wd = inotify.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let fd = inotify.as_raw_fd() as u64;
    let tid = Arc::new(AtomicU32::new(0));
    let reader = {
        let (inotify, tid) = (Arc::clone(&inotify), Arc::clone(&tid));
        std::thread::spawn(move || -> Result<Vec<Ev>, inotify::Error> {
            tid.store(rs::current_tid(), Ordering::SeqCst);
            let mut buf = EventBuffer::default();
            let mut got = Vec::new();
            while got.len() < 3 {
                for e in inotify.read(&mut buf)? {
                    got.push(common::own(e?));
                }
            }
            Ok(got)
        })
    };
    rs::wait_until("the reader starts", || tid.load(Ordering::SeqCst) != 0);
    let tid = tid.load(Ordering::SeqCst);
    let in_read = move |(nr, arg0): (libc::c_long, u64)| nr == libc::SYS_read && arg0 == fd;
    let start = SIGNALS_HANDLED.load(Ordering::SeqCst);
    for i in 0..3 {
        interrupt_while_blocked(tid, reader.as_pthread_t(), 5, &in_read);
        File::create(dir.join(format!("f{i}"))).unwrap();
    }
    let got = reader.join().unwrap().expect("no spurious error");
    assert!(SIGNALS_HANDLED.load(Ordering::SeqCst) - start >= 15);
    let names: Vec<_> = got.iter().map(|e| e.name().unwrap().to_owned()).collect();
    assert_eq!(names, ["f0", "f1", "f2"]);
    assert!(
        got.iter()
            .all(|e| matches!(e, Ev::Watch { wd: w, .. } if *w == wd))
    );
}

#[test]
fn signals_during_wait_neither_wake_it_nor_lose_events() {
    install_interrupting_handler();
    let dir = TempDir::new("inotify-test");
    let inotify = Arc::new(Inotify::init_nonblocking().unwrap());
    inotify.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let tid = Arc::new(AtomicU32::new(0));
    let woke = Arc::new(Mutex::new(Vec::new()));
    let waiter = {
        let (inotify, tid, woke) = (Arc::clone(&inotify), Arc::clone(&tid), Arc::clone(&woke));
        std::thread::spawn(move || -> Result<Vec<Ev>, inotify::Error> {
            tid.store(rs::current_tid(), Ordering::SeqCst);
            // Long enough to never time out here; short enough to not hang.
            let ready = inotify.wait(Some(std::time::Duration::from_secs(600)))?;
            woke.lock().unwrap().push(ready);
            Ok(drain(&inotify, &mut EventBuffer::default()))
        })
    };
    rs::wait_until("the waiter starts", || tid.load(Ordering::SeqCst) != 0);
    let tid = tid.load(Ordering::SeqCst);
    let polls = poll_syscalls();
    let in_poll = move |(nr, _): (libc::c_long, u64)| polls.contains(&nr);
    interrupt_while_blocked(tid, waiter.as_pthread_t(), 10, &in_poll);
    // Every signal was handled, and the waiter is blocked again, not woken.
    rs::wait_until("the waiter blocks again", || {
        rs::blocked_syscall(tid).is_some_and(&in_poll)
    });
    assert!(woke.lock().unwrap().is_empty());
    File::create(dir.join("after-signals")).unwrap();
    let got = waiter.join().unwrap().expect("no spurious error");
    assert_eq!(*woke.lock().unwrap(), [true]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].name(), Some("after-signals"));
}

// ---------------------------------------------------------------- exec safety

#[test]
fn no_inotify_descriptor_is_inherited_by_a_child() {
    let dir = TempDir::new("inotify-test");
    let blocking = Inotify::init().unwrap();
    let nonblocking = Inotify::init_nonblocking().unwrap();
    let converted = Inotify::from(OwnedFd::from(Inotify::init().unwrap()));
    for i in [&blocking, &nonblocking, &converted] {
        i.add_watch(dir.path(), WatchMask::ALL_EVENTS).unwrap();
    }
    let ours: Vec<i32> = [&blocking, &nonblocking, &converted]
        .iter()
        .map(|i| i.as_raw_fd())
        .collect();
    // The parent sees them as inotify descriptors.
    let mine = rs::open_fds();
    for fd in &ours {
        assert!(
            mine.iter()
                .any(|(n, t)| *n as i32 == *fd && t.contains("inotify")),
            "{fd} in {mine:?}"
        );
    }
    // The child lists its own descriptors after exec: none is an inotify one.
    let out = Command::new("ls")
        .args(["-l", "/proc/self/fd/"])
        .output()
        .expect("ls");
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(" 0 -> "), "listing works: {listing}");
    assert!(!listing.contains("inotify"), "inherited: {listing}");
    drop((blocking, nonblocking, converted));
}
