//! Deciding whether a batch of events really changed a file's content.
//!
//! Reload actions must not fire on a `touch`, a `chmod`, or a save that wrote
//! the same bytes. The tracker remembers a hash of every watched file (read
//! through symlinks, as the service reading the config would) and reports
//! only paths whose bytes, or existence, changed.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use watch_core::{Event, EventKind};

use crate::filter::Excludes;

/// Bytes hashed while taking the baseline; files beyond it are recorded
/// unhashed, so that `watchfs -r` on a large tree starts promptly.
const BASELINE_BUDGET: u64 = 256 << 20;

/// What a path held when it was last looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Nothing there (or a dangling symlink).
    Missing,
    /// A directory: its appearance or removal is not a content change.
    Dir,
    /// A regular file (or something readable like one) with this content.
    File { len: u64, hash: u64 },
    /// A file seen at baseline but not hashed (over the budget): its next
    /// event counts as a change, since equality cannot be proven.
    Unhashed,
    /// Exists but cannot be read (permissions, ...).
    Unreadable(io::ErrorKind),
}

/// Content hashes of the files under the watched paths.
#[derive(Debug, Default)]
pub struct ContentTracker {
    known: HashMap<PathBuf, State>,
}

impl ContentTracker {
    /// Records the current content of every file under `roots`: a root file
    /// itself, a root directory's entries, and with `recursive` everything
    /// below (without following symlinked directories, without entering
    /// excluded ones).
    pub fn baseline(roots: &[PathBuf], recursive: bool, excludes: &Excludes) -> ContentTracker {
        ContentTracker::baseline_within(roots, recursive, excludes, BASELINE_BUDGET)
    }

