//! The debouncer keeps `Event`'s folding contract.
//!
//! A model tree takes random operations (files created, written, chmodded,
//! removed; directories created one by one or as `mkdir -p` chains, removed
//! recursively; files and directories renamed, also onto an existing file
//! or empty directory, and again and again within one window; moves in from
//! outside and out to outside; symlinks). Each operation yields the events
//! the watcher reports for it; they are pushed into a [`Debouncer`] with
//! random time gaps, so batches end at random points. Every released batch,
//! folded onto the tree as it was before it, must give the tree as it was
//! when the batch was released; and coalescing must stay real.
//!
//! A second test runs random operations on a real directory under a real
//! `Watcher` (inotify and poll), pushes what it reads through the
//! debouncer, and compares the folded batches with a scan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use test_support::{TempDir, Tree, fold, scan};
use watch_core::{Backend, Config, Debouncer, Event, EventKind, Origin, RecursiveMode, Watcher};

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "g"];
const QUIET: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
}

/// What a moved-in entry looks like.
#[derive(Clone, Copy, Debug)]
enum Shape {
    File,
    EmptyDir,
    /// `d/f` and `d/s/g`.
    FilledDir,
}

#[derive(Clone, Debug)]
enum Op {
    CreateFile {
        parent: usize,
        name: usize,
    },
    Write {
        target: usize,
    },
    Chmod {
        target: usize,
    },
    /// `rm` for a file or symlink, `rm -r` for a directory.
    Remove {
        target: usize,
        children_first: bool,
    },
    Mkdir {
        parent: usize,
        name: usize,
    },
    MkdirP {
        parent: usize,
        names: [usize; 3],
        file: bool,
    },
    Rename {
        target: usize,
        parent: usize,
        name: usize,
    },
    /// A rename of a directory (`target` picks among directories only).
    RenameDir {
        target: usize,
        parent: usize,
        name: usize,
    },
    MoveOut {
        target: usize,
    },
    MoveIn {
        parent: usize,
        name: usize,
        shape: Shape,
    },
    Symlink {
        parent: usize,
        name: usize,
    },
    /// A filled directory moved in whose contents the watcher reports only
    /// later (a scan that ran while a rename above it was still queued,
    /// redone when that rename is seen): until then, changes inside it
    /// have no events.
    MoveInUnscanned {
        parent: usize,
        name: usize,
    },
    /// The watcher scans an unscanned directory (wherever it is now) and
    /// reports everything below it as created.
    Scan {
        which: usize,
    },
    /// The watcher reports a directory it reported before created again,
    /// then everything below it: a creation record read late, over what
    /// a scan found below the name meanwhile (scenario 25). Nothing
    /// changes on disk.
    CreatedAgain {
        which: usize,
    },
}

/// An operation on names among the first `names` of [`NAMES`].
fn op(names: usize) -> impl Strategy<Value = Op> {
    let i = 0usize..64;
    let n = 0usize..names;
    let shape = prop_oneof![
        Just(Shape::File),
        Just(Shape::EmptyDir),
        Just(Shape::FilledDir)
    ];
    prop_oneof![
        4 => (i.clone(), n.clone()).prop_map(|(parent, name)| Op::CreateFile { parent, name }),
        4 => i.clone().prop_map(|target| Op::Write { target }),
        1 => i.clone().prop_map(|target| Op::Chmod { target }),
        2 => (i.clone(), any::<bool>()).prop_map(|(target, children_first)| Op::Remove { target, children_first }),
        3 => (i.clone(), n.clone()).prop_map(|(parent, name)| Op::Mkdir { parent, name }),
        1 => (i.clone(), [n.clone(), n.clone(), n.clone()], any::<bool>())
            .prop_map(|(parent, names, file)| Op::MkdirP { parent, names, file }),
        6 => (i.clone(), i.clone(), n.clone()).prop_map(|(target, parent, name)| Op::Rename { target, parent, name }),
        3 => (i.clone(), i.clone(), n.clone()).prop_map(|(target, parent, name)| Op::RenameDir { target, parent, name }),
        1 => i.clone().prop_map(|target| Op::MoveOut { target }),
        2 => (i.clone(), n.clone(), shape).prop_map(|(parent, name, shape)| Op::MoveIn { parent, name, shape }),
        1 => (i.clone(), n.clone()).prop_map(|(parent, name)| Op::Symlink { parent, name }),
        2 => (i.clone(), n).prop_map(|(parent, name)| Op::MoveInUnscanned { parent, name }),
        2 => i.clone().prop_map(|which| Op::Scan { which }),
        1 => i.prop_map(|which| Op::CreatedAgain { which }),
    ]
}

