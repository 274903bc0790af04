//! Deciding whether watched files really changed, and whether the service
//! has the change yet.
//!
//! Reload actions must not fire on a `touch`, a `chmod`, or a save that wrote
//! the same bytes, and must not forget a change whose action failed. The
//! tracker keeps two states for every watched file (read through symlinks,
//! as the service reading the config would): what it holds now (`seen`) and
//! what it held when an action last succeeded (`applied`). A path is
//! *pending* while the two differ in content.
//!
//! Reading never blocks and never runs away: only regular files are read
//! (the type is checked on the opened descriptor, which is opened
//! non-blocking), at most [`HASH_CAP`] bytes of each; FIFOs, sockets and
//! devices count by existence and type, a larger file by its size, times
//! and inode, and a file that cannot be read is a state of its own.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use watch_core::{Event, EventKind};

use crate::filter::Excludes;

mod observe;

pub use observe::observe;

/// Most bytes read from one file. Past it, a file's content is compared by
/// size, modification and change times and inode instead.
pub const HASH_CAP: u64 = 32 << 20;

/// Bytes hashed while taking the baseline; files beyond it are recorded by
/// size, times and inode, so that `watchfs -r` on a large tree starts
/// promptly.
const BASELINE_BUDGET: u64 = 256 << 20;

/// Files up to this size are read again whenever the tracker verifies
/// them; larger ones only when their size, times or inode moved (times may
/// be coarse: two writes within one clock tick can share an mtime).
const REHASH_ALWAYS: u64 = 1 << 20;

/// Identity and times of a file, from `fstat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Status change time (seconds, nanoseconds).
    pub ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// What a path held when it was last looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing there (or a dangling symlink).
    Missing,
    /// A directory: its appearance or removal is not a content change.
    Dir,
    /// A regular file: its length, the SHA-256 of its bytes (`None` when it
    /// was not read: over [`HASH_CAP`] or the baseline budget), and its stamp.
    File {
        /// Length in bytes.
        len: u64,
        /// Digest of the content, when it was read.
        digest: Option<[u8; 32]>,
        /// Identity and times.
        stamp: Stamp,
    },
    /// A FIFO, socket or device: never read, compared by type only.
    Special(String),
    /// Exists but cannot be read; the error kind.
    Unreadable(String),
}

impl State {
    fn stamp(&self) -> Option<&Stamp> {
        match self {
            State::File { stamp, .. } => Some(stamp),
            _ => None,
        }
    }
}

/// Whether two states hold the same content.
pub fn same_content(a: &State, b: &State) -> bool {
    match (a, b) {
        (
            State::File {
                len: la,
                digest: Some(da),
                ..
            },
            State::File {
                len: lb,
                digest: Some(db),
                ..
            },
        ) => la == lb && da == db,
        (
            State::File {
                len: la, stamp: sa, ..
            },
            State::File {
                len: lb, stamp: sb, ..
            },
        ) => la == lb && sa == sb,
        (a, b) => a == b,
    }
}

/// Whether going from `applied` to `seen` is a change the service should
/// get: a file appeared, disappeared, or holds other bytes.
fn is_content_change(applied: &State, seen: &State) -> bool {
    match (applied, seen) {
        // Directories coming and going are not content.
        (_, State::Dir) | (State::Dir, State::Missing) => false,
        (a, b) => !same_content(a, b),
    }
}

#[derive(Clone, Debug)]
struct Tracked {
    /// The path as the user named it (a root, or a root joined with names).
    name: PathBuf,
    seen: State,
    applied: State,
}

/// The `seen` state of every tracked path at one moment: what a check
/// accepted, and what an action applies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot(HashMap<PathBuf, State>);

/// Content states of the files under the watched paths.
#[derive(Debug)]
pub struct ContentTracker {
    /// Absolute path -> its states.
    known: HashMap<PathBuf, Tracked>,
    cap: u64,
    /// Files already reported as over the cap.
    said_large: HashSet<PathBuf>,
    notices: Vec<String>,
}

impl ContentTracker {
    /// Records the current content of every file under `roots` (a root file
    /// itself, a root directory's entries, and with `recursive` everything
    /// below, without following symlinked directories or entering excluded
    /// ones) as both seen and applied.
    pub fn baseline(roots: &[PathBuf], recursive: bool, excludes: &Excludes) -> ContentTracker {
        ContentTracker::baseline_within(roots, recursive, excludes, BASELINE_BUDGET, HASH_CAP)
    }

