//! Coalescing of bursts of events into one batch per quiet period.
//!
//! Editors and deploy tools change a file in several steps (write a temporary
//! file, rename it over the target, touch the metadata). A consumer that
//! reloads a service wants one notification for the whole save, not five.
//! [`Debouncer`] folds a window of events into the net difference it made
//! to the tree, and hands that difference out as one batch once the stream
//! has been quiet for a while.
//!
//! The debouncer owns no clock and no thread: every call takes the current
//! [`Instant`], so the timing logic is deterministic and testable with plain
//! `Instant`s advanced by `Duration`s.

mod overlay;
mod plan;

use std::time::{Duration, Instant};

use crate::{Event, EventKind};
use overlay::{Change, Overlay};

/// Collects events and releases them as one batch per quiet period.
///
/// * **Batching.** A batch is released once no event has been pushed for the
///   quiet window, or once its oldest event has waited `max_wait` (so a
///   continuous stream, such as a log file being appended to, still flushes
///   regularly). The whole batch is released at once rather than path by path:
///   the temporary file and the target of an atomic save belong together.
/// * **Folding.** The batch keeps [`Event`]'s folding contract: applied in
///   order to the tree as it was before the batch, it gives the tree as it
///   is after it, for every sequence of events the watcher reports. It is
///   built as a fold of the pushed events onto an overlay of the tree (for
///   every path the window touched: the earlier path whose content it now
///   holds, or "created in the window", or "gone"), not as one slot per
///   path, so a rename carries everything pending below it.
/// * **Coalescing.** The released batch is the net difference of the
///   window, at most one event per path:
///   * writes, metadata changes: one `Modified` (or `Metadata` when only
///     metadata changed); none when the path was created, renamed or
///     removed in the same window (that event says it all);
///   * a path created in the window: `Created` at the path where it ends,
///     with a new directory's contents as their own `Created` events under
///     the final name;
///   * a path renamed (once or along a chain `a -> b -> c`):
///     `Renamed { from: a }` to `c`, and `Removed` for each intermediate
///     name that may have held something the rename replaced;
///   * a file created in the window and then renamed: `Renamed` from the
///     name it was created at (an atomic save is one event,
///     `Renamed { from: tmp }` to the target), because a creation may have
///     replaced something there (a file moved in from outside over
///     another); a directory: `Created` at the final name and `Removed` at
///     the name it was created at, since the directory it replaced there
///     may have held paths the window never named (the watcher can report
///     a directory created over what a scan found below its name), which a
///     rename would carry along; inside a directory created in the same
///     window either is `Created` at the final name;
///   * a path removed: `Removed`, also when it was created in the window
///     (it may have replaced a file that existed before); nothing when it
///     lay inside a directory created in the window;
///   * removed and created again: `Modified` for a file that replaced a
///     file, `Created` otherwise.
/// * **Order.** Events come in the order their paths were first touched,
///   except that an event waits for the one that makes its parent exist
///   (the rename of an ancestor, the creation of a new directory), and a
///   rename, creation or removal waits for every rename out of the place
///   it overwrites. Two files swapped through a temporary name report one
///   of them as `Created`. The rename of a directory that existed before
///   the window (not one created in it) splits the batch into segments at
///   that point, each folded on its own: the changes before it, then the
///   rename with what follows. Plain changes (writes, chmods) of a path
///   seen on both sides of a split are still reported once.
/// * **Notices.** `Overflow` is kept in place: what came before it is
///   folded separately from what comes after. `Skipped`, `Closed` and kinds
///   added later are never merged or dropped: each follows, in arrival
///   order, the folded events of its segment.
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
    /// The current segment's net difference.
    overlay: Overlay,
    /// Notices of the current segment, in arrival order.
    notices: Vec<Event>,
    /// Earlier segments of this batch, already planned.
    sealed: Vec<Event>,
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
            overlay: Overlay::default(),
            notices: Vec::new(),
            sealed: Vec::new(),
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
        if self.is_empty() {
            // Everything earlier was released: a new batch starts here.
            self.first_push = Some(now);
        }
        self.last_push = Some(now);
        self.seq += 1;
        let seq = self.seq;
        let Event {
            kind,
            path,
            is_dir,
            origin,
        } = event;
        let overlay = &mut self.overlay;
        match kind {
            EventKind::Created => overlay.created(&path, is_dir, origin, seq),
            EventKind::Removed => overlay.removed(&path, is_dir, origin, seq),
            EventKind::Modified => overlay.changed(&path, Change::Modified, is_dir, origin, seq),
            EventKind::Metadata => overlay.changed(&path, Change::Metadata, is_dir, origin, seq),
            EventKind::Renamed { from } => {
                if overlay.is_base_dir_move(&from, is_dir) {
                    self.seal(true);
                }
                self.overlay.renamed(&from, &path, is_dir, origin, seq);
            }
            EventKind::Overflow => {
                self.seal(false);
                self.sealed.push(Event {
                    kind,
                    path,
                    is_dir,
                    origin,
                });
            }
            // Notices (Skipped, Closed, anything newer): never merged,
            // never dropped.
            kind => self.notices.push(Event {
                kind,
                path,
                is_dir,
                origin,
            }),
        }
    }

    /// Plans the current segment into `sealed` and starts a new one. With
    /// `carry`, changes in place move on to the new segment, so that a
    /// file written on both sides of the split is still reported once.
    fn seal(&mut self, carry: bool) {
        let carried = if carry {
            self.overlay.take_changes_in_place()
        } else {
            Vec::new()
        };
        if !self.overlay.is_empty() {
            plan::plan(&self.overlay, &mut self.sealed);
            self.overlay = Overlay::default();
        }
        self.overlay.restore(carried);
        self.sealed.append(&mut self.notices);
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
        self.seal(false);
        let before = out.len();
        out.append(&mut self.sealed);
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

    /// Number of pending entries: an upper bound on the number of events
    /// the next batch holds (the exact number is known once it is folded;
    /// a path can also fold to nothing).
    pub fn len(&self) -> usize {
        self.sealed.len() + self.notices.len() + self.overlay.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;
    use std::path::{Path, PathBuf};

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

    /// Path -> is a directory.
    type Tree = std::collections::BTreeMap<PathBuf, bool>;

    /// A tree from names; a trailing `/` marks a directory.
    fn tree(names: &[&str]) -> Tree {
        names
            .iter()
            .map(|n| (PathBuf::from(n.trim_end_matches('/')), n.ends_with('/')))
            .collect()
    }

    fn remove_subtree(tree: &mut Tree, path: &Path) {
        tree.retain(|p, _| !p.starts_with(path));
    }

    /// Applies events as `Event` documents.
    fn fold(tree: &mut Tree, events: &[Event]) {
        for e in events {
            match &e.kind {
                EventKind::Created => {
                    remove_subtree(tree, &e.path);
                    tree.insert(e.path.clone(), e.is_dir);
                }
                EventKind::Removed => remove_subtree(tree, &e.path),
                EventKind::Renamed { from } => {
                    let moved: Vec<(PathBuf, bool)> = tree
                        .iter()
                        .filter(|(p, _)| p.starts_with(from))
                        .map(|(p, d)| (p.strip_prefix(from).unwrap().to_path_buf(), *d))
                        .collect();
                    remove_subtree(tree, from);
                    remove_subtree(tree, &e.path);
                    for (rest, d) in moved {
                        tree.insert(overlay::rejoin(&e.path, &rest), d);
                    }
                    tree.entry(e.path.clone()).or_insert(e.is_dir);
                }
                EventKind::Modified | EventKind::Metadata => {
                    tree.entry(e.path.clone()).or_insert(e.is_dir);
                }
                _ => {}
            }
        }
    }

    /// Coalesces `events` in one window, checks that the batch folds onto
    /// `base` like the raw events do, and returns the batch.
    fn folded(base: &[&str], events: Vec<Event>) -> Vec<Event> {
        let base = tree(base);
        let mut want = base.clone();
        fold(&mut want, &events);
        let out = coalesce(events);
        let mut got = base;
        fold(&mut got, &out);
        assert_eq!(got, want, "batch {out:#?}");
        out
    }

    fn dir(mut event: Event) -> Event {
        event.is_dir = true;
        event
    }

    #[test]
    fn created_then_modified_is_created() {
        let out = folded(
            &[],
            vec![
                ev(EventKind::Created, "f"),
                ev(EventKind::Modified, "f"),
                ev(EventKind::Metadata, "f"),
            ],
        );
        assert_eq!(out, vec![ev(EventKind::Created, "f")]);
    }

    #[test]
    fn created_then_removed_folds_to_nothing() {
        // The creation may have replaced a file (moved in from outside over
        // it), so the removal stays: on a tree without `tmp` it is a no-op.
        let events = vec![
            ev(EventKind::Created, "tmp"),
            ev(EventKind::Modified, "tmp"),
            ev(EventKind::Removed, "tmp"),
            ev(EventKind::Modified, "kept"),
        ];
        let want = vec![
            ev(EventKind::Removed, "tmp"),
            ev(EventKind::Modified, "kept"),
        ];
        assert_eq!(folded(&["kept"], events.clone()), want);
        assert_eq!(folded(&["kept", "tmp"], events), want);
    }

    #[test]
    fn created_and_removed_inside_a_new_directory_leaves_no_trace() {
        let out = folded(
            &[],
            vec![
                dir(ev(EventKind::Created, "d")),
                ev(EventKind::Created, "d/tmp"),
                ev(EventKind::Removed, "d/tmp"),
                ev(EventKind::Created, "d/f"),
            ],
        );
        assert_eq!(
            out,
            vec![
                dir(ev(EventKind::Created, "d")),
                ev(EventKind::Created, "d/f")
            ]
        );
    }

    #[test]
    fn removed_then_created_again_is_modified() {
        let out = folded(
            &["f"],
            vec![ev(EventKind::Removed, "f"), ev(EventKind::Created, "f")],
        );
        assert_eq!(out, vec![ev(EventKind::Modified, "f")]);
    }

    #[test]
    fn directory_removed_then_created_again_is_created() {
        // Its old contents are gone: only a creation says so.
        let out = folded(
            &["d/", "d/old"],
            vec![
                ev(EventKind::Removed, "d/old"),
                dir(ev(EventKind::Removed, "d")),
                dir(ev(EventKind::Created, "d")),
            ],
        );
        assert_eq!(out, vec![dir(ev(EventKind::Created, "d"))]);
    }

    #[test]
    fn modified_then_removed_is_removed() {
        let out = folded(
            &["f"],
            vec![ev(EventKind::Modified, "f"), ev(EventKind::Removed, "f")],
        );
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
    fn atomic_save_is_one_event_at_the_target() {
        // vim / sed -i style: write a temporary file, rename it over the target.
        let events = vec![
            ev(EventKind::Created, "dir/.f.swp"),
            ev(EventKind::Modified, "dir/.f.swp"),
            ev(EventKind::Modified, "dir/.f.swp"),
            renamed("dir/.f.swp", "dir/f"),
        ];
        let want = vec![renamed("dir/.f.swp", "dir/f")];
        assert_eq!(folded(&["dir/", "dir/f"], events.clone()), want);
        assert_eq!(folded(&["dir/"], events), want);
    }

    #[test]
    fn plain_rename_keeps_from_through_later_changes() {
        let out = folded(
            &["a"],
            vec![renamed("a", "b"), ev(EventKind::Modified, "b")],
        );
        assert_eq!(out, vec![renamed("a", "b")]);
    }

    #[test]
    fn rename_takes_pending_events_of_the_source_out() {
        let out = folded(
            &["a"],
            vec![ev(EventKind::Modified, "a"), renamed("a", "b")],
        );
        assert_eq!(out, vec![renamed("a", "b")]);
    }

    #[test]
    fn rename_chain_keeps_the_first_from() {
        // `b` may have held a file that the first rename replaced.
        for base in [&["a"][..], &["a", "b"]] {
            let out = folded(base, vec![renamed("a", "b"), renamed("b", "c")]);
            assert_eq!(out, vec![renamed("a", "c"), ev(EventKind::Removed, "b")]);
        }
    }

    #[test]
    fn rename_back_to_the_start_leaves_only_the_replaced_file() {
        let out = folded(&["a", "b"], vec![renamed("a", "b"), renamed("b", "a")]);
        assert_eq!(out, vec![ev(EventKind::Removed, "b")]);
    }

    #[test]
    fn renamed_then_removed_reports_both_ends_removed() {
        // `b` may have held a file that the rename replaced.
        let out = folded(
            &["a", "b"],
            vec![renamed("a", "b"), ev(EventKind::Removed, "b")],
        );
        assert_eq!(
            out,
            vec![ev(EventKind::Removed, "a"), ev(EventKind::Removed, "b")]
        );
    }

    #[test]
    fn swap_through_a_temporary_name_folds() {
        // Two files: one of them is reported created at its new place, and
        // `t`, which the first rename may have replaced, removed.
        let out = folded(
            &["a", "b", "t"],
            vec![renamed("a", "t"), renamed("b", "a"), renamed("t", "b")],
        );
        assert_eq!(
            out,
            vec![
                renamed("b", "a"),
                ev(EventKind::Created, "b"),
                ev(EventKind::Removed, "t")
            ]
        );
        // Two directories: the second move of `a`'s directory starts a new
        // segment, so their contents survive.
        let out = folded(
            &["a/", "a/x", "b/", "b/y"],
            vec![
                dir(renamed("a", "t")),
                dir(renamed("b", "a")),
                dir(renamed("t", "b")),
            ],
        );
        assert_eq!(out.len(), 3, "{out:?}");
    }

    #[test]
    fn atomic_save_then_removal_is_removed() {
        let out = folded(
            &["f"],
            vec![
                ev(EventKind::Created, "tmp"),
                renamed("tmp", "f"),
                ev(EventKind::Removed, "f"),
            ],
        );
        assert_eq!(
            out,
            vec![ev(EventKind::Removed, "tmp"), ev(EventKind::Removed, "f")]
        );
    }

    #[test]
    fn created_after_a_rename_away_then_removed_folds() {
        let out = folded(
            &["a"],
            vec![
                renamed("a", "b"),
                ev(EventKind::Created, "a"),
                ev(EventKind::Removed, "a"),
            ],
        );
        assert_eq!(out, vec![renamed("a", "b")]);
    }

    #[test]
    fn backup_file_save_is_f_modified() {
        // vim with backupcopy=no, emacs: rename f to f~, write a new f,
        // remove the backup. An older f~ may have been replaced by the
        // rename, so its removal is reported too.
        let out = folded(
            &["f", "f~"],
            vec![
                renamed("f", "f~"),
                ev(EventKind::Created, "f"),
                ev(EventKind::Modified, "f"),
                ev(EventKind::Removed, "f~"),
            ],
        );
        assert_eq!(
            out,
            vec![ev(EventKind::Modified, "f"), ev(EventKind::Removed, "f~")]
        );
    }

    #[test]
    fn backup_kept_is_a_rename_and_a_creation() {
        let out = folded(
            &["f"],
            vec![renamed("f", "f~"), ev(EventKind::Created, "f")],
        );
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
    fn notices_are_kept_in_order_after_their_segment() {
        let skipped = ev(
            EventKind::Skipped {
                reason: crate::SkipReason::PermissionDenied,
            },
            "locked",
        );
        let out = coalesce(vec![
            ev(EventKind::Modified, "a"),
            ev(EventKind::Closed, "a"),
            skipped.clone(),
            ev(EventKind::Modified, "a"),
            ev(EventKind::Closed, "a"),
        ]);
        assert_eq!(
            out,
            vec![
                ev(EventKind::Modified, "a"),
                ev(EventKind::Closed, "a"),
                skipped,
                ev(EventKind::Closed, "a"),
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
        let out = folded(
            &["g"],
            vec![
                ev(EventKind::Created, "f"),
                ev(EventKind::Removed, "f"),
                ev(EventKind::Modified, "g"),
                ev(EventKind::Created, "f"),
            ],
        );
        assert_eq!(
            out,
            vec![ev(EventKind::Created, "f"), ev(EventKind::Modified, "g")]
        );
    }

    #[test]
    fn rename_over_a_pending_path_replaces_its_event() {
        let out = folded(
            &["target", "other", "src"],
            vec![
                ev(EventKind::Modified, "target"),
                ev(EventKind::Modified, "other"),
                renamed("src", "target"),
            ],
        );
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

    // ------------------------------------------------ directories and renames

    #[test]
    fn mkdir_p_with_files_is_one_event_per_path() {
        let out = folded(
            &[],
            vec![
                dir(ev(EventKind::Created, "a")),
                dir(ev(EventKind::Created, "a/b")),
                dir(ev(EventKind::Created, "a/b/c")),
                ev(EventKind::Created, "a/b/c/f"),
                ev(EventKind::Modified, "a/b/c/f"),
                ev(EventKind::Created, "a/g"),
            ],
        );
        assert_eq!(
            out,
            vec![
                dir(ev(EventKind::Created, "a")),
                dir(ev(EventKind::Created, "a/b")),
                dir(ev(EventKind::Created, "a/b/c")),
                ev(EventKind::Created, "a/b/c/f"),
                ev(EventKind::Created, "a/g"),
            ]
        );
    }

    /// Issue sequence 1: `mkdir -p D/a/b; echo hi > D/a/b/f; mv D/a D/c`,
    /// as inotify reports it when the scan of `a` runs before the rename
    /// (contents first) and when it runs after it (contents under `c`).
    /// `a` is removed rather than renamed: the directory the creation
    /// replaced there may have held paths the window never named.
    #[test]
    fn directory_created_filled_and_renamed_reports_contents_under_the_new_name() {
        let want = vec![
            dir(ev(EventKind::Created, "c")),
            dir(ev(EventKind::Created, "c/b")),
            ev(EventKind::Created, "c/b/f"),
            dir(ev(EventKind::Removed, "a")),
        ];
        let contents_first = vec![
            dir(ev(EventKind::Created, "a")),
            dir(ev(EventKind::Created, "a/b")),
            ev(EventKind::Created, "a/b/f"),
            ev(EventKind::Modified, "a/b/f"),
            dir(renamed("a", "c")),
        ];
        assert_eq!(folded(&[], contents_first), want);
        let rename_first = vec![
            dir(ev(EventKind::Created, "a")),
            dir(renamed("a", "c")),
            dir(ev(EventKind::Created, "c/b")),
            ev(EventKind::Created, "c/b/f"),
        ];
        // Here `a` is left before its contents are named.
        let want = vec![
            dir(ev(EventKind::Created, "c")),
            dir(ev(EventKind::Removed, "a")),
            dir(ev(EventKind::Created, "c/b")),
            ev(EventKind::Created, "c/b/f"),
        ];
        assert_eq!(folded(&[], rename_first), want);
    }

    /// Issue sequence 2: `mkdir D/a; touch D/a/x; mv D/a OUTSIDE/`.
    #[test]
    fn directory_created_and_moved_out_folds_to_nothing() {
        let out = folded(
            &[],
            vec![
                dir(ev(EventKind::Created, "a")),
                ev(EventKind::Created, "a/x"),
                dir(ev(EventKind::Removed, "a")),
            ],
        );
        assert_eq!(out, vec![dir(ev(EventKind::Removed, "a"))]);
    }

    /// Issue sequence 3: `e/f` exists; `mv OUTSIDE/n D/e/f; rm D/e/f`.
    #[test]
    fn file_moved_in_over_another_and_removed_is_removed() {
        let out = folded(
            &["e/", "e/f"],
            vec![ev(EventKind::Created, "e/f"), ev(EventKind::Removed, "e/f")],
        );
        assert_eq!(out, vec![ev(EventKind::Removed, "e/f")]);
    }

    #[test]
    fn file_moved_in_over_another_and_renamed_vacates_the_old_name() {
        let out = folded(
            &["e/", "e/f"],
            vec![ev(EventKind::Created, "e/f"), renamed("e/f", "e/g")],
        );
        assert_eq!(out, vec![renamed("e/f", "e/g")]);
    }

    #[test]
    fn changes_below_a_renamed_directory_follow_it() {
        let out = folded(
            &["d/", "d/x", "d/y", "d/sub/", "d/sub/z"],
            vec![
                ev(EventKind::Modified, "d/x"),
                dir(renamed("d", "e")),
                ev(EventKind::Modified, "e/y"),
                ev(EventKind::Removed, "e/sub/z"),
                ev(EventKind::Created, "e/new"),
            ],
        );
        assert_eq!(
            out,
            vec![
                dir(renamed("d", "e")),
                ev(EventKind::Removed, "e/sub/z"),
                ev(EventKind::Created, "e/new"),
                ev(EventKind::Modified, "e/x"),
                ev(EventKind::Modified, "e/y"),
            ]
        );
    }

    #[test]
    fn file_moved_into_a_directory_renamed_later_lands_in_it() {
        let out = folded(
            &["d/", "f"],
            vec![renamed("f", "d/f"), dir(renamed("d", "e"))],
        );
        // It goes in first, as it happened, and moves with the directory.
        assert_eq!(out, vec![renamed("f", "d/f"), dir(renamed("d", "e"))]);
    }

    #[test]
    fn file_moved_out_of_a_directory_then_the_directory_renamed() {
        let out = folded(
            &["d/", "d/f", "d/g"],
            vec![renamed("d/f", "f"), dir(renamed("d", "e"))],
        );
        assert_eq!(out, vec![renamed("d/f", "f"), dir(renamed("d", "e"))]);
    }

    #[test]
    fn directory_moved_out_and_another_moved_in_under_the_same_name() {
        let out = folded(
            &["d/", "d/old"],
            vec![
                dir(ev(EventKind::Removed, "d")),
                dir(ev(EventKind::Created, "d")),
                ev(EventKind::Created, "d/new"),
            ],
        );
        assert_eq!(
            out,
            vec![
                dir(ev(EventKind::Created, "d")),
                ev(EventKind::Created, "d/new")
            ]
        );
    }

    #[test]
    fn directory_renamed_over_an_empty_directory() {
        let out = folded(&["a/", "a/x", "b/"], vec![dir(renamed("a", "b"))]);
        assert_eq!(out, vec![dir(renamed("a", "b"))]);
    }

    #[test]
    fn rename_into_a_new_directory_waits_for_its_creation() {
        let out = folded(
            &["f"],
            vec![dir(ev(EventKind::Created, "n")), renamed("f", "n/f")],
        );
        assert_eq!(
            out,
            vec![dir(ev(EventKind::Created, "n")), renamed("f", "n/f")]
        );
    }

    #[test]
    fn directory_recreated_with_its_old_child_moved_back() {
        // mv d/x t; rm -r d; mkdir d; mv t d/y: the move of x must come
        // before the creation of d, which must come before the move into d.
        let out = folded(
            &["d/", "d/x", "d/z"],
            vec![
                renamed("d/x", "t"),
                ev(EventKind::Removed, "d/z"),
                dir(ev(EventKind::Removed, "d")),
                dir(ev(EventKind::Created, "d")),
                renamed("t", "d/y"),
            ],
        );
        assert!(out.len() <= 3, "{out:?}");
    }

    #[test]
    fn child_moved_over_its_renamed_parent_name() {
        // mv d e; mv e/s d
        let out = folded(
            &["d/", "d/s/", "d/s/f", "d/t"],
            vec![dir(renamed("d", "e")), dir(renamed("e/s", "d"))],
        );
        assert_eq!(out, vec![dir(renamed("d", "e")), dir(renamed("e/s", "d"))]);
    }

    /// Shrunk failures of the overlay's property test, kept as cases.
    #[test]
    fn property_test_regressions_fold() {
        let c = |n: &str| dir(ev(EventKind::Created, n));
        let f = |n: &str| ev(EventKind::Created, n);
        let r = |n: &str| ev(EventKind::Removed, n);
        let mv = |a: &str, b: &str| dir(renamed(a, b));
        let cases: Vec<(Vec<&str>, Vec<Event>)> = vec![
            // A child goes into its parent before the parent moves onto
            // the child's old name.
            (
                vec!["a", "b/", "d/", "d/b", "d/d/", "d/d/b/"],
                vec![mv("d", "b/a"), mv("b/a/d", "b/b"), mv("b", "d")],
            ),
            // A new tree must be staged where it was born (below a new
            // directory) so that a base directory can go into it.
            (
                vec!["a/", "a/x", "c/", "c/y"],
                vec![
                    mv("a", "c/c"),
                    c("a"),
                    c("a/a"),
                    c("a/a/a"),
                    mv("c", "a/a/a"),
                    mv("a/a", "c"),
                ],
            ),
            // Born over a removed file: staged at its birthplace too.
            (
                vec!["c/", "c/b", "d/", "d/a/", "d/a/a/", "d/a/a/x"],
                vec![
                    r("c/b"),
                    f("d/c"),
                    c("c/b"),
                    mv("d/a/a", "c/b/a"),
                    mv("c/b", "d/a/a"),
                ],
            ),
            // A base directory must not go below a new node staged inside
            // it: the staged node moves out first (found by its id in the
            // output, not in the window).
            (
                vec!["a", "b/", "e", "f"],
                vec![
                    c("c"),
                    c("c/a"),
                    c("c/a/a"),
                    f("c/a/a/f"),
                    dir(r("c")),
                    renamed("e", "b/a"),
                    c("c"),
                    mv("b", "c/a"),
                    f("d"),
                    c("c/a/b"),
                    r("d"),
                    f("d"),
                    renamed("a", "b"),
                    mv("c/a/b", "a"),
                    mv("c", "a/a"),
                    f("c"),
                ],
            ),
            // A directory cannot go below itself: what carries its target
            // out of it moves first.
            (
                vec!["a/", "a/a", "a/c/", "b", "d/", "d/a/", "d/b"],
                vec![
                    dir(r("d/a")),
                    r("a/a"),
                    r("d/b"),
                    c("a/a"),
                    c("a/a/a"),
                    renamed("b", "a/c/b"),
                    f("a/b"),
                    c("d/a"),
                    c("b"),
                    c("b/a"),
                    c("b/a/a"),
                    dir(r("b/a")),
                    mv("a", "d/a/a"),
                    mv("d/a/a/c", "b/a"),
                    mv("d/a", "b/a/a"),
                ],
            ),
            // A new directory must be staged at its birthplace, which a
            // file renamed later fills: the file goes there after the
            // directory has left, never before (it was lost).
            (
                vec!["b/", "b/a", "b/g", "e"],
                vec![
                    f("b/b"),
                    renamed("e", "a"),
                    c("b/d"),
                    c("b/d/a"),
                    c("b/d/a/a"),
                    renamed("b/g", "b/d/b"),
                    mv("b/d", "b/g"),
                    renamed("a", "b/d"),
                    f("b/a"),
                ],
            ),
            // A new directory staged at its birthplace (with a new child
            // staged in it) holds that place until it moves on: a file
            // renamed there later waits for it (the staged tree and the
            // base file moved into it were lost).
            (
                vec!["c"],
                vec![
                    c("d"),
                    c("d/s"),
                    f("d/s/g"),
                    c("d/b"),
                    renamed("c", "d/s/b"),
                    mv("d/s", "d/b/d"),
                    mv("d/b", "c"),
                    renamed("c/d/g", "d/b"),
                ],
            ),
        ];
        for (base, events) in cases {
            folded(&base, events);
        }
    }

    /// A filled directory moved in under a directory that is renamed in
    /// the same window, its contents reported by the watcher's scan only
    /// after the rename (under the new name), and a deep removal below a
    /// renamed directory.
    #[test]
    fn directory_moved_in_below_a_directory_renamed_in_the_same_window() {
        let rescan = |mut e: Event| {
            e.origin = Origin::Rescan;
            e
        };
        let out = folded(
            &["a/", "a/b/", "a/b/old/", "a/b/old/deep/", "a/b/old/deep/f"],
            vec![
                dir(ev(EventKind::Created, "a/b/i")),
                dir(renamed("a", "c")),
                rescan(ev(EventKind::Created, "c/b/i/f")),
                rescan(dir(ev(EventKind::Created, "c/b/i/sub"))),
                rescan(ev(EventKind::Created, "c/b/i/sub/g")),
                ev(EventKind::Removed, "c/b/old/deep/f"),
                dir(ev(EventKind::Removed, "c/b/old/deep")),
            ],
        );
        assert_eq!(
            out,
            vec![
                dir(ev(EventKind::Created, "a/b/i")),
                dir(renamed("a", "c")),
                rescan(ev(EventKind::Created, "c/b/i/f")),
                rescan(dir(ev(EventKind::Created, "c/b/i/sub"))),
                rescan(ev(EventKind::Created, "c/b/i/sub/g")),
                dir(ev(EventKind::Removed, "c/b/old/deep")),
            ]
        );
    }

    /// Several directory renames in one window, nested into what another
    /// left behind (shrunk failures of the long-window property test: each
    /// once folded to a tree with a directory lost or invented).
    #[test]
    fn base_directories_moved_into_each_other_in_one_window_fold() {
        let c = |n: &str| dir(ev(EventKind::Created, n));
        let f = |n: &str| ev(EventKind::Created, n);
        let r = |n: &str| ev(EventKind::Removed, n);
        let rd = |n: &str| dir(ev(EventKind::Removed, n));
        let mv = |a: &str, b: &str| dir(renamed(a, b));
        let cases: Vec<(Vec<&str>, Vec<Event>)> = vec![
            // A new directory staged where it was born, inside a directory
            // that must then move into it.
            (
                vec!["a", "d", "e/", "e/c/"],
                vec![
                    f("e/c/c"),
                    r("d"),
                    renamed("a", "e/c/a"),
                    r("e/c/c"),
                    c("e/c/c"),
                    c("e/c/c/a"),
                    c("e/c/c/a/a"),
                    mv("e/c/c/a/a", "a"),
                    mv("a", "d"),
                    mv("e/c", "d/a"),
                    mv("d", "e/c"),
                ],
            ),
            (
                vec!["a/", "a/a", "a/c", "c/", "e/", "e/a/"],
                vec![
                    r("a/a"),
                    mv("a", "c/a"),
                    mv("e/a", "c/a/a"),
                    mv("c/a/a", "e/b"),
                    mv("c", "e/a"),
                    mv("e/a/a", "c"),
                    r("c/c"),
                    rd("e"),
                ],
            ),
            (
                vec!["d/"],
                vec![
                    c("g"),
                    c("g/s"),
                    c("b"),
                    mv("d", "g/s/a"),
                    mv("g", "b/a"),
                    mv("b/a/s", "d"),
                    rd("b"),
                ],
            ),
            (
                vec!["a/", "a/c/", "a/d/", "a/d/a/", "a/g/", "a/g/e/", "a/g/e/a/"],
                vec![
                    mv("a/g/e", "a/d/a/a"),
                    f("a/c/a"),
                    mv("a/c", "a/g/e"),
                    mv("a/d/a/a/a", "a/c"),
                    rd("a/d"),
                ],
            ),
            (
                vec!["c/", "d/", "e/", "e/a/", "g/"],
                vec![
                    mv("g", "e/a/b"),
                    c("e/e"),
                    c("c/a"),
                    c("c/a/c"),
                    c("c/a/c/b"),
                    mv("e/a/b", "c/a/c/a"),
                    mv("c", "a"),
                    mv("a/a", "d/b"),
                    c("e/e/s"),
                    mv("d/b/c", "e/e/s/a"),
                    mv("e", "d/b/c"),
                    mv("d/b/c/e/s/a/b", "e"),
                    rd("d/b/c/e/s"),
                ],
            ),
        ];
        for (base, events) in cases {
            folded(&base, events);
        }
    }

    /// Shrunk failures of the earlier per-path model, kept as cases.
    #[test]
    fn earlier_regressions_fold() {
        let w = |n: &str| ev(EventKind::Modified, n);
        let c = |n: &str| ev(EventKind::Created, n);
        let r = |n: &str| ev(EventKind::Removed, n);
        let cases: Vec<(Vec<&str>, Vec<Event>)> = vec![
            (
                vec!["b", "c"],
                vec![c("a"), w("a"), renamed("c", "b"), r("b")],
            ),
            (vec!["b", "c"], vec![renamed("c", "b"), renamed("b", "c")]),
            (
                vec!["c"],
                vec![renamed("c", "d"), c("b"), renamed("b", "d")],
            ),
            (
                vec!["a"],
                vec![renamed("a", "c"), c("a"), renamed("c", "b")],
            ),
            (
                vec!["a", "c"],
                vec![
                    renamed("a", "b"),
                    renamed("c", "a"),
                    renamed("b", "a"),
                    r("a"),
                ],
            ),
            (
                vec!["d"],
                vec![
                    renamed("d", "a"),
                    renamed("a", "c"),
                    c("d"),
                    renamed("c", "a"),
                ],
            ),
            (
                vec!["c", "d"],
                vec![
                    renamed("c", "a"),
                    renamed("d", "c"),
                    renamed("a", "b"),
                    c("a"),
                ],
            ),
            (
                vec![],
                vec![
                    c("c"),
                    renamed("c", "d"),
                    r("d"),
                    c("b"),
                    c("d"),
                    renamed("d", "a"),
                    renamed("b", "d"),
                    r("d"),
                    c("d"),
                    renamed("d", "c"),
                    r("a"),
                    c("d"),
                    r("c"),
                ],
            ),
        ];
        for (base, events) in cases {
            folded(&base, events);
        }
    }

    /// A file or an empty directory replaced by one moved in from outside
    /// (told as created) and moved on within the window: nothing stays at
    /// the old path.
    #[test]
    fn a_replacement_moved_on_leaves_nothing_behind() {
        let created = |n: &str| ev(EventKind::Created, n);
        folded(&["d/", "d/f"], vec![created("d/f"), renamed("d/f", "x")]);
        folded(&["d/"], vec![dir(created("d")), dir(renamed("d", "x"))]);
        folded(
            &["d/", "d/b/"],
            vec![dir(created("d/b")), dir(renamed("d/b", "x"))],
        );
    }

    /// A directory reported created where the base held a directory with
    /// contents (a creation record read late, over what a scan found),
    /// then renamed in the same window: the contents stay behind, gone.
    #[test]
    fn a_directory_created_over_base_contents_and_renamed_leaves_them() {
        let c = |n: &str| dir(ev(EventKind::Created, n));
        let mv = |a: &str, b: &str| dir(renamed(a, b));
        folded(&["d/", "d/b/"], vec![c("d"), mv("d", "m")]);
        folded(
            &["d/", "d/b/"],
            vec![c("d"), mv("d", "m"), c("m/b"), mv("m/b", "x")],
        );
    }
}
