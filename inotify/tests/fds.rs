//! Descriptor accounting. These tests count or limit the process's open
//! descriptors, so they live in their own test binary and run one at a time.

use std::fs::{self, File};
use std::sync::Mutex;

use inotify::{ErrorKind, EventBuffer, Inotify, WatchMask};
use test_support::TempDir;

static SERIAL: Mutex<()> = Mutex::new(());

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn creating_and_dropping_instances_and_watches_leaks_no_fd() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("inotify-test");
    fs::write(dir.join("f"), b"").unwrap();
    fs::create_dir(dir.join("d")).unwrap();
    let before = open_fds();

    let mut alive = Vec::new();
    for i in 0..16 {
        let ino = if i % 2 == 0 {
            Inotify::init().unwrap()
        } else {
            Inotify::init_nonblocking().unwrap()
        };
        let a = ino.add_watch(dir.path(), WatchMask::ALL_EVENTS).unwrap();
        ino.add_watch(dir.join("f"), WatchMask::MODIFY).unwrap();
        ino.add_watch(dir.join("d"), WatchMask::CREATE).unwrap();
        // Failing calls must not leave anything behind either.
        assert!(
            ino.add_watch(dir.join("missing"), WatchMask::CREATE)
                .is_err()
        );
        assert!(
            ino.add_watch(dir.join("f"), WatchMask::CREATE | WatchMask::ONLYDIR)
                .is_err()
        );
        ino.rm_watch(a).unwrap();
        alive.push(ino);
    }
    // Each live instance holds exactly one descriptor; watches hold none.
    assert_eq!(open_fds(), before + 16);

    // Reading, and the OwnedFd round trip, keep one descriptor per instance.
    let mut buf = EventBuffer::default();
    let last = alive.pop().unwrap();
    let last = Inotify::from(std::os::fd::OwnedFd::from(last));
    File::create(dir.join("d/new")).unwrap();
    let n = last.read(&mut buf).unwrap().count();
    assert!(n >= 1);
    alive.push(last);
    assert_eq!(open_fds(), before + 16);

    drop(alive);
    assert_eq!(open_fds(), before);
}

#[test]
fn out_of_descriptors_at_init_is_the_fd_limit() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);

    let highest = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let soft = highest + 8;
    let lowered = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `lowered` is a valid rlimit; the soft limit stays below the hard one.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);

    // Fill every free slot below the new limit.
    let mut fillers = Vec::new();
    let outcome = loop {
        match File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                break Ok(Inotify::init().map(drop));
            }
            Err(e) => break Err(e),
        }
        if fillers.len() > 100_000 {
            break Err(std::io::Error::other(
                "the lowered limit did not take effect",
            ));
        }
    };
    drop(fillers);
    // SAFETY: restores the limits read above.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);

    let err = outcome
        .expect("filling the descriptor table")
        .expect_err("no descriptor was left for inotify_init1");
    assert_eq!(err.kind(), ErrorKind::FdLimit, "{err}");
    let limit = err.limit().unwrap();
    assert_eq!(limit.name, "RLIMIT_NOFILE");
    assert_eq!(limit.value, Some(soft));
    let msg = err.to_string();
    assert!(msg.contains(&format!("RLIMIT_NOFILE={soft}")), "{msg}");
    assert!(msg.contains("ulimit"), "{msg}");
    // And with descriptors available again, init works.
    Inotify::init().unwrap();
}