/// Milliseconds before an operation: mostly within one quiet window,
/// sometimes long enough to release a batch.
fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![6 => 0u64..20, 1 => 80u64..130, 1 => 150u64..400]
}

/// Gaps for long windows: a batch holds dozens of operations (storms of
/// directory renames, moves in and removals meet in one batch).
fn long_window_gap() -> impl Strategy<Value = u64> {
    prop_oneof![30 => 0u64..20, 1 => 80u64..130, 1 => 150u64..400]
}

/// The model tree.
#[derive(Clone, Debug, Default)]
struct Model {
    /// Relative path -> kind.
    tree: BTreeMap<PathBuf, Kind>,
    /// Directories whose contents the watcher has not reported yet (see
    /// [`Op::MoveInUnscanned`]).
    unscanned: Vec<PathBuf>,
    /// Directories this deep take no new entries.
    depth: usize,
}

fn ev(kind: EventKind, path: &Path, is_dir: bool) -> Event {
    Event::new(kind, path, is_dir, Origin::Kernel)
}

impl Model {
    fn tree(&self) -> Tree {
        self.tree
            .iter()
            .map(|(p, k)| (p.clone(), *k == Kind::Dir))
            .collect()
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![PathBuf::new()];
        dirs.extend(
            self.tree
                .iter()
                .filter(|(p, k)| **k == Kind::Dir && p.components().count() < self.depth)
                .map(|(p, _)| p.clone()),
        );
        dirs
    }

    fn pick_dir(&self, i: usize) -> PathBuf {
        let dirs = self.dirs();
        dirs[i % dirs.len()].clone()
    }

    fn pick(&self, i: usize) -> Option<(PathBuf, Kind)> {
        if self.tree.is_empty() {
            return None;
        }
        self.tree
            .iter()
            .nth(i % self.tree.len())
            .map(|(p, k)| (p.clone(), *k))
    }

    fn subtree(&self, path: &Path) -> Vec<(PathBuf, Kind)> {
        self.tree
            .iter()
            .filter(|(p, _)| p.starts_with(path))
            .map(|(p, k)| (p.clone(), *k))
            .collect()
    }

    fn remove_subtree(&mut self, path: &Path) {
        self.tree.retain(|p, _| !p.starts_with(path));
    }

    fn is_empty_dir(&self, path: &Path) -> bool {
        self.tree.get(path) == Some(&Kind::Dir) && self.subtree(path).len() == 1
    }

    /// Whether `path` lies strictly inside a directory of `unscanned`.
    fn hidden(unscanned: &[PathBuf], path: &Path) -> bool {
        unscanned.iter().any(|u| path != u && path.starts_with(u))
    }

