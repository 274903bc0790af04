//! A signal interrupting a blocking read is retried, not reported. This
//! installs a process-wide signal handler, so it has its own test binary.

mod common;

use std::fs::{self, File};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use common::own;
use inotify::{EventBuffer, Inotify, WatchMask};
use test_support::TempDir;
use test_support::child::wait_until;

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Whether thread `tid` of this process is blocked in read(2), from
/// /proc/self/task/<tid>/syscall (first field: the syscall number).
fn in_read(tid: libc::pid_t) -> bool {
    fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<libc::c_long>().ok())
        == Some(libc::SYS_read)
}

#[test]
fn blocking_read_retries_after_a_signal() {
    // SAFETY: an all-zero sigaction is a valid starting value.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // No SA_RESTART: the kernel makes the interrupted read fail with EINTR.
    sa.sa_flags = 0;
    // SAFETY: `sa.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: `sa` is fully initialised and the handler only touches an atomic.
    let rc = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
    assert_eq!(rc, 0);

    let dir = TempDir::new("inotify-test");
    let ino = Inotify::init().unwrap();
    ino.add_watch(dir.path(), WatchMask::CREATE).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            // SAFETY: gettid and pthread_self have no preconditions.
            let ids = unsafe { (libc::gettid(), libc::pthread_self()) };
            tx.send(ids).unwrap();
            let mut buf = EventBuffer::default();
            ino.read(&mut buf)
                .map(|evs| evs.map(|e| own(e.unwrap())).collect::<Vec<_>>())
        });
        let (tid, thread) = rx.recv().unwrap();
        wait_until("the reader to block in read(2)", || in_read(tid));
        let before = SIGNALS.load(Ordering::SeqCst);
        // SAFETY: `thread` is the reader, alive until the scope ends.
        let rc = unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
        assert_eq!(rc, 0);
        wait_until("the signal handler to run", || {
            SIGNALS.load(Ordering::SeqCst) > before
        });
        // Back in read(2) means the EINTR was retried; a finished thread
        // means it was not (its result shows what it returned).
        wait_until("the reader to block again or return", || {
            in_read(tid) || reader.is_finished()
        });
        File::create(dir.join("after-signal")).unwrap();
        let evs = reader
            .join()
            .unwrap()
            .expect("read must retry after EINTR, not fail");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].name(), Some("after-signal"));
    });
}
