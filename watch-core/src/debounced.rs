//! A [`Watcher`] and a [`Debouncer`] in one: `read` hands out coalesced
//! batches.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Debouncer, Error, Event, RecursiveMode, Waker, Watcher};

/// A [`Watcher`] whose [`read`](DebouncedWatcher::read) hands out one
/// coalesced batch per burst of changes (an editor's save, a deploy): the
/// events are folded by a [`Debouncer`] (see there for how kinds merge) and
/// released once the stream has been quiet for the window, or once the
/// oldest has waited the debouncer's `max_wait`.
///
/// Made by [`Watcher::debounced`] (or [`DebouncedWatcher::new`] for a
/// debouncer with its own `max_wait`). The same interface as the watcher:
/// `watch`, `unwatch`, `read` with a timeout, [`events`](Self::batches)-style
/// iteration, a [`Waker`], and [`AsFd`] for event loops, which must also
/// wake up at [`next_deadline`](DebouncedWatcher::next_deadline).
///
/// ```no_run
/// use std::time::Duration;
/// use watch_core::{RecursiveMode, Watcher};
///
/// let mut watcher = Watcher::new()?.debounced(Duration::from_millis(100));
/// watcher.watch("config", RecursiveMode::Recursive)?;
/// for batch in watcher.batches(None) {
///     let batch = batch?;
///     println!("{} changes, reloading", batch.len());
/// }
/// # Ok::<(), watch_core::Error>(())
/// ```
#[derive(Debug)]
pub struct DebouncedWatcher {
    watcher: Watcher,
    debouncer: Debouncer,
    raw: Vec<Event>,
}

impl DebouncedWatcher {
    /// Pairs `watcher` with `debouncer`.
    pub fn new(watcher: Watcher, debouncer: Debouncer) -> DebouncedWatcher {
        DebouncedWatcher {
            watcher,
            debouncer,
            raw: Vec::new(),
        }
    }

    /// Starts watching `path`; see [`Watcher::watch`].
    pub fn watch<P: AsRef<Path>>(&mut self, path: P, mode: RecursiveMode) -> Result<(), Error> {
        self.watcher.watch(path, mode)
    }

    /// Stops watching `path`; see [`Watcher::unwatch`]. Events already
    /// pending for it are still delivered.
    pub fn unwatch<P: AsRef<Path>>(&mut self, path: P) -> Result<(), Error> {
        self.watcher.unwatch(path)
    }

    /// Appends the next batch to `out` and returns its length.
    ///
    /// Waits until a batch is due: `None` without limit, `Some(t)` at most
    /// `t` (`Some(Duration::ZERO)`: only if one is due now). Returns 0 on
    /// timeout, or when a [`Waker`] wakes it; pending events stay pending.
    /// If an error is returned, events read before it stay pending.
    pub fn read(
        &mut self,
        out: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        // `None` also for a timeout too far away to be an Instant.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let now = Instant::now();
            let n = self.debouncer.drain_ready(now, out);
            if n > 0 {
                return Ok(n);
            }
            let until = match (self.debouncer.next_deadline(), deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // One read per round: a wake it consumes must end this call.
            let got = self.pull(until.map(|t| t.saturating_duration_since(now)))?;
            let now = Instant::now();
            let woken = got == 0 && until.is_none_or(|t| now < t);
            if woken || deadline.is_some_and(|d| now >= d) {
                return Ok(self.debouncer.drain_ready(now, out));
            }
        }
    }

    /// Reads raw events into the debouncer.
    fn pull(&mut self, timeout: Option<Duration>) -> Result<usize, Error> {
        self.raw.clear();
        let result = self.watcher.read(&mut self.raw, timeout);
        let now = Instant::now();
        for event in self.raw.drain(..) {
            self.debouncer.push(event, now);
        }
        result
    }

    /// An iterator over batches, each read with `timeout` like
    /// [`read`](DebouncedWatcher::read); it ends when a read returns no
    /// batch (timeout, or woken by a [`Waker`]). An error is yielded once
    /// and ends it too.
    pub fn batches(&mut self, timeout: Option<Duration>) -> Batches<'_> {
        Batches {
            watcher: self,
            timeout,
            done: false,
        }
    }

    /// Moves every pending event into `out` now, due or not (for example
    /// at shutdown), and returns how many.
    pub fn flush(&mut self, out: &mut Vec<Event>) -> usize {
        self.debouncer.flush(out)
    }

    /// When the pending batch is due, or `None` when nothing is pending. An
    /// event loop polling the descriptor must wake up by then (and at
    /// [`Watcher::next_scan`]) and call `read` with `Some(Duration::ZERO)`.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.debouncer.next_deadline()
    }

    /// Returns once every change made before the call has been seen; see
    /// [`Watcher::sync`]. They are handed to the debouncer by the next
    /// `read`, and batched from then on.
    pub fn sync(&mut self, timeout: Duration) -> Result<(), Error> {
        self.watcher.sync(timeout)
    }

    /// A handle that ends a blocked or future [`read`](DebouncedWatcher::read)
    /// from any thread; see [`Waker`].
    pub fn waker(&self) -> Waker {
        self.watcher.waker()
    }

    /// The watcher inside.
    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }

    /// The watcher inside, to change its watches. Reading from it directly
    /// bypasses the debouncer.
    pub fn watcher_mut(&mut self) -> &mut Watcher {
        &mut self.watcher
    }

    /// The watcher and the debouncer, with what is still pending in it.
    pub fn into_parts(self) -> (Watcher, Debouncer) {
        (self.watcher, self.debouncer)
    }
}

/// The watcher's descriptor; see [`Watcher`]'s readiness rule, and wake up
/// at [`DebouncedWatcher::next_deadline`] too.
impl AsFd for DebouncedWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.watcher.as_fd()
    }
}

/// The watcher's descriptor; see [`Watcher`]'s readiness rule, and wake up
/// at [`DebouncedWatcher::next_deadline`] too.
impl AsRawFd for DebouncedWatcher {
    fn as_raw_fd(&self) -> RawFd {
        self.watcher.as_raw_fd()
    }
}

/// Iterator over batches, from [`DebouncedWatcher::batches`].
#[derive(Debug)]
pub struct Batches<'w> {
    watcher: &'w mut DebouncedWatcher,
    timeout: Option<Duration>,
    done: bool,
}

impl Iterator for Batches<'_> {
    type Item = Result<Vec<Event>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut batch = Vec::new();
        match self.watcher.read(&mut batch, self.timeout) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) => Some(Ok(batch)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Batches<'_> {}
