//! Ending a wait from another thread with an [`EventFd`].

use std::fs::{self, File};
use std::sync::mpsc;
use std::time::Duration;

use inotify::{EventFd, Inotify, Readiness, WatchMask};
use test_support::TempDir;
use test_support::child::wait_until;

/// Whether thread `tid` of this process is blocked in poll(2) or ppoll(2),
/// from /proc/self/task/<tid>/syscall (first field: the syscall number).
fn in_poll(tid: libc::pid_t) -> bool {
    let nr = fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<libc::c_long>().ok());
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    if nr == Some(libc::SYS_poll) {
        return true;
    }
    nr == Some(libc::SYS_ppoll)
}

#[test]
fn a_notification_ends_a_blocked_wait() {
    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init().unwrap();
    ino.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let wake = EventFd::new().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            ino.wait_or_woken(&wake, None).unwrap()
        });
        let tid = rx.recv().unwrap();
        wait_until("the waiter to block in poll(2)", || in_poll(tid));
        wake.notify().unwrap();
        let ready = waiter.join().unwrap();
        assert_eq!(
            ready,
            Readiness {
                events: false,
                woken: true,
                priority: false
            }
        );
    });
    // Pending until reset, then gone.
    assert!(
        ino.wait_or_woken(&wake, Some(Duration::ZERO))
            .unwrap()
            .woken
    );
    assert!(wake.reset().unwrap());
    assert!(!wake.reset().unwrap());
    assert_eq!(
        ino.wait_or_woken(&wake, Some(Duration::ZERO)).unwrap(),
        Readiness::default()
    );
}

#[test]
fn events_and_notifications_are_told_apart() {
    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init_nonblocking().unwrap();
    ino.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let wake = EventFd::new().unwrap();
    File::create(dir.join("f")).unwrap();
    let ready = ino
        .wait_or_woken(&wake, Some(Duration::from_secs(30)))
        .unwrap();
    assert!(ready.events && !ready.woken, "{ready:?}");
    // Notifying twice before a reset is one pending notification.
    wake.notify().unwrap();
    wake.notify().unwrap();
    let ready = ino.wait_or_woken(&wake, Some(Duration::ZERO)).unwrap();
    assert!(ready.events && ready.woken, "{ready:?}");
    assert!(wake.reset().unwrap());
    assert!(
        !ino.wait_or_woken(&wake, Some(Duration::ZERO))
            .unwrap()
            .woken
    );
}

#[test]
fn the_eventfd_is_close_on_exec() {
    use std::os::fd::AsRawFd;
    let wake = EventFd::new().unwrap();
    // SAFETY: F_GETFD only reads the flags of an open descriptor.
    let flags = unsafe { libc::fcntl(wake.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0);
    assert_ne!(flags & libc::FD_CLOEXEC, 0);
}
