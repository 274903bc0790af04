//! Waking a [`Watcher`](crate::Watcher) blocked in `read` from another
//! thread.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::Error;

/// Makes a blocked or future [`Watcher::read`](crate::Watcher::read) return
/// promptly, possibly with no events: for a signal-handling thread that
/// asks the read loop to stop, or a thread that hands the loop new work.
///
/// Made by [`Watcher::waker`](crate::Watcher::waker); `Clone + Send + Sync`.
/// Wakes do not queue up: any number of them before a `read` ends that one
/// `read`. A `read` that finds events returns them and leaves a pending wake
/// for the next `read`, and so does a `read` that may not wait (a timeout
/// of zero): the wake is for the next `read` that would block. [`Watcher::sync`](crate::Watcher::sync) is not
/// interrupted (it has its own timeout) and keeps a wake pending. The
/// watcher's descriptor ([`AsFd`](std::os::fd::AsFd)) does not become
/// readable: an event loop that polls it has its own way to wake up.
///
/// Backed by an eventfd (inotify), a user event, `EVFILT_USER`, on the
/// kqueue itself (kqueue), and a condition variable (poll, whose waits
/// are timed sleeps rather than waits on a descriptor). A waker does not
/// keep its watcher's resources alive; waking a dropped watcher does
/// nothing.
///
/// ```no_run
/// use watch_core::{RecursiveMode, Watcher};
///
/// let mut watcher = Watcher::new()?;
/// watcher.watch(".", RecursiveMode::Recursive)?;
/// let waker = watcher.waker();
/// std::thread::spawn(move || {
///     // ... later, from another thread:
///     waker.wake().expect("wake the watcher");
/// });
/// let mut events = Vec::new();
/// watcher.read(&mut events, None)?; // returns once woken, if not before
/// # Ok::<(), watch_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Waker {
    inner: Arc<dyn Wake>,
}

impl Waker {
    pub(crate) fn new(inner: Arc<dyn Wake>) -> Waker {
        Waker { inner }
    }

    /// Wakes the watcher's current or next `read`. Errors only if the
    /// kernel refuses the wake-up (it never does in practice: the eventfd or
    /// user event exists as long as the watcher).
    pub fn wake(&self) -> Result<(), Error> {
        self.inner.wake()
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waker").finish_non_exhaustive()
    }
}

/// What a backend's wake-up source does.
pub(crate) trait Wake: Send + Sync {
    fn wake(&self) -> Result<(), Error>;
}

/// A wake-up flag for a backend that sleeps rather than waits on a
/// descriptor (poll).
#[derive(Default)]
pub(crate) struct Flag {
    pending: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    /// Sleeps for `d` or until woken; returns whether it was woken (and
    /// consumes the wake). A wake before the call counts.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut pending, _) = self
            .changed
            .wait_timeout_while(pending, d, |pending| !*pending)
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *pending)
    }
}

impl Wake for Flag {
    fn wake(&self) -> Result<(), Error> {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_wakes_a_sleeper_and_a_wake_before_sleeping_counts() {
        let flag = Arc::new(Flag::default());
        flag.wake().unwrap();
        flag.wake().unwrap();
        assert!(flag.sleep(Duration::from_secs(60)));
        assert!(!flag.sleep(Duration::ZERO));
        let sleeper = {
            let flag = Arc::clone(&flag);
            std::thread::spawn(move || flag.sleep(Duration::from_secs(60)))
        };
        flag.wake().unwrap();
        assert!(sleeper.join().unwrap());
    }
}