    /// Applies `op` and returns the events the watcher reports for it:
    /// nothing for what happens inside a directory not scanned yet (no
    /// watch there), and a move across its boundary seen from one side.
    fn apply(&mut self, op: &Op) -> Vec<Event> {
        match *op {
            Op::MoveInUnscanned { parent, name } => {
                let path = self.pick_dir(parent).join(NAMES[name]);
                if self.tree.contains_key(&path) && !self.is_empty_dir(&path) {
                    return Vec::new();
                }
                self.remove_subtree(&path);
                for (p, kind) in [("", Kind::Dir), ("f", Kind::File), ("s", Kind::Dir)] {
                    self.tree.insert(rejoin(&path, Path::new(p)), kind);
                }
                self.tree.insert(path.join("s/g"), Kind::File);
                self.unscanned.retain(|u| !u.starts_with(&path));
                if Self::hidden(&self.unscanned, &path) {
                    return Vec::new();
                }
                self.unscanned.push(path.clone());
                return vec![ev(EventKind::Created, &path, true)];
            }
            Op::CreatedAgain { which } => {
                let dirs: Vec<PathBuf> = self
                    .dirs()
                    .into_iter()
                    .filter(|d| {
                        !d.as_os_str().is_empty()
                            && self.tree.contains_key(d)
                            && !Self::hidden(&self.unscanned, d)
                    })
                    .collect();
                if dirs.is_empty() {
                    return Vec::new();
                }
                let path = dirs[which % dirs.len()].clone();
                let mut out = vec![ev(EventKind::Created, &path, true)];
                out.extend(self.scan(&path));
                return out;
            }
            Op::Scan { which } => {
                if self.unscanned.is_empty() {
                    return Vec::new();
                }
                let path = self.unscanned.remove(which % self.unscanned.len());
                return self.scan(&path);
            }
            _ => {}
        }
        let before = self.unscanned.clone();
        let mut events = self.apply_watched(op);
        if !before.is_empty() {
            events = events
                .into_iter()
                .flat_map(|e| self.seen(&before, e))
                .collect();
        }
        // Unscanned directories that are gone or covered by another.
        let unscanned = std::mem::take(&mut self.unscanned);
        for u in unscanned {
            if self.tree.get(&u) == Some(&Kind::Dir) && !Self::hidden(&self.unscanned, &u) {
                self.unscanned.retain(|v| !v.starts_with(&u));
                self.unscanned.push(u);
            }
        }
        events
    }

    /// What the watcher reports of `e` (an event as if everything were
    /// watched), given the unscanned directories before it, whose paths it
    /// updates for a rename.
    fn seen(&mut self, before: &[PathBuf], e: Event) -> Vec<Event> {
        let EventKind::Renamed { from } = &e.kind else {
            return if Self::hidden(before, &e.path) {
                Vec::new()
            } else {
                vec![e]
            };
        };
        let from = from.clone();
        let to = e.path.clone();
        match (Self::hidden(before, &from), Self::hidden(before, &to)) {
            (false, false) => {
                // An (emptied) unscanned directory at `to` is replaced.
                self.unscanned.retain(|u| *u != to);
                for u in self.unscanned.iter_mut() {
                    if let Ok(rest) = u.strip_prefix(&from) {
                        *u = rejoin(&to, rest);
                    }
                }
                vec![e]
            }
            (true, true) => Vec::new(),
            (true, false) => {
                // Seen only where it arrives: a creation, and a directory
                // whose contents come with a later scan.
                if e.is_dir {
                    self.unscanned.push(to.clone());
                }
                vec![ev(EventKind::Created, &to, e.is_dir)]
            }
            (false, true) => vec![ev(EventKind::Removed, &from, e.is_dir)],
        }
    }

    /// Everything below `path` (an unscanned directory) as the watcher's
    /// scan reports it.
    fn scan(&mut self, path: &Path) -> Vec<Event> {
        self.unscanned.retain(|u| !u.starts_with(path));
        self.subtree(path)
            .into_iter()
            .filter(|(p, _)| p != path)
            .map(|(p, k)| Event::new(EventKind::Created, p, k == Kind::Dir, Origin::Rescan))
            .collect()
    }

    /// Scans every unscanned directory.
    fn scan_all(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(path) = self.unscanned.pop() {
            out.extend(self.scan(&path));
        }
        out
    }

