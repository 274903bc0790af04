//! Coalescing of bursts of events into one batch per quiet period.
//!
//! Editors and deploy tools change a file in several steps (write a temporary
//! file, rename it over the target, touch the metadata). A consumer that
//! reloads a service wants one notification for the whole save, not five.
//! [`Debouncer`] collects events, keeps at most one event per path, and hands
//! the batch out once the stream has been quiet for a while.
//!
//! The debouncer owns no clock and no thread: every call takes the current
//! [`Instant`], so the timing logic is deterministic and testable with plain
//! `Instant`s advanced by `Duration`s.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{Event, EventKind};

/// Collects events and releases them as one batch per quiet period.
///
/// * **Batching.** A batch is released once no event has been pushed for the
///   quiet window, or once its oldest event has waited `max_wait` (so a
///   continuous stream, such as a log file being appended to, still flushes
///   regularly). The whole batch is released at once rather than path by path:
///   the temporary file and the target of an atomic save belong together.
/// * **Coalescing.** Within a batch each path holds at most one event, at the
///   position of its first arrival. Kinds merge as follows (earlier, later):
///   * `Created`, then `Modified`/`Metadata`: `Created`.
///   * `Created`, then `Removed`: nothing; the path existed only inside the
///     window, so before and after look the same to the consumer.
///   * `Modified`/`Metadata`, then `Removed`: `Removed`.
///   * `Removed`, then `Created`: `Modified` (the path was replaced).
///   * `Metadata` and `Modified` in either order: `Modified`.
///   * `Renamed { from }`, then `Modified`/`Metadata`: `Renamed { from }`
///     (the rename keeps its origin).
///   * `Renamed { from: a }` to `b`, then `b` removed: `a` is reported
///     `Removed`, `b` is dropped.
///   * `a` renamed to `b`: any event pending for `a` is taken out of the
///     batch. If `a` was created within the window (the temporary file of an
///     atomic save), `b` is reported `Created`; if `a` was itself the target
///     of an earlier rename from `z`, `b` is reported `Renamed { from: z }`
///     (the chain keeps its first `from`), and a path renamed back to where it
///     started is reported `Modified`.
///   * `Overflow`, `Skipped` and kinds added later are never merged: each
///     is kept, in order, so a consumer cannot miss one.
///
///   `is_dir` and `origin` come from the latest event for the path.
///
/// ```
/// use std::time::{Duration, Instant};
/// use watch_core::Debouncer;
///
/// let mut debouncer = Debouncer::new(Duration::from_millis(100));
/// let mut batch = Vec::new();
/// let now = Instant::now();
/// assert_eq!(debouncer.drain_ready(now, &mut batch), 0);
/// assert_eq!(debouncer.next_deadline(), None);
/// ```
#[derive(Debug)]
pub struct Debouncer {
    quiet: Duration,
    max_wait: Duration,
    /// Pending events in order of first arrival; `None` marks a slot whose
    /// event was coalesced away.
    slots: Vec<Option<Event>>,
    /// Path -> index in `slots` of its pending event.
    by_path: HashMap<PathBuf, usize>,
    /// Number of `Some` slots.
    pending: usize,
    /// When the oldest pending event arrived.
    first_push: Option<Instant>,
    /// When the newest event arrived.
    last_push: Option<Instant>,
}

impl Debouncer {
    /// Creates a debouncer that releases a batch after `quiet` without new
    /// events, and at the latest 10 times `quiet` (at least one second) after
    /// the batch's first event.
    pub fn new(quiet: Duration) -> Debouncer {
        let max_wait = quiet.saturating_mul(10).max(Duration::from_secs(1));
        Debouncer::with_max_wait(quiet, max_wait)
    }