    fn baseline_within(
        roots: &[PathBuf],
        recursive: bool,
        excludes: &Excludes,
        mut budget: u64,
    ) -> ContentTracker {
        let mut tracker = ContentTracker::default();
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
            Ok(meta) if meta.is_file() && meta.len() > *budget => State::Unhashed,
            Ok(meta) if meta.is_file() => {
                *budget -= meta.len();
                observe(path)
            }
            _ => observe(path),
        };
        self.known.insert(key(path), state.clone());
        state
    }

    /// Number of paths being tracked.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Re-reads the paths named by `events` and returns those whose content
    /// changed (a file appeared, disappeared, or holds other bytes), in event
    /// order. Some changes redirect other paths: when a symlink changes (a
    /// Kubernetes ConfigMap swap renames `..data`) or after an overflow,
    /// every tracked file is re-read; when a directory changes, the files
    /// known below it are.
    pub fn changed(&mut self, events: &[Event]) -> Vec<PathBuf> {
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
            extra.extend(self.known.keys().cloned());
        } else {
            let dirs: Vec<PathBuf> = candidates
                .iter()
                .filter(|path| self.is_or_was_dir(path))
                .map(|path| key(path))
                .collect();
            if !dirs.is_empty() {
                extra.extend(
                    self.known
                        .keys()
                        .filter(|known| dirs.iter().any(|dir| known.starts_with(dir)))
                        .cloned(),
                );
            }
        }
        extra.sort();
        candidates.extend(extra);
        self.compare(candidates, false)
    }

    /// Re-reads every hashed file and returns those that changed.
    pub fn rescan(&mut self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = self.known.keys().cloned().collect();
        all.sort();
        self.compare(all, true)
    }

    fn compare(&mut self, order: Vec<PathBuf>, keep_unhashed: bool) -> Vec<PathBuf> {
        let mut seen = HashSet::new();
        let mut changed = Vec::new();
        for path in order {
            let key = key(&path);
            if !seen.insert(key.clone()) {
                continue;
            }
            if keep_unhashed && self.known.get(&key) == Some(&State::Unhashed) {
                continue;
            }
            let now = observe(&path);
            let before = self.known.insert(key, now.clone());
            if is_content_change(before.as_ref(), &now) {
                changed.push(path);
            }
        }
        changed
    }

    fn is_or_was_dir(&self, path: &Path) -> bool {
        fs::metadata(path).is_ok_and(|m| m.is_dir())
            || matches!(self.known.get(&key(path)), Some(State::Dir))
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn is_content_change(before: Option<&State>, now: &State) -> bool {
    match (before, now) {
        // Directories coming and going are not content.
        (_, State::Dir) | (Some(State::Dir), State::Missing) => false,
        // A path never seen before that is not there now: nothing happened.
        (None, State::Missing) => false,
        (Some(State::Unhashed), _) => true,
        (None, _) => true,
        (Some(before), now) => before != now,
    }
}

/// Paths are compared in absolute form, so `./a` and `a` are one file.
fn key(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn observe(path: &Path) -> State {
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => State::Missing,
        Err(e) => State::Unreadable(e.kind()),
        Ok(meta) if meta.is_dir() => State::Dir,
        Ok(_) => match hash_file(path) {
            Ok((len, hash)) => State::File { len, hash },
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::Missing,
            Err(e) => State::Unreadable(e.kind()),
        },
    }
}

/// Length and a 64-bit hash of the bytes of `path`. The hash only needs to
/// detect change within one run, so std's SipHash (fixed keys) is enough.
fn hash_file(path: &Path) -> io::Result<(u64, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = std::hash::DefaultHasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.write(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;
    use watch_core::Origin;

    fn event(kind: EventKind, path: &Path) -> Event {
        Event::new(kind, path, false, Origin::Kernel)
    }

    fn modified(path: &Path) -> Vec<Event> {
        vec![event(EventKind::Modified, path)]
    }

    #[test]
    fn equal_content_is_no_change_and_new_content_is() {
        let dir = TestDir::new();
        let file = dir.path().join("a.yml");
        fs::write(&file, "x: 1\n").unwrap();
        let mut tracker =
            ContentTracker::baseline(&[dir.path().to_path_buf()], false, &Excludes::none());
        fs::write(&file, "x: 1\n").unwrap();
        assert!(tracker.changed(&modified(&file)).is_empty());
        fs::write(&file, "x: 2\n").unwrap();
        assert_eq!(tracker.changed(&modified(&file)), vec![file.clone()]);
        assert!(tracker.changed(&modified(&file)).is_empty(), "already seen");
    }

    #[test]
    fn created_and_removed_files_are_changes_but_directories_are_not() {
        let dir = TestDir::new();
        let mut tracker =
            ContentTracker::baseline(&[dir.path().to_path_buf()], false, &Excludes::none());
        let file = dir.path().join("new");
        fs::write(&file, "").unwrap();
        assert_eq!(
            tracker.changed(&[event(EventKind::Created, &file)]),
            vec![file.clone()]
        );
        fs::remove_file(&file).unwrap();
        assert_eq!(
            tracker.changed(&[event(EventKind::Removed, &file)]),
            vec![file.clone()]
        );
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(
            tracker
                .changed(&[event(EventKind::Created, &sub)])
                .is_empty()
        );
        let gone = dir.path().join("never-existed");
        assert!(
            tracker
                .changed(&[event(EventKind::Removed, &gone)])
                .is_empty()
        );
    }

    #[test]
    fn symlink_swap_rereads_every_file() {
        // The Kubernetes ConfigMap layout: conf -> ..data/conf, ..data -> ..v1.
        let dir = TestDir::new();
        let root = dir.path();
        for (version, content) in [("..v1", "a"), ("..v2", "b")] {
            fs::create_dir(root.join(version)).unwrap();
            fs::write(root.join(version).join("conf"), content).unwrap();
        }
        std::os::unix::fs::symlink("..v1", root.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/conf", root.join("conf")).unwrap();
        let mut tracker = ContentTracker::baseline(&[root.to_path_buf()], false, &Excludes::none());
        std::os::unix::fs::symlink("..v2", root.join("..data_tmp")).unwrap();
        fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        let swap = event(
            EventKind::Renamed {
                from: root.join("..data_tmp"),
            },
            &root.join("..data"),
        );
        assert_eq!(tracker.changed(&[swap]), [root.join("conf")]);
    }

    #[test]
    fn rescan_finds_changes_made_before_any_event() {
        let dir = TestDir::new();
        let file = dir.path().join("f");
        fs::write(&file, "1").unwrap();
        let mut tracker =
            ContentTracker::baseline(std::slice::from_ref(&file), false, &Excludes::none());
        assert!(tracker.rescan().is_empty());
        fs::write(&file, "2").unwrap();
        assert_eq!(tracker.rescan(), [std::path::absolute(&file).unwrap()]);
    }

    #[test]
    fn files_over_the_baseline_budget_count_as_changed_once() {
        let dir = TestDir::new();
        let small = dir.path().join("small");
        let big = dir.path().join("big");
        fs::write(&small, "1").unwrap();
        fs::write(&big, "0123456789").unwrap();
        let roots = [dir.path().to_path_buf()];
        let mut tracker = ContentTracker::baseline_within(&roots, false, &Excludes::none(), 5);
        assert!(tracker.rescan().is_empty(), "unhashed files are left alone");
        // Same bytes, but equality cannot be proven without a baseline hash.
        assert_eq!(tracker.changed(&modified(&big)), vec![big.clone()]);
        assert!(tracker.changed(&modified(&big)).is_empty(), "hashed now");
        assert!(tracker.changed(&modified(&small)).is_empty());
    }

    #[test]
    fn renaming_a_directory_rereads_the_files_below_it() {
        let dir = TestDir::new();
        let conf_d = dir.path().join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        fs::write(conf_d.join("a.conf"), "a").unwrap();
        let roots = [dir.path().to_path_buf()];
        let mut tracker = ContentTracker::baseline(&roots, true, &Excludes::none());
        fs::rename(&conf_d, dir.path().join("old.d")).unwrap();
        let mut event = event(
            EventKind::Renamed {
                from: conf_d.clone(),
            },
            &dir.path().join("old.d"),
        );
        event.is_dir = true;
        assert_eq!(tracker.changed(&[event]), vec![conf_d.join("a.conf")]);
    }

    #[test]
    fn relative_and_absolute_names_are_one_file() {
        let dir = TestDir::new();
        let file = dir.path().join("f");
        fs::write(&file, "1").unwrap();
        let mut tracker =
            ContentTracker::baseline(std::slice::from_ref(&file), false, &Excludes::none());
        assert_eq!(tracker.len(), 1);
        let dotted = dir.path().join(".").join("f");
        assert!(tracker.changed(&modified(&dotted)).is_empty());
    }
}