    /// Applies `op` and returns the events a watcher that watched every
    /// directory would report for it.
    fn apply_watched(&mut self, op: &Op) -> Vec<Event> {
        let mut out = Vec::new();
        match *op {
            Op::CreateFile { parent, name } => {
                let path = self.pick_dir(parent).join(NAMES[name]);
                match self.tree.get(&path) {
                    None => {
                        self.tree.insert(path.clone(), Kind::File);
                        out.push(ev(EventKind::Created, &path, false));
                        out.push(ev(EventKind::Modified, &path, false));
                    }
                    Some(Kind::File) => out.push(ev(EventKind::Modified, &path, false)),
                    Some(_) => {}
                }
            }
            Op::Write { target } => {
                if let Some((path, Kind::File)) = self.pick(target) {
                    out.push(ev(EventKind::Modified, &path, false));
                }
            }
            Op::Chmod { target } => {
                if let Some((path, kind)) = self.pick(target)
                    && kind != Kind::Symlink
                {
                    out.push(ev(EventKind::Metadata, &path, kind == Kind::Dir));
                }
            }
            Op::Remove {
                target,
                children_first,
            } => {
                if let Some((path, kind)) = self.pick(target) {
                    if kind == Kind::Dir && children_first {
                        // rm -r: deepest first.
                        let mut below = self.subtree(&path);
                        below.reverse();
                        for (p, k) in below {
                            out.push(ev(EventKind::Removed, &p, k == Kind::Dir));
                        }
                    } else {
                        out.push(ev(EventKind::Removed, &path, kind == Kind::Dir));
                    }
                    self.remove_subtree(&path);
                }
            }
            Op::Mkdir { parent, name } => {
                let path = self.pick_dir(parent).join(NAMES[name]);
                if !self.tree.contains_key(&path) {
                    self.tree.insert(path.clone(), Kind::Dir);
                    out.push(ev(EventKind::Created, &path, true));
                }
            }
            Op::MkdirP {
                parent,
                names,
                file,
            } => {
                let mut path = self.pick_dir(parent);
                for name in names {
                    path.push(NAMES[name]);
                    match self.tree.get(&path) {
                        None => {
                            self.tree.insert(path.clone(), Kind::Dir);
                            out.push(ev(EventKind::Created, &path, true));
                        }
                        Some(Kind::Dir) => {}
                        Some(_) => return out,
                    }
                }
                let f = path.join("f");
                if file && !self.tree.contains_key(&f) {
                    self.tree.insert(f.clone(), Kind::File);
                    out.push(ev(EventKind::Created, &f, false));
                    out.push(ev(EventKind::Modified, &f, false));
                }
            }
            Op::Rename {
                target,
                parent,
                name,
            } => {
                let Some((from, kind)) = self.pick(target) else {
                    return out;
                };
                let to = self.pick_dir(parent).join(NAMES[name]);
                if to.starts_with(&from) || from.starts_with(&to) {
                    return out;
                }
                let allowed = match (kind, self.tree.get(&to)) {
                    (_, None) => true,
                    (Kind::Dir, Some(Kind::Dir)) => self.is_empty_dir(&to),
                    (Kind::Dir, Some(_)) | (_, Some(Kind::Dir)) => false,
                    _ => true,
                };
                if !allowed {
                    return out;
                }
                let moved = self.subtree(&from);
                self.remove_subtree(&from);
                self.remove_subtree(&to);
                for (p, k) in moved {
                    let rest = p.strip_prefix(&from).expect("prefix").to_path_buf();
                    self.tree.insert(rejoin(&to, &rest), k);
                }
                out.push(Event::new(
                    EventKind::Renamed { from },
                    &to,
                    kind == Kind::Dir,
                    Origin::Kernel,
                ));
            }
            Op::RenameDir {
                target,
                parent,
                name,
            } => {
                let dirs: Vec<usize> = (self.tree.values().enumerate())
                    .filter(|(_, k)| **k == Kind::Dir)
                    .map(|(i, _)| i)
                    .collect();
                if !dirs.is_empty() {
                    let target = dirs[target % dirs.len()];
                    return self.apply_watched(&Op::Rename {
                        target,
                        parent,
                        name,
                    });
                }
            }
            Op::MoveOut { target } => {
                if let Some((path, kind)) = self.pick(target) {
                    self.remove_subtree(&path);
                    out.push(ev(EventKind::Removed, &path, kind == Kind::Dir));
                }
            }
            Op::MoveIn {
                parent,
                name,
                shape,
            } => {
                let path = self.pick_dir(parent).join(NAMES[name]);
                let allowed = match (shape, self.tree.get(&path)) {
                    (_, None) => true,
                    (Shape::File, Some(Kind::File | Kind::Symlink)) => true,
                    (Shape::EmptyDir | Shape::FilledDir, Some(Kind::Dir)) => {
                        self.is_empty_dir(&path)
                    }
                    _ => false,
                };
                if !allowed {
                    return out;
                }
                self.remove_subtree(&path);
                let mut add = |p: PathBuf, kind: Kind, origin: Origin| {
                    self.tree.insert(p.clone(), kind);
                    out.push(Event::new(EventKind::Created, p, kind == Kind::Dir, origin));
                };
                match shape {
                    Shape::File => add(path, Kind::File, Origin::Kernel),
                    Shape::EmptyDir => add(path, Kind::Dir, Origin::Kernel),
                    Shape::FilledDir => {
                        // The watcher reports the directory, then scans it.
                        add(path.clone(), Kind::Dir, Origin::Kernel);
                        add(path.join("f"), Kind::File, Origin::Rescan);
                        add(path.join("s"), Kind::Dir, Origin::Rescan);
                        add(path.join("s/g"), Kind::File, Origin::Rescan);
                    }
                }
            }
            Op::Symlink { parent, name } => {
                let path = self.pick_dir(parent).join(NAMES[name]);
                if !self.tree.contains_key(&path) {
                    self.tree.insert(path.clone(), Kind::Symlink);
                    out.push(ev(EventKind::Created, &path, false));
                }
            }
            Op::MoveInUnscanned { .. } | Op::Scan { .. } | Op::CreatedAgain { .. } => {
                unreachable!("handled by apply")
            }
        }
        out
    }
}