    /// Creates a debouncer with an explicit cap on how long an event may be
    /// held back while events keep arriving. A `max_wait` shorter than
    /// `quiet` is raised to `quiet`.
    pub fn with_max_wait(quiet: Duration, max_wait: Duration) -> Debouncer {
        Debouncer {
            quiet,
            max_wait: max_wait.max(quiet),
            slots: Vec::new(),
            by_path: HashMap::new(),
            pending: 0,
            first_push: None,
            last_push: None,
        }
    }

    /// The quiet window.
    pub fn quiet(&self) -> Duration {
        self.quiet
    }

    /// The cap on how long the first event of a batch may be held back.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Adds an event observed at `now`.
    pub fn push(&mut self, event: Event, now: Instant) {
        if self.pending == 0 {
            // Everything earlier coalesced away: a new batch starts here.
            self.slots.clear();
            self.by_path.clear();
            self.first_push = Some(now);
        }
        self.last_push = Some(now);
        match &event.kind {
            EventKind::Created | EventKind::Modified | EventKind::Metadata | EventKind::Removed => {
                self.merge_at_path(event)
            }
            EventKind::Renamed { from } => {
                let from = from.clone();
                self.merge_rename(from, event);
            }
            // Overflow and anything newer: never merged, never dropped.
            _ => {
                self.pending += 1;
                self.slots.push(Some(event));
            }
        }
    }

    /// Moves the pending batch into `out` if it is due at `now` and returns
    /// how many events were appended (0 when nothing is due).
    pub fn drain_ready(&mut self, now: Instant, out: &mut Vec<Event>) -> usize {
        match self.next_deadline() {
            Some(deadline) if now >= deadline => self.flush(out),
            _ => 0,
        }
    }

    /// Moves every pending event into `out` regardless of time (for example
    /// at shutdown) and returns how many were appended.
    pub fn flush(&mut self, out: &mut Vec<Event>) -> usize {
        let before = out.len();
        out.extend(self.slots.drain(..).flatten());
        self.by_path.clear();
        self.pending = 0;
        self.first_push = None;
        self.last_push = None;
        out.len() - before
    }

    /// When the pending batch becomes due, or `None` when nothing is pending.
    ///
    /// A caller waiting for events should not block past this instant.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        let (first, last) = (self.first_push?, self.last_push?);
        let quiet_end = last.checked_add(self.quiet).unwrap_or(last);
        let cap = first.checked_add(self.max_wait).unwrap_or(first);
        Some(quiet_end.min(cap))
    }

    /// Number of events pending (after coalescing).
    pub fn len(&self) -> usize {
        self.pending
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Takes the pending event of `path` out, with its slot index.
    fn take(&mut self, path: &PathBuf) -> Option<(usize, Event)> {
        let index = self.by_path.remove(path)?;
        let event = self.slots[index].take()?;
        self.pending -= 1;
        Some((index, event))
    }

    /// Puts `event` into slot `index`: the position of its path's first
    /// arrival in this batch.
    fn restore(&mut self, index: usize, event: Event) {
        self.by_path.insert(event.path.clone(), index);
        self.slots[index] = Some(event);
        self.pending += 1;
    }

    fn insert(&mut self, event: Event) {
        self.by_path.insert(event.path.clone(), self.slots.len());
        self.slots.push(Some(event));
        self.pending += 1;
    }

    fn merge_at_path(&mut self, event: Event) {
        let Some((index, old)) = self.take(&event.path) else {
            self.insert(event);
            return;
        };
        match merge_kinds(&old.kind, &event.kind) {
            Merged::Kind(kind) => self.restore(index, Event { kind, ..event }),
            Merged::Nothing => {}
            Merged::RemoveSource(from) => {
                // `from` was renamed here and is now gone: from the
                // consumer's point of view `from` was removed.
                let removed = Event {
                    kind: EventKind::Removed,
                    path: from,
                    ..event
                };
                self.merge_at_path(removed);
            }
        }
    }

    fn merge_rename(&mut self, from: PathBuf, event: Event) {
        let source = self.take(&from).map(|(_, source)| source.kind);
        let kind = match source {
            Some(EventKind::Created) => EventKind::Created,
            Some(EventKind::Renamed { from: first }) if first == event.path => EventKind::Modified,
            Some(EventKind::Renamed { from: first }) => EventKind::Renamed { from: first },
            _ => EventKind::Renamed { from },
        };
        let event = Event { kind, ..event };
        match self.take(&event.path) {
            Some((index, _)) => self.restore(index, event),
            None => self.insert(event),
        }
    }
}