    fn baseline_within(
        roots: &[PathBuf],
        recursive: bool,
        excludes: &Excludes,
        mut budget: u64,
        cap: u64,
    ) -> ContentTracker {
        let mut tracker = ContentTracker {
            known: HashMap::new(),
            cap,
            said_large: HashSet::new(),
            notices: Vec::new(),
        };
        for root in roots {
            tracker.record(root, &mut budget);
            if fs::metadata(root).is_ok_and(|m| m.is_dir()) {
                tracker.scan_dir(root, root, recursive, excludes, &mut budget);
            }
        }
        tracker
    }

    fn scan_dir(
        &mut self,
        root: &Path,
        dir: &Path,
        recursive: bool,
        excludes: &Excludes,
        budget: &mut u64,
    ) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if excludes.is_excluded(root, &path) {
                continue;
            }
            let state = self.record(&path, budget);
            let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if recursive && state == State::Dir && is_real_dir {
                self.scan_dir(root, &path, recursive, excludes, budget);
            }
        }
    }

    fn record(&mut self, path: &Path, budget: &mut u64) -> State {
        let state = match fs::metadata(path) {
            Ok(meta) if meta.is_file() && meta.len() > *budget => State::File {
                len: meta.len(),
                digest: None,
                stamp: Stamp::of(&meta),
            },
            Ok(meta) if meta.is_file() => {
                *budget -= meta.len().min(self.cap);
                self.observe(path)
            }
            _ => self.observe(path),
        };
        self.known.insert(
            key(path),
            Tracked {
                name: path.to_path_buf(),
                seen: state.clone(),
                applied: state.clone(),
            },
        );
        state
    }

    /// Number of paths being tracked.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Messages to show the user once (a file over the size cap).
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// Re-reads the paths named by `events`. Some changes redirect other
    /// paths: when a symlink changes (a Kubernetes ConfigMap swap renames
    /// `..data`) or after an overflow, every tracked file is re-read; when a
    /// directory changes, the files known below it are.
    pub fn observe_events(&mut self, events: &[Event]) {
        let mut candidates: Vec<PathBuf> = Vec::new();
        for event in events {
            if let EventKind::Renamed { from } = &event.kind {
                candidates.push(from.clone());
            }
            candidates.push(event.path.clone());
        }
        let overflow = events.iter().any(|e| matches!(e.kind, EventKind::Overflow));
        let symlink = candidates.iter().any(|path| is_symlink(path));
        let mut extra: Vec<PathBuf> = Vec::new();
        if overflow || symlink {
            extra.extend(self.known.values().map(|t| t.name.clone()));
        } else {
            let dirs: Vec<PathBuf> = candidates
                .iter()
                .filter(|path| self.is_or_was_dir(path))
                .map(|path| key(path))
                .collect();
            if !dirs.is_empty() {
                extra.extend(
                    self.known
                        .iter()
                        .filter(|(known, _)| dirs.iter().any(|dir| known.starts_with(dir)))
                        .map(|(_, t)| t.name.clone()),
                );
            }
        }
        extra.sort();
        candidates.extend(extra);
        let mut done = HashSet::new();
        for path in candidates {
            let key = key(&path);
            if !done.insert(key.clone()) {
                continue;
            }
            let now = self.observe(&path);
            match self.known.get_mut(&key) {
                Some(tracked) => tracked.seen = now,
                None => {
                    self.known.insert(
                        key,
                        Tracked {
                            name: path,
                            seen: now,
                            applied: State::Missing,
                        },
                    );
                }
            }
        }
    }

    /// Looks at every tracked path again (reading a file again when it is
    /// small or its stamp moved) and returns whether any content changed.
    pub fn refresh(&mut self) -> bool {
        let mut changed = false;
        let keys: Vec<PathBuf> = self.known.keys().cloned().collect();
        for key in keys {
            let (name, seen) = {
                let t = &self.known[&key];
                (t.name.clone(), t.seen.clone())
            };
            let unmoved = match (&seen, fs::metadata(&name)) {
                (
                    State::File {
                        len, stamp, digest, ..
                    },
                    Ok(meta),
                ) => {
                    meta.is_file()
                        && meta.len() == *len
                        && Stamp::of(&meta) == *stamp
                        && (*len > REHASH_ALWAYS || digest.is_none())
                }
                _ => false,
            };
            if unmoved {
                continue;
            }
            let now = self.observe(&name);
            if !same_content(&seen, &now) {
                changed = true;
            }
            if let Some(t) = self.known.get_mut(&key) {
                t.seen = now;
            }
        }
        changed
    }

    /// The paths whose content differs from what was last applied, as the
    /// user named them, sorted.
    pub fn pending(&self) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = self
            .known
            .values()
            .filter(|t| is_content_change(&t.applied, &t.seen))
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Every tracked path's current state.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(
            self.known
                .iter()
                .map(|(k, t)| (k.clone(), t.seen.clone()))
                .collect(),
        )
    }

    /// Whether every path still holds the content of `snap`.
    pub fn matches(&self, snap: &Snapshot) -> bool {
        self.known.len() == snap.0.len()
            && self
                .known
                .iter()
                .all(|(k, t)| snap.0.get(k).is_some_and(|s| same_content(s, &t.seen)))
    }

    /// Records `snap` as what the service now has; returns what it had
    /// before, for [`undo_applied`](Self::undo_applied).
    pub fn mark_applied(&mut self, snap: &Snapshot) -> Snapshot {
        let mut before = HashMap::new();
        for (k, state) in &snap.0 {
            if let Some(t) = self.known.get_mut(k) {
                before.insert(k.clone(), std::mem::replace(&mut t.applied, state.clone()));
            }
        }
        Snapshot(before)
    }

    /// Takes back [`mark_applied`](Self::mark_applied)`(snap)` (the action
    /// failed after all), except where something newer was applied since.
    pub fn undo_applied(&mut self, snap: &Snapshot, before: &Snapshot) {
        for (k, state) in &before.0 {
            if let Some(t) = self.known.get_mut(k)
                && snap.0.get(k) == Some(&t.applied)
            {
                t.applied = state.clone();
            }
        }
    }

    /// What the service has, by absolute path (for the state file).
    pub fn applied(&self) -> HashMap<PathBuf, State> {
        self.known
            .iter()
            .map(|(k, t)| (k.clone(), t.applied.clone()))
            .collect()
    }

    /// Takes what a previous run applied (from the state file) as applied;
    /// a path it does not name was not there then.
    pub fn load_applied(&mut self, applied: &HashMap<PathBuf, State>) {
        for (k, t) in self.known.iter_mut() {
            t.applied = applied.get(k).cloned().unwrap_or(State::Missing);
        }
    }

    /// Whether `path` still names the regular file last seen there (same
    /// device and inode); `None` when nothing is known of it.
    pub fn same_file(&self, path: &Path) -> Option<bool> {
        let stamp = self.known.get(&key(path))?.seen.stamp()?;
        let meta = fs::metadata(path).ok()?;
        Some(meta.is_file() && (meta.dev(), meta.ino()) == (stamp.dev, stamp.ino))
    }

    fn is_or_was_dir(&self, path: &Path) -> bool {
        fs::metadata(path).is_ok_and(|m| m.is_dir())
            || matches!(self.known.get(&key(path)), Some(t) if t.seen == State::Dir)
    }

    /// Reads what `path` holds now, noting a file over the cap once.
    fn observe(&mut self, path: &Path) -> State {
        let state = observe(path, self.cap);
        if let State::File {
            digest: None, len, ..
        } = &state
            && self.said_large.insert(key(path))
        {
            self.notices.push(format!(
                "{} is larger than {} MiB ({len} bytes); its changes are detected by size, \
                 times and inode, not by content",
                path.display(),
                self.cap >> 20
            ));
        }
        state
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Paths are compared in absolute form, so `./a` and `a` are one file.
pub fn key(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::observe::read_file;
    use super::*;
    use test_support::TempDir;
    use watch_core::Origin;

    fn event(kind: EventKind, path: &Path) -> Event {
        Event::new(kind, path, false, Origin::Kernel)
    }

    fn modified(path: &Path) -> Vec<Event> {
        vec![event(EventKind::Modified, path)]
    }

    fn tracker(roots: &[PathBuf]) -> ContentTracker {
        ContentTracker::baseline(roots, false, &Excludes::none())
    }

    /// Observes `events`, takes what is pending, and marks it applied: the
    /// life of a change whose action succeeded.
    fn apply(t: &mut ContentTracker, events: &[Event]) -> Vec<PathBuf> {
        t.observe_events(events);
        let pending = t.pending();
        let snap = t.snapshot();
        let _ = t.mark_applied(&snap);
        pending
    }

    #[test]
    fn equal_content_is_no_change_and_new_content_is() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("a.yml");
        fs::write(&file, "x: 1\n").unwrap();
        let mut t = tracker(&[dir.path().to_path_buf()]);
        fs::write(&file, "x: 1\n").unwrap();
        assert!(apply(&mut t, &modified(&file)).is_empty());
        fs::write(&file, "x: 2\n").unwrap();
        assert_eq!(apply(&mut t, &modified(&file)), vec![file.clone()]);
        assert!(apply(&mut t, &modified(&file)).is_empty(), "applied now");
    }

    #[test]
    fn a_change_stays_pending_until_applied() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("a.yml");
        fs::write(&file, "1").unwrap();
        let mut t = tracker(&[dir.path().to_path_buf()]);
        fs::write(&file, "2").unwrap();
        t.observe_events(&modified(&file));
        assert_eq!(t.pending(), vec![file.clone()]);
        // The action failed: the same bytes seen again are still pending.
        t.observe_events(&modified(&file));
        assert_eq!(t.pending(), vec![file.clone()]);
        let snap = t.snapshot();
        let before = t.mark_applied(&snap);
        assert!(t.pending().is_empty());
        // A command that fails after being started takes it back.
        t.undo_applied(&snap, &before);
        assert_eq!(t.pending(), vec![file.clone()]);
        let _ = t.mark_applied(&snap);
        // Back to what was applied before the failure is no change either.
        fs::write(&file, "2").unwrap();
        t.observe_events(&modified(&file));
        assert!(t.pending().is_empty());
    }

    #[test]
    fn a_snapshot_tells_whether_anything_changed_since() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("a.yml");
        fs::write(&file, "1").unwrap();
        let mut t = tracker(&[dir.path().to_path_buf()]);
        let snap = t.snapshot();
        assert!(!t.refresh());
        assert!(t.matches(&snap));
        fs::write(&file, "2").unwrap();
        assert!(t.refresh(), "refresh reads small files again");
        assert!(!t.matches(&snap));
    }

    #[test]
    fn created_and_removed_files_are_changes_but_directories_are_not() {
        let dir = TempDir::new("watchfs-unit");
        let mut t = tracker(&[dir.path().to_path_buf()]);
        let file = dir.path().join("new");
        fs::write(&file, "").unwrap();
        assert_eq!(
            apply(&mut t, &[event(EventKind::Created, &file)]),
            vec![file.clone()]
        );
        fs::remove_file(&file).unwrap();
        assert_eq!(
            apply(&mut t, &[event(EventKind::Removed, &file)]),
            vec![file.clone()]
        );
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(apply(&mut t, &[event(EventKind::Created, &sub)]).is_empty());
        let gone = dir.path().join("never-existed");
        assert!(apply(&mut t, &[event(EventKind::Removed, &gone)]).is_empty());
    }

    #[test]
    fn symlink_swap_rereads_every_file() {
        // The Kubernetes ConfigMap layout: conf -> ..data/conf, ..data -> ..v1.
        let dir = TempDir::new("watchfs-unit");
        let root = dir.path();
        for (version, content) in [("..v1", "a"), ("..v2", "b")] {
            fs::create_dir(root.join(version)).unwrap();
            fs::write(root.join(version).join("conf"), content).unwrap();
        }
        std::os::unix::fs::symlink("..v1", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/conf", root.join("conf")).unwrap();
        let mut t = tracker(&[root.to_path_buf()]);
        std::os::unix::fs::symlink("..v2", root.join("..data_tmp")).unwrap();
        fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        let swap = event(
            EventKind::Renamed {
                from: root.join("..data_tmp"),
            },
            &root.join("..data"),
        );
        assert_eq!(apply(&mut t, &[swap]), [root.join("conf")]);
    }

    #[test]
    fn paths_are_named_as_the_user_named_them() {
        // A relative root: the files below it keep the relative name, also
        // when they are found through a directory rename or a refresh.
        let dir = TempDir::new("watchfs-unit");
        let cwd = std::env::current_dir().unwrap();
        let conf_d = dir.path().join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        fs::write(conf_d.join("a"), "1").unwrap();
        let rel = pathdiff(&conf_d, &cwd);
        let mut t = tracker(std::slice::from_ref(&rel));
        fs::write(conf_d.join("a"), "2").unwrap();
        assert!(t.refresh());
        assert_eq!(t.pending(), [rel.join("a")]);
    }

    /// `to` relative to `from` ("../../x"), without a crate for it.
    fn pathdiff(to: &Path, from: &Path) -> PathBuf {
        let mut up = PathBuf::new();
        let mut base = from.to_path_buf();
        loop {
            if let Ok(rest) = to.strip_prefix(&base) {
                return up.join(rest);
            }
            up.push("..");
            if !base.pop() {
                return to.to_path_buf();
            }
        }
    }

    #[test]
    fn files_over_the_baseline_budget_are_compared_by_stamp() {
        let dir = TempDir::new("watchfs-unit");
        let small = dir.path().join("small");
        let big = dir.path().join("big");
        fs::write(&small, "1").unwrap();
        fs::write(&big, "0123456789").unwrap();
        let roots = [dir.path().to_path_buf()];
        let mut t = ContentTracker::baseline_within(&roots, false, &Excludes::none(), 5, HASH_CAP);
        t.observe_events(&modified(&big));
        assert!(t.pending().is_empty(), "same size, times and inode");
        fs::write(&big, "9876543210").unwrap();
        t.observe_events(&modified(&big));
        assert_eq!(t.pending(), vec![big.clone()], "the times moved");
        assert!(apply(&mut t, &modified(&small)).contains(&big));
    }

    #[test]
    fn files_over_the_cap_are_compared_by_stamp_and_said_once() {
        let dir = TempDir::new("watchfs-unit");
        let big = dir.path().join("big");
        fs::write(&big, "0123456789").unwrap();
        let roots = [dir.path().to_path_buf()];
        let mut t = ContentTracker::baseline_within(&roots, false, &Excludes::none(), u64::MAX, 4);
        assert_eq!(t.take_notices().len(), 1);
        assert!(apply(&mut t, &modified(&big)).is_empty());
        fs::write(&big, "abcdefghijk").unwrap();
        assert_eq!(apply(&mut t, &modified(&big)), vec![big.clone()]);
        assert!(t.take_notices().is_empty(), "said once");
    }

    #[test]
    fn renaming_a_directory_rereads_the_files_below_it() {
        let dir = TempDir::new("watchfs-unit");
        let conf_d = dir.path().join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        fs::write(conf_d.join("a.conf"), "a").unwrap();
        let roots = [dir.path().to_path_buf()];
        let mut t = ContentTracker::baseline(&roots, true, &Excludes::none());
        fs::rename(&conf_d, dir.path().join("old.d")).unwrap();
        let event = Event::new(
            EventKind::Renamed {
                from: conf_d.clone(),
            },
            dir.path().join("old.d"),
            true,
            Origin::Kernel,
        );
        assert_eq!(apply(&mut t, &[event]), vec![conf_d.join("a.conf")]);
    }

    #[test]
    fn relative_and_absolute_names_are_one_file() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("f");
        fs::write(&file, "1").unwrap();
        let mut t = tracker(std::slice::from_ref(&file));
        assert_eq!(t.len(), 1);
        let dotted = dir.path().join(".").join("f");
        assert!(apply(&mut t, &modified(&dotted)).is_empty());
    }

    #[test]
    fn fifos_and_devices_are_never_read() {
        let dir = TempDir::new("watchfs-unit");
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        // Both would block or read forever if opened and read.
        let mut t = tracker(&[dir.path().to_path_buf()]);
        assert_eq!(observe(&fifo, HASH_CAP), State::Special("fifo".into()));
        assert_eq!(
            observe(&zero, HASH_CAP),
            State::Special("char device".into())
        );
        assert!(!t.refresh());
        assert!(t.pending().is_empty());
    }

    #[test]
    fn the_type_is_checked_on_the_opened_descriptor() {
        // read_file itself refuses what is not a regular file, whatever a
        // stat before the open said.
        let dir = TempDir::new("watchfs-unit");
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            read_file(&fifo, HASH_CAP).unwrap(),
            State::Special("fifo".into())
        );
        assert_eq!(
            read_file(Path::new("/dev/zero"), HASH_CAP).unwrap(),
            State::Special("char device".into())
        );
    }

    #[test]
    fn an_unreadable_file_is_a_state() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("secret");
        fs::write(&file, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&file, fs::Permissions::from_mode(0o000)).unwrap();
        let state = observe(&file, HASH_CAP);
        // Root reads anything; everyone else gets a state, not an error.
        assert!(
            matches!(state, State::File { .. } | State::Unreadable(_)),
            "{state:?}"
        );
    }
}
