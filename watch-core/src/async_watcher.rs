//! Streams of events for tokio (feature `tokio`): the watcher's descriptor
//! registered with tokio's reactor through [`AsyncFd`], no thread.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Sleep;

use crate::{Debouncer, Error, Event, RecursiveMode, Watcher};

/// A [`Watcher`] as a [`Stream`] of events, for tokio.
///
/// Made inside a tokio runtime whose I/O and time drivers are enabled
/// (`#[tokio::main]`, or a builder with `enable_all`); the crate starts no
/// runtime and no thread. The watcher's descriptor is registered with the
/// runtime's reactor ([`AsyncFd`]), following [`Watcher`]'s readiness rule:
/// events queued inside the watcher are handed out first, and the poll
/// backend is woken by a timer at each scan. The stream never ends by
/// itself; drop it to stop watching.
///
/// Watches are changed through [`watch`](AsyncWatcher::watch),
/// [`unwatch`](AsyncWatcher::unwatch) or [`get_mut`](AsyncWatcher::get_mut).
/// Consume it with any `Stream` combinator (`tokio_stream::StreamExt::next`,
/// `futures::StreamExt::next`) or [`next_event`](AsyncWatcher::next_event):
///
/// ```no_run
/// use watch_core::{AsyncWatcher, RecursiveMode, Watcher};
///
/// # async fn run() -> Result<(), watch_core::Error> {
/// let mut events = AsyncWatcher::new(Watcher::new()?)?;
/// events.watch("src", RecursiveMode::Recursive)?;
/// while let Some(event) = events.next_event().await {
///     println!("{}", event?);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncWatcher {
    fd: AsyncFd<Watcher>,
    pending: VecDeque<Event>,
    /// The poll backend's next scan, which its descriptor cannot announce.
    scan: Option<Pin<Box<Sleep>>>,
}

impl AsyncWatcher {
    /// Registers `watcher` with the current tokio runtime.
    ///
    /// Errors: [`Error::Io`] outside a tokio runtime or when the reactor
    /// refuses the descriptor; [`Error::Unsupported`] for the kqueue
    /// backend on libkqueue, whose descriptor never polls readable.
    pub fn new(watcher: Watcher) -> Result<AsyncWatcher, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::io(
                None,
                io::Error::other("AsyncWatcher::new must be called inside a tokio runtime"),
            ));
        }
        #[cfg(not(kernel_kqueue))]
        if watcher.backend() == crate::Backend::Kqueue {
            return Err(Error::Unsupported {
                backend: crate::Backend::Kqueue,
                reason: "libkqueue's descriptor never polls readable, so it cannot drive a stream",
            });
        }
        // tokio deprecates this constructor in favour of an `unsafe` one
        // whose condition is that `as_raw_fd` names one open descriptor for
        // as long as the AsyncFd holds it. A Watcher owns its descriptor and
        // returns the same one for its whole life, so the condition holds,
        // and this crate stays free of `unsafe`.
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(watcher, Interest::READABLE);
        let fd = fd.map_err(|e| Error::io(None, e))?;
        Ok(AsyncWatcher {
            fd,
            pending: VecDeque::new(),
            scan: None,
        })
    }

    /// Starts watching `path`; see [`Watcher::watch`]. Skip notices it
    /// produces come out of the stream.
    pub fn watch<P: AsRef<Path>>(&mut self, path: P, mode: RecursiveMode) -> Result<(), Error> {
        self.fd.get_mut().watch(path, mode)
    }

    /// Stops watching `path`; see [`Watcher::unwatch`].
    pub fn unwatch<P: AsRef<Path>>(&mut self, path: P) -> Result<(), Error> {
        self.fd.get_mut().unwatch(path)
    }

    /// The watcher inside.
    pub fn get_ref(&self) -> &Watcher {
        self.fd.get_ref()
    }

    /// The watcher inside, to change its watches or `sync`. Events it
    /// produces are handed out by the stream.
    pub fn get_mut(&mut self) -> &mut Watcher {
        self.fd.get_mut()
    }

    /// Deregisters the descriptor and returns the watcher. Events already
    /// taken from it but not yet handed out are lost: drain the stream
    /// first if they matter.
    pub fn into_inner(self) -> Watcher {
        self.fd.into_inner()
    }

    /// The next event; never `None` (the stream does not end by itself).
    pub async fn next_event(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Batches of events coalesced by a [`Debouncer`] of window `quiet`; see
    /// [`AsyncDebouncedWatcher`].
    pub fn debounced(self, quiet: Duration) -> AsyncDebouncedWatcher {
        AsyncDebouncedWatcher::new(self, Debouncer::new(quiet))
    }

    /// Reads what is ready without blocking; `Ok(false)` if nothing was.
    fn read_ready(&mut self) -> Result<bool, Error> {
        let mut out = Vec::new();
        let result = self.fd.get_mut().read(&mut out, Some(Duration::ZERO));
        let got = !out.is_empty();
        self.pending.extend(out);
        result.map(|_| got)
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Error>>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            // Events queued inside the watcher (by watch or sync) and a due
            // scan do not make the descriptor readable: always look first.
            match self.read_ready() {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(true) => continue,
                Ok(false) => {}
            }
            if let Some(at) = self.fd.get_ref().next_scan() {
                let at = tokio::time::Instant::from_std(at);
                let scan = self
                    .scan
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if scan.deadline() != at {
                    scan.as_mut().reset(at);
                }
                if scan.as_mut().poll(cx).is_ready() {
                    continue;
                }
            }
            let mut guard = match self.fd.poll_read_ready_mut(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(Error::io(None, e)))),
                Poll::Ready(Ok(guard)) => guard,
            };
            let mut out = Vec::new();
            let result = guard.get_inner_mut().read(&mut out, Some(Duration::ZERO));
            if out.is_empty() {
                // Drained (the notifications may have been cookies): wait
                // for the next edge.
                guard.clear_ready();
            }
            self.pending.extend(out);
            if let Err(e) = result {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

impl Stream for AsyncWatcher {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_event(cx)
    }
}