enum Merged {
    Kind(EventKind),
    Nothing,
    RemoveSource(PathBuf),
}

fn merge_kinds(old: &EventKind, new: &EventKind) -> Merged {
    use EventKind::{Created, Metadata, Modified, Removed, Renamed};
    let kind = match (old, new) {
        (Created, Removed) => return Merged::Nothing,
        (Renamed { from }, Removed) => return Merged::RemoveSource(from.clone()),
        (Created, _) => Created,
        (Renamed { from }, _) => Renamed { from: from.clone() },
        (Removed, Created) => Modified,
        (Metadata, Metadata) => Metadata,
        (Modified | Metadata, Modified | Metadata) => Modified,
        (_, other) => other.clone(),
    };
    Merged::Kind(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;

    const QUIET: Duration = Duration::from_millis(100);

    fn ev(kind: EventKind, path: &str) -> Event {
        Event {
            kind,
            path: PathBuf::from(path),
            is_dir: false,
            origin: Origin::Kernel,
        }
    }

    fn renamed(from: &str, to: &str) -> Event {
        ev(
            EventKind::Renamed {
                from: PathBuf::from(from),
            },
            to,
        )
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Pushes all `events` at `t0`, then drains at `t0 + QUIET`.
    fn coalesce(events: Vec<Event>) -> Vec<Event> {
        let mut debouncer = Debouncer::new(QUIET);
        let t0 = Instant::now();
        for event in events {
            debouncer.push(event, t0);
        }
        let mut out = Vec::new();
        debouncer.drain_ready(t0 + QUIET, &mut out);
        assert!(debouncer.is_empty());
        out
    }

    #[test]
    fn nothing_pending_means_no_deadline_and_no_output() {
        let mut debouncer = Debouncer::new(QUIET);
        let mut out = Vec::new();
        assert_eq!(debouncer.next_deadline(), None);
        assert_eq!(debouncer.drain_ready(Instant::now(), &mut out), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn batch_is_held_until_the_quiet_window_passes() {
        let mut debouncer = Debouncer::new(QUIET);
        let t0 = Instant::now();
        debouncer.push(ev(EventKind::Modified, "a"), t0);
        assert_eq!(debouncer.next_deadline(), Some(t0 + QUIET));
        let mut out = Vec::new();
        assert_eq!(debouncer.drain_ready(t0 + ms(99), &mut out), 0);
        assert_eq!(debouncer.drain_ready(t0 + QUIET, &mut out), 1);
        assert_eq!(out, vec![ev(EventKind::Modified, "a")]);
        assert_eq!(debouncer.next_deadline(), None);
    }

    #[test]
    fn each_new_event_extends_the_quiet_window() {
        let mut debouncer = Debouncer::new(QUIET);
        let t0 = Instant::now();
        let mut out = Vec::new();
        debouncer.push(ev(EventKind::Modified, "a"), t0);
        debouncer.push(ev(EventKind::Modified, "b"), t0 + ms(80));
        assert_eq!(debouncer.drain_ready(t0 + ms(150), &mut out), 0);
        assert_eq!(debouncer.next_deadline(), Some(t0 + ms(180)));
        assert_eq!(debouncer.drain_ready(t0 + ms(180), &mut out), 2);
        assert_eq!(
            out,
            vec![ev(EventKind::Modified, "a"), ev(EventKind::Modified, "b")]
        );
    }

    #[test]
    fn continuous_stream_flushes_at_max_wait() {
        let mut debouncer = Debouncer::with_max_wait(QUIET, ms(500));
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut t = t0;
        // An event every 50 ms never leaves a 100 ms gap.
        while t < t0 + ms(500) {
            debouncer.push(ev(EventKind::Modified, "log"), t);
            assert_eq!(debouncer.drain_ready(t, &mut out), 0);
            t += ms(50);
        }
        assert_eq!(debouncer.next_deadline(), Some(t0 + ms(500)));
        assert_eq!(debouncer.drain_ready(t0 + ms(500), &mut out), 1);
        // The next batch's cap counts from its own first event.
        debouncer.push(ev(EventKind::Modified, "log"), t0 + ms(550));
        assert_eq!(debouncer.next_deadline(), Some(t0 + ms(650)));
    }

    #[test]
    fn default_max_wait_is_ten_quiet_windows_but_at_least_a_second() {
        assert_eq!(Debouncer::new(ms(100)).max_wait(), ms(1000));
        assert_eq!(Debouncer::new(ms(500)).max_wait(), ms(5000));
        assert_eq!(
            Debouncer::with_max_wait(ms(100), ms(10)).max_wait(),
            ms(100)
        );
    }

    #[test]
    fn thousand_writes_coalesce_into_one_event() {
        let mut debouncer = Debouncer::new(QUIET);
        let t0 = Instant::now();
        for i in 0..1000 {
            debouncer.push(
                ev(EventKind::Modified, "f"),
                t0 + Duration::from_micros(i * 50),
            );
        }
        let mut out = Vec::new();
        assert_eq!(debouncer.drain_ready(t0 + ms(200), &mut out), 1);
        assert_eq!(out, vec![ev(EventKind::Modified, "f")]);
    }

    #[test]
    fn created_then_modified_is_created() {
        let out = coalesce(vec![
            ev(EventKind::Created, "f"),
            ev(EventKind::Modified, "f"),
            ev(EventKind::Metadata, "f"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Created, "f")]);
    }

    #[test]
    fn created_then_removed_is_nothing() {
        let out = coalesce(vec![
            ev(EventKind::Created, "tmp"),
            ev(EventKind::Modified, "tmp"),
            ev(EventKind::Removed, "tmp"),
            ev(EventKind::Modified, "kept"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Modified, "kept")]);
    }

    #[test]
    fn removed_then_created_again_is_modified() {
        let out = coalesce(vec![
            ev(EventKind::Removed, "f"),
            ev(EventKind::Created, "f"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Modified, "f")]);
    }

    #[test]
    fn modified_then_removed_is_removed() {
        let out = coalesce(vec![
            ev(EventKind::Modified, "f"),
            ev(EventKind::Removed, "f"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Removed, "f")]);
    }

    #[test]
    fn metadata_and_modified_merge_to_modified() {
        let out = coalesce(vec![
            ev(EventKind::Metadata, "a"),
            ev(EventKind::Modified, "a"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Modified, "a")]);
        let out = coalesce(vec![
            ev(EventKind::Modified, "a"),
            ev(EventKind::Metadata, "a"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Modified, "a")]);
        let out = coalesce(vec![
            ev(EventKind::Metadata, "a"),
            ev(EventKind::Metadata, "a"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Metadata, "a")]);
    }

    #[test]
    fn atomic_save_is_one_created_event_at_the_target() {
        // vim / sed -i style: write a temporary file, rename it over the target.
        let out = coalesce(vec![
            ev(EventKind::Created, "dir/.f.swp"),
            ev(EventKind::Modified, "dir/.f.swp"),
            renamed("dir/.f.swp", "dir/f"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Created, "dir/f")]);
    }

    #[test]
    fn plain_rename_keeps_from_through_later_changes() {
        let out = coalesce(vec![renamed("a", "b"), ev(EventKind::Modified, "b")]);
        assert_eq!(out, vec![renamed("a", "b")]);
    }

    #[test]
    fn rename_takes_pending_events_of_the_source_out() {
        let out = coalesce(vec![ev(EventKind::Modified, "a"), renamed("a", "b")]);
        assert_eq!(out, vec![renamed("a", "b")]);
    }

    #[test]
    fn rename_chain_keeps_the_first_from() {
        let out = coalesce(vec![renamed("a", "b"), renamed("b", "c")]);
        assert_eq!(out, vec![renamed("a", "c")]);
    }

    #[test]
    fn rename_back_to_the_start_is_modified() {
        let out = coalesce(vec![renamed("a", "b"), renamed("b", "a")]);
        assert_eq!(out, vec![ev(EventKind::Modified, "a")]);
    }

    #[test]
    fn renamed_then_removed_reports_the_source_removed() {
        let out = coalesce(vec![renamed("a", "b"), ev(EventKind::Removed, "b")]);
        assert_eq!(out, vec![ev(EventKind::Removed, "a")]);
    }

    #[test]
    fn overflow_is_never_merged_or_dropped() {
        let out = coalesce(vec![
            ev(EventKind::Overflow, ""),
            ev(EventKind::Modified, "a"),
            ev(EventKind::Overflow, ""),
        ]);
        assert_eq!(
            out,
            vec![
                ev(EventKind::Overflow, ""),
                ev(EventKind::Modified, "a"),
                ev(EventKind::Overflow, ""),
            ]
        );
    }

    #[test]
    fn output_keeps_first_arrival_order_and_latest_attributes() {
        let mut dir_event = ev(EventKind::Metadata, "d");
        dir_event.is_dir = true;
        dir_event.origin = Origin::Rescan;
        let out = coalesce(vec![
            ev(EventKind::Modified, "b"),
            ev(EventKind::Modified, "d"),
            ev(EventKind::Modified, "a"),
            dir_event,
        ]);
        let paths: Vec<_> = out.iter().map(|e| e.path.to_str().unwrap()).collect();
        assert_eq!(paths, ["b", "d", "a"]);
        assert_eq!(out[1].kind, EventKind::Modified);
        assert!(out[1].is_dir);
        assert_eq!(out[1].origin, Origin::Rescan);
    }

    #[test]
    fn path_cleared_within_a_batch_can_reappear() {
        let out = coalesce(vec![
            ev(EventKind::Created, "f"),
            ev(EventKind::Removed, "f"),
            ev(EventKind::Modified, "g"),
            ev(EventKind::Created, "f"),
        ]);
        assert_eq!(
            out,
            vec![ev(EventKind::Modified, "g"), ev(EventKind::Created, "f")]
        );
    }

    #[test]
    fn batch_that_coalesced_away_does_not_shorten_the_next_cap() {
        let mut debouncer = Debouncer::with_max_wait(QUIET, ms(500));
        let t0 = Instant::now();
        debouncer.push(ev(EventKind::Created, "tmp"), t0);
        debouncer.push(ev(EventKind::Removed, "tmp"), t0 + ms(10));
        assert_eq!(debouncer.next_deadline(), None);
        debouncer.push(ev(EventKind::Modified, "f"), t0 + ms(450));
        assert_eq!(debouncer.next_deadline(), Some(t0 + ms(550)));
    }

    #[test]
    fn rename_over_a_pending_path_replaces_its_event_in_place() {
        let out = coalesce(vec![
            ev(EventKind::Modified, "target"),
            ev(EventKind::Modified, "other"),
            renamed("src", "target"),
        ]);
        assert_eq!(
            out,
            vec![renamed("src", "target"), ev(EventKind::Modified, "other")]
        );
    }

    #[test]
    fn flush_releases_everything_now() {
        let mut debouncer = Debouncer::new(QUIET);
        let t0 = Instant::now();
        debouncer.push(ev(EventKind::Modified, "a"), t0);
        let mut out = Vec::new();
        assert_eq!(debouncer.flush(&mut out), 1);
        assert!(debouncer.is_empty());
        assert_eq!(debouncer.len(), 0);
    }
}