/// `base` joined with `rest`, without a trailing separator for an empty `rest`.
fn rejoin(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

fn initial(names: usize) -> impl Strategy<Value = Vec<(usize, usize, u8)>> {
    proptest::collection::vec((0usize..16, 0usize..names, 0u8..3), 0..12)
}

/// Builds a starting tree from (parent, name, kind) triples, with new
/// entries allowed in directories less than `depth` deep.
fn build(spec: &[(usize, usize, u8)], depth: usize) -> Model {
    let mut model = Model {
        depth,
        ..Model::default()
    };
    for &(parent, name, kind) in spec {
        let path = model.pick_dir(parent).join(NAMES[name]);
        if model.tree.contains_key(&path) {
            continue;
        }
        let kind = match kind {
            0 => Kind::File,
            1 => Kind::Dir,
            _ => Kind::Symlink,
        };
        model.tree.insert(path, kind);
    }
    model
}

/// What one batch's raw events say about a path: used for the coalescing
/// checks.
#[derive(Default)]
struct Touches {
    /// Paths touched by any raw event (as path, as `from`, or below either).
    structural: BTreeSet<PathBuf>,
    /// Paths with Modified/Metadata events: whether any was Modified.
    changed: BTreeMap<PathBuf, bool>,
}

impl Touches {
    fn add(&mut self, e: &Event) {
        match &e.kind {
            EventKind::Modified => {
                self.changed.insert(e.path.clone(), true);
            }
            EventKind::Metadata => {
                self.changed.entry(e.path.clone()).or_insert(false);
            }
            EventKind::Renamed { from } => {
                self.structural.insert(from.clone());
                self.structural.insert(e.path.clone());
            }
            _ => {
                self.structural.insert(e.path.clone());
            }
        }
    }

    /// Paths that only saw plain writes or chmods, with nothing structural
    /// at, above or below them.
    fn plain(&self) -> impl Iterator<Item = (&PathBuf, bool)> {
        self.changed.iter().map(|(p, m)| (p, *m)).filter(|(p, _)| {
            !self
                .structural
                .iter()
                .any(|s| s.starts_with(p) || p.starts_with(s))
        })
    }
}

/// A failing batch, one line per entry: the tree before it, its raw
/// events, and what the debouncer made of them.
fn show_case(before: &Tree, raw: &[Event], batch: &[Event]) -> String {
    let dir = |d: bool| if d { " (dir)" } else { "" };
    let mut lines: Vec<String> = before
        .iter()
        .map(|(p, d)| format!("base  {}{}", p.display(), dir(*d)))
        .collect();
    lines.extend(raw.iter().map(|e| format!("raw   {e}{}", dir(e.is_dir))));
    lines.extend(batch.iter().map(|e| format!("batch {e}{}", dir(e.is_dir))));
    lines.join("\n")
}

/// Checks one released batch against what its raw events did.
fn check_batch(
    before: &Tree,
    raw_after: &Tree,
    raw: &[Event],
    batch: &[Event],
) -> Result<(), TestCaseError> {
    let mut folded = before.clone();
    fold(&mut folded, batch);
    prop_assert_eq!(&folded, raw_after, "\n{}", show_case(before, raw, batch));

    let mut touches = Touches::default();
    raw.iter().for_each(|e| touches.add(e));
    for (path, modified) in touches.plain() {
        let named: Vec<&Event> = batch
            .iter()
            .filter(|e| {
                e.path == *path || matches!(&e.kind, EventKind::Renamed { from } if from == path)
            })
            .collect();
        let want = if modified {
            EventKind::Modified
        } else {
            EventKind::Metadata
        };
        prop_assert!(
            named.len() == 1 && named[0].kind == want,
            "plain changes of {:?} must be one {:?}: {:#?}",
            path,
            want,
            batch
        );
    }
    // A path that did not exist before the batch and does not exist after
    // it leaves no trace or folds to nothing: the last event that touches
    // it (or an ancestor) takes it away.
    let mentioned: BTreeSet<&PathBuf> = batch.iter().map(|e| &e.path).collect();
    for path in mentioned {
        if before.contains_key(path) || raw_after.contains_key(path) {
            continue;
        }
        let last = batch.iter().rev().find(|e| {
            let structural = matches!(
                e.kind,
                EventKind::Created | EventKind::Removed | EventKind::Renamed { .. }
            );
            e.path == *path
                || (structural && path.starts_with(&e.path))
                || matches!(&e.kind, EventKind::Renamed { from } if path.starts_with(from))
        });
        // Created or renamed over an ancestor replaces what was below it.
        let gone = last.is_some_and(|e| match &e.kind {
            EventKind::Removed => true,
            EventKind::Renamed { from } => path.starts_with(from) || e.path != *path,
            EventKind::Created => e.path != *path,
            _ => false,
        });
        prop_assert!(
            gone,
            "{:?} came and went inside the batch but its last event is {:?}",
            path,
            last
        );
    }
    Ok(())
}

fn run_model(start: &Model, ops: &[(u64, Op)]) -> Result<(), TestCaseError> {
    let mut model = start.clone();
    let mut debouncer = Debouncer::new(QUIET);
    let t0 = Instant::now();
    let mut now = t0;
    // The tree the released batches describe, and the raw events since.
    let mut released = model.tree();
    let mut raw: Vec<Event> = Vec::new();
    let mut raw_tree = model.tree();
    let mut batch = Vec::new();
    for (gap, op) in ops {
        now += Duration::from_millis(*gap);
        batch.clear();
        if debouncer.drain_ready(now, &mut batch) > 0 {
            check_batch(&released, &raw_tree, &raw, &batch)?;
            fold(&mut released, &batch);
            raw.clear();
        }
        for e in model.apply(op) {
            fold(&mut raw_tree, std::slice::from_ref(&e));
            raw.push(e.clone());
            debouncer.push(e, now);
        }
        if model.unscanned.is_empty() {
            prop_assert_eq!(&raw_tree, &model.tree(), "the model's own events fold");
        }
    }
    for e in model.scan_all() {
        fold(&mut raw_tree, std::slice::from_ref(&e));
        raw.push(e.clone());
        debouncer.push(e, now);
    }
    prop_assert_eq!(&raw_tree, &model.tree(), "the model's own events fold");
    batch.clear();
    debouncer.flush(&mut batch);
    check_batch(&released, &raw_tree, &raw, &batch)?;
    prop_assert!(debouncer.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn batches_fold_to_the_tree(
        start in initial(4),
        ops in proptest::collection::vec((gap(), op(4)), 0..48),
    ) {
        run_model(&build(&start, 3), &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Long windows over a wider, deeper tree: where several directory
    /// renames, moves of new directories and removals meet in one batch.
    #[test]
    fn long_batches_fold_to_the_tree(
        start in initial(6),
        ops in proptest::collection::vec((long_window_gap(), op(6)), 0..120),
    ) {
        run_model(&build(&start, 4), &ops)?;
    }
}

// ------------------------------------------------------- the real watcher

/// Random operations on a real tree, watched by `backend`, through the
/// debouncer with a clock advanced by hand.
fn run_real(backend: Backend, start: &Model, ops: &[(u64, Op)]) -> Result<(), TestCaseError> {
    let dir = TempDir::new("debounce-real");
    let outside = TempDir::new("debounce-outside");
    let root = dir.path().join("tree");
    std::fs::create_dir(&root).expect("root");
    for (p, k) in &start.tree {
        let path = root.join(p);
        match k {
            Kind::File => std::fs::write(&path, b"x").expect("file"),
            Kind::Dir => std::fs::create_dir(&path).expect("dir"),
            Kind::Symlink => std::os::unix::fs::symlink("nowhere", &path).expect("symlink"),
        }
    }
    let mut watcher = Watcher::with_config(Config::default().backend(backend)).expect("watcher");
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .expect("watch");
    let mut released = scan(&root);
    let mut debouncer = Debouncer::new(QUIET);
    let mut now = Instant::now();
    let mut events = Vec::new();
    let mut batch = Vec::new();
    let mut real = RealOps {
        root: root.clone(),
        outside: outside.path().to_path_buf(),
        serial: 0,
    };
    for (gap, op) in ops {
        real.apply(op);
        events.clear();
        watcher
            .read(&mut events, Some(Duration::ZERO))
            .expect("read");
        now += Duration::from_millis(*gap);
        for e in events.drain(..) {
            debouncer.push(e, now);
        }
        batch.clear();
        debouncer.drain_ready(now, &mut batch);
        fold(&mut released, &batch);
    }
    watcher.sync(Duration::from_secs(30)).expect("sync");
    events.clear();
    while watcher
        .read(&mut events, Some(Duration::ZERO))
        .expect("read")
        > 0
    {}
    for e in events.drain(..) {
        debouncer.push(e, now);
    }
    batch.clear();
    debouncer.flush(&mut batch);
    fold(&mut released, &batch);
    prop_assert_eq!(released, scan(&root), "{:?}", backend);
    Ok(())
}

/// The same operations on a real directory (operands picked from a scan).
struct RealOps {
    root: PathBuf,
    outside: PathBuf,
    serial: u64,
}

impl RealOps {
    fn model(&self) -> Model {
        let tree = scan(&self.root);
        let tree = tree
            .into_iter()
            .map(|(p, d)| {
                let rel = p
                    .strip_prefix(&self.root)
                    .expect("below root")
                    .to_path_buf();
                let kind = if d {
                    Kind::Dir
                } else if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_symlink()) {
                    Kind::Symlink
                } else {
                    Kind::File
                };
                (rel, kind)
            })
            .collect();
        Model {
            tree,
            unscanned: Vec::new(),
            depth: 3,
        }
    }

    fn apply(&mut self, op: &Op) {
        use std::fs;
        let mut model = self.model();
        let before = model.clone();
        // The model decides what is allowed; the real tree does the same.
        let events = model.apply(op);
        if events.is_empty() {
            return;
        }
        let abs = |p: &Path| self.root.join(p);
        match *op {
            Op::CreateFile { parent, name } => {
                let _ = fs::write(abs(&before.pick_dir(parent).join(NAMES[name])), b"c");
            }
            Op::Write { target } => {
                if let Some((p, _)) = before.pick(target) {
                    let _ = fs::OpenOptions::new()
                        .append(true)
                        .open(abs(&p))
                        .and_then(|mut f| std::io::Write::write_all(&mut f, b"w"));
                }
            }
            Op::Chmod { target } => {
                use std::os::unix::fs::PermissionsExt;
                if let Some((p, k)) = before.pick(target) {
                    let mode = if k == Kind::Dir { 0o750 } else { 0o640 };
                    let _ = fs::set_permissions(abs(&p), fs::Permissions::from_mode(mode));
                }
            }
            Op::Remove { target, .. } => {
                if let Some((p, k)) = before.pick(target) {
                    let _ = if k == Kind::Dir {
                        fs::remove_dir_all(abs(&p))
                    } else {
                        fs::remove_file(abs(&p))
                    };
                }
            }
            Op::Mkdir { parent, name } => {
                let _ = fs::create_dir(abs(&before.pick_dir(parent).join(NAMES[name])));
            }
            Op::MkdirP {
                parent,
                names,
                file,
            } => {
                let mut p = before.pick_dir(parent);
                for n in names {
                    p.push(NAMES[n]);
                }
                if fs::create_dir_all(abs(&p)).is_ok() && file {
                    let _ = fs::write(abs(&p.join("f")), b"p");
                }
            }
            Op::Rename { .. } | Op::RenameDir { .. } => {
                // The model's event names both ends.
                if let Some(Event {
                    kind: EventKind::Renamed { from },
                    path: to,
                    ..
                }) = events.first()
                {
                    let _ = fs::rename(abs(from), abs(to));
                }
            }
            Op::MoveOut { target } => {
                if let Some((p, _)) = before.pick(target) {
                    self.serial += 1;
                    let _ = fs::rename(abs(&p), self.outside.join(format!("out{}", self.serial)));
                }
            }
            Op::MoveIn { .. } | Op::MoveInUnscanned { .. } => {
                let (parent, name, shape) = match *op {
                    Op::MoveIn {
                        parent,
                        name,
                        shape,
                    } => (parent, name, shape),
                    Op::MoveInUnscanned { parent, name } => (parent, name, Shape::FilledDir),
                    _ => unreachable!(),
                };
                self.serial += 1;
                let staged = self.outside.join(format!("in{}", self.serial));
                let staged_ok = match shape {
                    Shape::File => fs::write(&staged, b"in").is_ok(),
                    Shape::EmptyDir => fs::create_dir(&staged).is_ok(),
                    Shape::FilledDir => {
                        fs::create_dir_all(staged.join("s")).is_ok()
                            && fs::write(staged.join("f"), b"f").is_ok()
                            && fs::write(staged.join("s/g"), b"g").is_ok()
                    }
                };
                if staged_ok {
                    let to = before.pick_dir(parent).join(NAMES[name]);
                    let _ = fs::rename(&staged, abs(&to));
                }
            }
            Op::Scan { .. } | Op::CreatedAgain { .. } => {}
            Op::Symlink { parent, name } => {
                let _ = std::os::unix::fs::symlink(
                    "target",
                    abs(&before.pick_dir(parent).join(NAMES[name])),
                );
            }
        }
    }
}

fn real_backends() -> Vec<Backend> {
    [Backend::Inotify, Backend::Poll]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn real_watcher_batches_fold_to_the_scanned_tree(
        start in initial(4),
        ops in proptest::collection::vec((gap(), op(4)), 0..40),
    ) {
        for backend in real_backends() {
            run_real(backend, &build(&start, 3), &ops)?;
        }
    }
}
