//! When a batch of events is complete enough to act on, for backends that
//! report when a writer closes a file (inotify).
//!
//! A save is complete when its writer closed the file (a close notice) or
//! the new file was renamed into place. A file still open for writing is
//! waited for, up to [`WRITER_CAP`]. After completion, a short settle
//! catches the rest of a multi-file save; when saves keep coming right
//! after an action (a burst), the batch waits for a longer quiet window, so
//! fifty saves in a second give two or three actions, not fifty. Like the
//! [`Debouncer`](watch_core::Debouncer), the gate owns no clock: every call
//! takes the current [`Instant`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use watch_core::{Event, EventKind};

/// Longest wait for a writer that keeps a file open.
pub const WRITER_CAP: Duration = Duration::from_secs(2);

/// Quiet time after a complete save, by default.
pub const SETTLE: Duration = Duration::from_millis(5);

/// Timing of the gate.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Quiet time needed once no writer is open.
    pub settle: Duration,
    /// Quiet time needed when the batch began soon after the last release.
    pub window: Duration,
}

/// Tracks open writers and quiet time for the pending batch.
#[derive(Debug)]
pub struct Gate {
    timing: Timing,
    writer_cap: Duration,
    max_wait: Duration,
    /// Paths written and not yet closed, with when that was first seen.
    open: HashMap<PathBuf, Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
    last_release: Option<Instant>,
}

impl Gate {
    /// A gate with this timing.
    pub fn new(timing: Timing) -> Gate {
        let writer_cap = WRITER_CAP.max(timing.window);
        Gate {
            timing,
            writer_cap,
            max_wait: writer_cap.max(timing.window.saturating_mul(10)),
            open: HashMap::new(),
            first: None,
            last: None,
            last_release: None,
        }
    }

    /// Whether a batch is pending.
    pub fn is_idle(&self) -> bool {
        self.first.is_none()
    }

    /// Records an event of the batch; `writing` says that it left the file
    /// open for writing (a write in place, a new file being filled).
    pub fn event(&mut self, event: &Event, writing: bool, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
        match &event.kind {
            EventKind::Renamed { from } => {
                self.open.remove(from);
                self.open.remove(&event.path);
            }
            EventKind::Removed => {
                self.open.remove(&event.path);
            }
            _ if writing => {
                self.open.entry(event.path.clone()).or_insert(now);
            }
            _ => {}
        }
    }

    /// A writer closed `path`.
    pub fn closed(&mut self, path: &Path, now: Instant) {
        self.open.remove(path);
        if self.first.is_some() {
            self.last = Some(now);
        }
    }

    /// When the pending batch may be released, or `None` when none is pending.
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = (self.first?, self.last?);
        let cap = first + self.max_wait;
        let due = match self.open.values().min() {
            Some(oldest) => *oldest + self.writer_cap,
            None => {
                let burst = self
                    .last_release
                    .is_some_and(|r| first.saturating_duration_since(r) < self.timing.window);
                let quiet = if burst {
                    self.timing.window
                } else {
                    self.timing.settle
                };
                last + quiet
            }
        };
        Some(due.min(cap))
    }

    /// Whether the pending batch may be released at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|d| now >= d)
    }

    /// The batch was released (and acted on) at `now`.
    pub fn released(&mut self, now: Instant) {
        self.open.clear();
        self.first = None;
        self.last = None;
        self.last_release = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watch_core::Origin;

    const MS: Duration = Duration::from_millis(1);

    fn gate() -> Gate {
        Gate::new(Timing {
            settle: 5 * MS,
            window: 100 * MS,
        })
    }

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind, path, false, Origin::Kernel)
    }

    #[test]
    fn a_closed_write_settles_briefly() {
        let t0 = Instant::now();
        let mut g = gate();
        assert_eq!(g.deadline(), None);
        g.event(&ev(EventKind::Modified, "c"), true, t0);
        assert_eq!(
            g.deadline(),
            Some(t0 + WRITER_CAP),
            "open: wait for the close"
        );
        g.closed(Path::new("c"), t0 + MS);
        assert_eq!(g.deadline(), Some(t0 + 6 * MS));
        assert!(!g.ready(t0 + 5 * MS));
        assert!(g.ready(t0 + 6 * MS));
    }

    #[test]
    fn an_open_writer_holds_the_batch_across_a_gap() {
        let t0 = Instant::now();
        let mut g = gate();
        g.event(&ev(EventKind::Modified, "c"), true, t0);
        // Half the file, then 400 ms of nothing: still not ready.
        assert!(!g.ready(t0 + 400 * MS));
        g.event(&ev(EventKind::Modified, "c"), true, t0 + 400 * MS);
        g.closed(Path::new("c"), t0 + 401 * MS);
        assert!(g.ready(t0 + 406 * MS));
    }

    #[test]
    fn a_rename_into_place_completes_the_temporary_file() {
        let t0 = Instant::now();
        let mut g = gate();
        g.event(&ev(EventKind::Created, ".c.tmp"), true, t0);
        g.event(
            &ev(
                EventKind::Renamed {
                    from: ".c.tmp".into(),
                },
                "c",
            ),
            false,
            t0 + MS,
        );
        assert_eq!(g.deadline(), Some(t0 + 6 * MS));
    }

    #[test]
    fn a_writer_that_never_closes_is_capped() {
        let t0 = Instant::now();
        let mut g = gate();
        g.event(&ev(EventKind::Modified, "log"), true, t0);
        for i in 1..100 {
            g.event(&ev(EventKind::Modified, "log"), true, t0 + i * 10 * MS);
        }
        assert_eq!(g.deadline(), Some(t0 + WRITER_CAP));
    }

    #[test]
    fn saves_right_after_a_release_wait_for_a_quiet_window() {
        let t0 = Instant::now();
        let mut g = gate();
        g.event(&ev(EventKind::Modified, "c"), false, t0);
        assert!(g.ready(t0 + 5 * MS));
        g.released(t0 + 5 * MS);
        // Fifty saves 20 ms apart: no release until 100 ms of quiet.
        let mut now = t0;
        for _ in 0..50 {
            now += 20 * MS;
            g.event(&ev(EventKind::Modified, "c"), false, now);
            assert!(!g.ready(now + 19 * MS));
        }
        assert!(g.ready(now + 100 * MS));
        g.released(now + 100 * MS);
        // A save long after is quick again.
        let later = now + Duration::from_secs(5);
        g.event(&ev(EventKind::Modified, "c"), false, later);
        assert_eq!(g.deadline(), Some(later + 5 * MS));
    }
}