/// An [`AsyncWatcher`] whose events are coalesced by a [`Debouncer`]: a
/// [`Stream`] of batches, one per burst of changes (see
/// [`DebouncedWatcher`](crate::DebouncedWatcher) for the blocking
/// equivalent). Made by [`AsyncWatcher::debounced`] or
/// [`AsyncDebouncedWatcher::new`]; it holds a tokio timer for the batch's
/// deadline, so the runtime needs its time driver.
///
/// ```no_run
/// use std::time::Duration;
/// use watch_core::{AsyncWatcher, RecursiveMode, Watcher};
///
/// # async fn run() -> Result<(), watch_core::Error> {
/// let mut watcher = Watcher::new()?;
/// watcher.watch("config", RecursiveMode::Recursive)?;
/// let mut batches = AsyncWatcher::new(watcher)?.debounced(Duration::from_millis(100));
/// while let Some(batch) = batches.next_batch().await {
///     println!("{} changes: reload", batch?.len());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncDebouncedWatcher {
    inner: AsyncWatcher,
    debouncer: Debouncer,
    due: Option<Pin<Box<Sleep>>>,
}

impl AsyncDebouncedWatcher {
    /// Pairs `watcher` with `debouncer`.
    pub fn new(watcher: AsyncWatcher, debouncer: Debouncer) -> AsyncDebouncedWatcher {
        AsyncDebouncedWatcher {
            inner: watcher,
            debouncer,
            due: None,
        }
    }

    /// Starts watching `path`; see [`Watcher::watch`].
    pub fn watch<P: AsRef<Path>>(&mut self, path: P, mode: RecursiveMode) -> Result<(), Error> {
        self.inner.watch(path, mode)
    }

    /// Stops watching `path`; see [`Watcher::unwatch`].
    pub fn unwatch<P: AsRef<Path>>(&mut self, path: P) -> Result<(), Error> {
        self.inner.unwatch(path)
    }

    /// The stream of single events inside (reading from it bypasses the
    /// debouncer).
    pub fn get_mut(&mut self) -> &mut AsyncWatcher {
        &mut self.inner
    }

    /// Moves every pending event into `out` now, due or not, and returns
    /// how many.
    pub fn flush(&mut self, out: &mut Vec<Event>) -> usize {
        self.debouncer.flush(out)
    }

    /// The next batch; never `None` (the stream does not end by itself).
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>, Error>> {
        poll_fn(|cx| self.poll_batch(cx)).await
    }

    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Vec<Event>, Error>>> {
        loop {
            // Take in everything ready; a pending poll registers the waker.
            loop {
                match self.inner.poll_event(cx) {
                    Poll::Ready(Some(Ok(event))) => self.debouncer.push(event, Instant::now()),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) | Poll::Pending => break,
                }
            }
            let mut batch = Vec::new();
            if self.debouncer.drain_ready(Instant::now(), &mut batch) > 0 {
                return Poll::Ready(Some(Ok(batch)));
            }
            let Some(at) = self.debouncer.next_deadline() else {
                return Poll::Pending;
            };
            let at = tokio::time::Instant::from_std(at);
            let due = self
                .due
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if due.deadline() != at {
                due.as_mut().reset(at);
            }
            if due.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Stream for AsyncDebouncedWatcher {
    type Item = Result<Vec<Event>, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_batch(cx)
    }
}
