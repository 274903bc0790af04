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
/// * **Coalescing.** Replaying a batch in order onto the tree as it was
///   before gives the tree as it is after (checked by a property test over
///   random operation sequences), and every path whose content changed is
///   named. Within that, each path normally holds one event, at the position
///   of its first arrival; a rename goes after the events it depends on.
///   Kinds merge as follows (earlier, later):
///   * `Created`, then `Modified`/`Metadata`: `Created`.
///   * `Created`, then `Removed`: nothing when the creation was the path's
///     first event in the batch (it existed only inside the window);
///     `Removed` when the creation came from a rename over the path (an
///     atomic save), since what was there before is gone. A file moved in
///     from outside the watched tree over an existing one is reported by the
///     watcher as a plain creation, so if it is removed within the same
///     window the removal of the older file is not reported.
///   * `Modified`/`Metadata`, then `Removed`: `Removed`.
///   * `Removed`, then `Created`: `Modified` (the path was replaced).
///   * `Metadata` and `Modified` in either order: `Modified`.
///   * `Renamed { from }`, then `Modified`/`Metadata`: `Renamed { from }`
///     (the rename keeps its origin).
///   * `a` renamed to `b`: any event pending for `a` is taken out. If `a`
///     was created within the window (the temporary file of an atomic save),
///     `b` is reported `Created`; if `a` was itself the target of a rename
///     from `z`, `b` is reported `Renamed { from: z }` (the chain keeps its
///     first `from`; a path renamed back to where it started is `Modified`)
///     unless `z` was filled again meanwhile, in which case both renames are
///     kept.
///   * `Renamed { from: a }` to `b`, then `b` removed: `a` is reported
///     `Removed`, or `Modified` if `a` was created again meanwhile (vim's
///     backup-file save).
///   * Whenever an event that stood for a path's old content is merged away
///     (a replaced rename target, a chain's middle), that path is reported
///     `Removed` unless it was created within the batch: the rename may have
///     replaced a file, and a consumer must not keep believing in it.
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
    slots: Vec<Option<Slot>>,
    /// Path -> index in `slots` of its pending event.
    by_path: HashMap<PathBuf, usize>,
    /// Number of `Some` slots.
    pending: usize,
    /// Sequence number of the event being pushed (orders events in time).
    seq: u64,
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
            seq: 0,
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
        self.seq += 1;
        match &event.kind {
            EventKind::Created | EventKind::Modified | EventKind::Metadata | EventKind::Removed => {
                self.merge_at_path(event, self.seq)
            }
            EventKind::Renamed { from } => {
                let from = from.clone();
                self.merge_rename(from, event);
            }
            // Overflow and anything newer: never merged, never dropped.
            _ => {
                let slot = self.slot(event, false);
                self.pending += 1;
                self.slots.push(Some(slot));
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
        out.extend(self.slots.drain(..).flatten().map(|slot| slot.event));
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

    /// A slot for `event`, pushed now.
    fn slot(&self, event: Event, new: bool) -> Slot {
        Slot {
            event,
            new,
            first_seq: self.seq,
            last_seq: self.seq,
            kind_seq: self.seq,
        }
    }

    /// Takes the pending slot of `path` out, with its index.
    fn take(&mut self, path: &PathBuf) -> Option<(usize, Slot)> {
        let index = self.by_path.remove(path)?;
        let slot = self.slots[index].take()?;
        self.pending -= 1;
        Some((index, slot))
    }

    /// Puts `slot` at `index`: the position of its path's first arrival in
    /// this batch.
    fn restore(&mut self, index: usize, slot: Slot) {
        self.by_path.insert(slot.event.path.clone(), index);
        self.slots[index] = Some(slot);
        self.pending += 1;
    }

    fn insert(&mut self, slot: Slot) {
        self.by_path
            .insert(slot.event.path.clone(), self.slots.len());
        self.slots.push(Some(slot));
        self.pending += 1;
    }

    /// Merges `event`, which happened at time `at`, into its path's slot.
    fn merge_at_path(&mut self, event: Event, at: u64) {
        let Some((index, old)) = self.take(&event.path) else {
            // A creation as the path's first event in the batch: the path
            // did not exist before it (as far as this batch tells).
            let new = event.kind == EventKind::Created;
            let slot = Slot {
                event,
                new,
                first_seq: at,
                last_seq: at,
                kind_seq: at,
            };
            self.insert(slot);
            return;
        };
        match merge_kinds(&old.event.kind, &event.kind, old.new) {
            Merged::Kind(kind) => {
                // A kept rename keeps the time its source was vacated.
                let kind_seq = match (&old.event.kind, &kind) {
                    (EventKind::Renamed { .. }, EventKind::Renamed { .. }) => old.kind_seq,
                    _ => at,
                };
                let event = Event { kind, ..event };
                self.restore(
                    index,
                    Slot {
                        event,
                        kind_seq,
                        last_seq: at,
                        ..old
                    },
                );
            }
            Merged::Nothing => {}
            Merged::RemoveSource(from) => {
                // `from` was renamed here and is now gone too.
                if !old.new {
                    // The rename may have replaced a file that existed
                    // before the batch; that one is gone as well.
                    let removed = Event {
                        kind: EventKind::Removed,
                        ..event.clone()
                    };
                    let slot = Slot {
                        event: removed,
                        new: false,
                        first_seq: old.first_seq,
                        last_seq: at,
                        kind_seq: at,
                    };
                    self.restore(index, slot);
                }
                self.removed_at(from, old.kind_seq, &event);
            }
        }
    }

    /// Reports `path` removed at time `seq`: a removal that an event taken
    /// out of the batch used to imply. Events pending for `path` that came
    /// later (vim's backup save: rename f to f~, write a new f, remove f~)
    /// merge after it; earlier ones before it.
    fn removed_at(&mut self, path: PathBuf, seq: u64, like: &Event) {
        let removed = Event {
            kind: EventKind::Removed,
            path,
            ..like.clone()
        };
        let Some((index, pending)) = self.take(&removed.path) else {
            let slot = Slot {
                event: removed,
                new: false,
                first_seq: seq,
                last_seq: seq,
                kind_seq: seq,
            };
            self.insert(slot);
            return;
        };
        if pending.last_seq < seq {
            // Everything pending happened before the removal.
            self.restore(index, pending);
            self.merge_at_path(removed, seq);
            return;
        }
        // Something pending came after the removal, and so decides what
        // the path holds now; the removal goes first.
        let kind = match merge_kinds(&EventKind::Removed, &pending.event.kind, false) {
            Merged::Kind(kind) => kind,
            Merged::Nothing | Merged::RemoveSource(_) => pending.event.kind.clone(),
        };
        let event = Event {
            kind,
            ..pending.event
        };
        let slot = Slot {
            event,
            new: false,
            first_seq: seq.min(pending.first_seq),
            last_seq: pending.last_seq,
            kind_seq: pending.kind_seq,
        };
        self.restore(index, slot);
    }

    fn merge_rename(&mut self, from: PathBuf, event: Event) {
        let mut source = self.take(&from);
        // A chain a -> from -> path folds into a -> path only while nothing
        // new happened at `a` since: a later event at `a` would otherwise
        // come before the rename that empties `a`.
        if let Some((index, slot)) = source.take() {
            match &slot.event.kind {
                EventKind::Renamed { from: first } if self.by_path.contains_key(first) => {
                    // Keep it where it is, closed: later events at `from`
                    // start a new slot after this rename.
                    self.slots[index] = Some(slot);
                    self.pending += 1;
                }
                _ => source = Some((index, slot)),
            }
        }
        // The new kind, when its source was vacated, and whether it still
        // says that `from` is gone.
        let (kind, kind_seq, says_from_gone) = match source.as_ref().map(|(_, s)| s) {
            Some(Slot {
                event:
                    Event {
                        kind: EventKind::Created,
                        ..
                    },
                ..
            }) => (EventKind::Created, self.seq, false),
            Some(Slot {
                event:
                    Event {
                        kind: EventKind::Renamed { from: first },
                        ..
                    },
                ..
            }) if *first == event.path => (EventKind::Modified, self.seq, false),
            Some(Slot {
                event:
                    Event {
                        kind: EventKind::Renamed { from: first },
                        ..
                    },
                kind_seq,
                ..
            }) => (
                EventKind::Renamed {
                    from: first.clone(),
                },
                *kind_seq,
                false,
            ),
            _ => (EventKind::Renamed { from: from.clone() }, self.seq, true),
        };
        if let Some((index, source)) = source
            && !says_from_gone
            && !source.new
        {
            // `from` may have held a file before the batch that the
            // coalesced events no longer mention: report it gone.
            let removed = Event {
                kind: EventKind::Removed,
                ..source.event
            };
            let slot = Slot {
                event: removed,
                new: false,
                first_seq: source.first_seq,
                last_seq: self.seq,
                kind_seq: self.seq,
            };
            self.restore(index, slot);
        }
        let event = Event { kind, ..event };
        match self.take(&event.path) {
            // Whatever was pending here is replaced; whether the path
            // existed before the batch is still what that slot knew.
            // The rename goes to the end of the batch, after the events it
            // depends on (such as the one that filled its source).
            Some((_, old)) => {
                let slot = Slot {
                    event,
                    new: old.new,
                    first_seq: old.first_seq,
                    last_seq: self.seq,
                    kind_seq,
                };
                self.insert(slot);
                // A replaced rename no longer says its source is gone.
                if let EventKind::Renamed { from: gone } = &old.event.kind {
                    self.removed_at(gone.clone(), old.kind_seq, &old.event);
                }
            }
            // Something may have been here before the batch.
            None => {
                let slot = Slot {
                    event,
                    new: false,
                    first_seq: self.seq,
                    last_seq: self.seq,
                    kind_seq,
                };
                self.insert(slot);
            }
        }
    }
}

/// A pending event and what the batch tells about its path.
#[derive(Debug)]
struct Slot {
    event: Event,
    /// The path did not exist before this batch (its first event in the
    /// batch was a creation), so a later removal cancels out.
    new: bool,
    /// Sequence numbers of the first and last events merged into this slot.
    first_seq: u64,
    last_seq: u64,
    /// Sequence number of the event that set the current kind; for a
    /// rename, when its source was vacated.
    kind_seq: u64,
}

enum Merged {
    Kind(EventKind),
    Nothing,
    RemoveSource(PathBuf),
}

/// Merges an earlier and a later kind at one path; `was_new` tells whether
/// the path did not exist before the batch.
fn merge_kinds(old: &EventKind, new: &EventKind, was_new: bool) -> Merged {
    use EventKind::{Created, Metadata, Modified, Removed, Renamed};
    let kind = match (old, new) {
        (Created, Removed) if was_new => return Merged::Nothing,
        // Created over something that existed (a file moved in from
        // outside, or an atomic save), then removed: the old one is gone.
        (Created, Removed) => Removed,
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
        // `b` may have held a file that the first rename replaced.
        let out = coalesce(vec![renamed("a", "b"), renamed("b", "c")]);
        assert_eq!(out, vec![ev(EventKind::Removed, "b"), renamed("a", "c")]);
    }

    #[test]
    fn rename_back_to_the_start_is_modified() {
        let out = coalesce(vec![renamed("a", "b"), renamed("b", "a")]);
        assert_eq!(
            out,
            vec![ev(EventKind::Removed, "b"), ev(EventKind::Modified, "a")]
        );
    }

    #[test]
    fn renamed_then_removed_reports_both_ends_removed() {
        // `b` may have held a file that the rename replaced.
        let out = coalesce(vec![renamed("a", "b"), ev(EventKind::Removed, "b")]);
        assert_eq!(
            out,
            vec![ev(EventKind::Removed, "b"), ev(EventKind::Removed, "a")]
        );
    }

    #[test]
    fn rename_over_a_file_and_back_reports_the_replaced_file_removed() {
        let out = coalesce(vec![renamed("c", "b"), renamed("b", "c")]);
        assert_eq!(
            out,
            vec![ev(EventKind::Removed, "b"), ev(EventKind::Modified, "c")]
        );
    }

    #[test]
    fn atomic_save_then_removal_is_removed() {
        let out = coalesce(vec![
            ev(EventKind::Created, "tmp"),
            renamed("tmp", "f"),
            ev(EventKind::Removed, "f"),
        ]);
        assert_eq!(out, vec![ev(EventKind::Removed, "f")]);
    }

    #[test]
    fn created_after_a_rename_away_then_removed_is_nothing_more() {
        // The rename already says `a` is gone; a new `a` that came and went
        // within the window adds nothing.
        let out = coalesce(vec![
            renamed("a", "b"),
            ev(EventKind::Created, "a"),
            ev(EventKind::Removed, "a"),
        ]);
        assert_eq!(out, vec![renamed("a", "b")]);
    }

    #[test]
    fn backup_file_save_is_f_modified() {
        // vim with backupcopy=no, emacs: rename f to f~, write a new f,
        // remove the backup. An older f~ may have been replaced by the
        // rename, so its removal is reported too.
        let out = coalesce(vec![
            renamed("f", "f~"),
            ev(EventKind::Created, "f"),
            ev(EventKind::Modified, "f"),
            ev(EventKind::Removed, "f~"),
        ]);
        assert_eq!(
            out,
            vec![ev(EventKind::Removed, "f~"), ev(EventKind::Modified, "f")]
        );
    }

    #[test]
    fn backup_kept_is_a_rename_and_a_creation() {
        let out = coalesce(vec![renamed("f", "f~"), ev(EventKind::Created, "f")]);
        assert_eq!(out, vec![renamed("f", "f~"), ev(EventKind::Created, "f")]);
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
    fn rename_over_a_pending_path_replaces_its_event_and_moves_last() {
        let out = coalesce(vec![
            ev(EventKind::Modified, "target"),
            ev(EventKind::Modified, "other"),
            renamed("src", "target"),
        ]);
        assert_eq!(
            out,
            vec![ev(EventKind::Modified, "other"), renamed("src", "target")]
        );
    }

    #[test]
    fn rename_from_a_refilled_path_keeps_both_in_order() {
        // c -> a, d -> c, a -> b, new a: `a` must not fold into b's rename
        // from c, since c was refilled in between.
        let out = coalesce(vec![
            renamed("c", "a"),
            renamed("d", "c"),
            renamed("a", "b"),
            ev(EventKind::Created, "a"),
        ]);
        assert_eq!(
            out,
            vec![
                renamed("c", "a"),
                renamed("d", "c"),
                renamed("a", "b"),
                ev(EventKind::Created, "a"),
            ]
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

    mod model {
        //! Property: for any sequence of file operations, folding the
        //! coalesced batch onto the starting tree gives the same set of
        //! existing paths as the operations did, and every path whose
        //! content changed is named by some event.

        use super::*;
        use proptest::prelude::*;
        use std::collections::{BTreeMap, BTreeSet};

        const NAMES: [&str; 4] = ["a", "b", "c", "d"];

        #[derive(Clone, Debug)]
        enum Op {
            Write(usize),
            Chmod(usize),
            Remove(usize),
            Rename(usize, usize),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..4usize).prop_map(Op::Write),
                (0..4usize).prop_map(Op::Chmod),
                (0..4usize).prop_map(Op::Remove),
                (0..4usize, 0..4usize).prop_map(|(a, b)| Op::Rename(a, b)),
            ]
        }

        /// Applies `ops` to `tree` (name -> content version) and returns the
        /// events a watcher reports for them.
        fn run(tree: &mut BTreeMap<&'static str, u32>, ops: &[Op]) -> Vec<Event> {
            let mut next_version = 1;
            let mut events = Vec::new();
            for op in ops {
                match *op {
                    Op::Write(i) => {
                        let kind = if tree.contains_key(NAMES[i]) {
                            EventKind::Modified
                        } else {
                            EventKind::Created
                        };
                        tree.insert(NAMES[i], next_version);
                        next_version += 1;
                        events.push(ev(kind, NAMES[i]));
                    }
                    Op::Chmod(i) if tree.contains_key(NAMES[i]) => {
                        events.push(ev(EventKind::Metadata, NAMES[i]));
                    }
                    Op::Remove(i) if tree.remove(NAMES[i]).is_some() => {
                        events.push(ev(EventKind::Removed, NAMES[i]));
                    }
                    Op::Rename(i, j) if i != j && tree.contains_key(NAMES[i]) => {
                        let version = tree.remove(NAMES[i]).unwrap();
                        tree.insert(NAMES[j], version);
                        events.push(renamed(NAMES[i], NAMES[j]));
                    }
                    _ => {}
                }
            }
            events
        }

        fn fold(start: &BTreeSet<String>, events: &[Event]) -> BTreeSet<String> {
            let mut tree = start.clone();
            for event in events {
                let path = event.path.to_str().unwrap().to_string();
                match &event.kind {
                    EventKind::Removed => {
                        tree.remove(&path);
                    }
                    EventKind::Renamed { from } => {
                        tree.remove(from.to_str().unwrap());
                        tree.insert(path);
                    }
                    _ => {
                        tree.insert(path);
                    }
                }
            }
            tree
        }

        proptest! {
            #[test]
            fn coalescing_keeps_the_outcome(
                initial in proptest::collection::vec(any::<bool>(), 4),
                ops in proptest::collection::vec(op(), 0..32),
            ) {
                let mut tree: BTreeMap<&'static str, u32> = NAMES
                    .iter()
                    .zip(&initial)
                    .filter(|(_, exists)| **exists)
                    .map(|(name, _)| (*name, 0))
                    .collect();
                let before = tree.clone();
                let events = run(&mut tree, &ops);
                let events_len = events.len();
                let out = coalesce(events);

                let start: BTreeSet<String> = before.keys().map(|k| k.to_string()).collect();
                let now: BTreeSet<String> = tree.keys().map(|k| k.to_string()).collect();
                prop_assert_eq!(fold(&start, &out), now, "batch {:?}", out);

                let named: BTreeSet<String> = out
                    .iter()
                    .flat_map(|e| {
                        let mut names = vec![e.path.to_str().unwrap().to_string()];
                        if let EventKind::Renamed { from } = &e.kind {
                            names.push(from.to_str().unwrap().to_string());
                        }
                        names
                    })
                    .collect();
                for name in NAMES {
                    if before.get(name) != tree.get(name) {
                        prop_assert!(named.contains(name), "{} changed but {:?}", name, out);
                    }
                }
                prop_assert!(out.len() <= events_len, "never more events: {:?}", out);
            }
        }
    }
}
