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

/// What a path held when it was last looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Nothing there (or a dangling symlink).
    Missing,
    /// A directory: its appearance or removal is not a content change.
    Dir,
    /// A regular file (or something readable like one) with this content.
    File { len: u64, hash: u64 },
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
        let mut tracker = ContentTracker::default();
        for root in roots {
            tracker.record(root);
            if fs::metadata(root).is_ok_and(|m| m.is_dir()) {
                tracker.scan_dir(root, root, recursive, excludes);
            }
        }
        tracker
    }

    fn scan_dir(&mut self, root: &Path, dir: &Path, recursive: bool, excludes: &Excludes) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if excludes.is_excluded(root, &path) {
                continue;
            }
            let state = self.record(&path);
            let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if recursive && state == State::Dir && is_real_dir {
                self.scan_dir(root, &path, recursive, excludes);
            }
        }
    }

    fn record(&mut self, path: &Path) -> State {
        let state = observe(path);
        self.known.insert(key(path), state.clone());
        state
    }

    /// Number of paths being tracked.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Re-reads the paths named by `events` and returns those whose content
    /// changed (a file appeared, disappeared, or holds other bytes), in event
    /// order. When a batch touches a symlink or a directory (a Kubernetes
    /// ConfigMap swap renames `..data`), every tracked file is re-read,
    /// since any of them may now resolve to other bytes.
    pub fn changed(&mut self, events: &[Event]) -> Vec<PathBuf> {
        let mut candidates: Vec<&Path> = Vec::new();
        for event in events {
            if let EventKind::Renamed { from } = &event.kind {
                candidates.push(from);
            }
            candidates.push(&event.path);
        }
        let rescan_all = events.iter().any(|e| matches!(e.kind, EventKind::Overflow))
            || candidates.iter().any(|path| self.may_redirect(path));
        let candidates: Vec<PathBuf> = candidates.iter().map(|p| p.to_path_buf()).collect();
        self.compare(candidates, rescan_all)
    }

    /// Re-reads every tracked file and returns those that changed.
    pub fn rescan(&mut self) -> Vec<PathBuf> {
        self.compare(Vec::new(), true)
    }

    fn compare(&mut self, mut order: Vec<PathBuf>, rescan_all: bool) -> Vec<PathBuf> {
        if rescan_all {
            let mut rest: Vec<PathBuf> = self.known.keys().cloned().collect();
            rest.sort();
            order.extend(rest);
        }
        let mut seen = HashSet::new();
        let mut changed = Vec::new();
        for path in order {
            if !seen.insert(key(&path)) {
                continue;
            }
            let now = observe(&path);
            let before = self.known.insert(key(&path), now.clone());
            if is_content_change(before.as_ref(), &now) {
                changed.push(path);
            }
        }
        changed
    }

    /// Whether a change at `path` can change what other paths resolve to.
    fn may_redirect(&self, path: &Path) -> bool {
        let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        is_link
            || fs::metadata(path).is_ok_and(|m| m.is_dir())
            || matches!(self.known.get(&key(path)), Some(State::Dir))
    }
}

fn is_content_change(before: Option<&State>, now: &State) -> bool {
    match (before, now) {
        // Directories coming and going are not content.
        (_, State::Dir) | (Some(State::Dir), State::Missing) => false,
        // A path never seen before that is not there now: nothing happened.
        (None, State::Missing) => false,
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
        Event {
            kind,
            path: path.to_path_buf(),
            is_dir: false,
            origin: Origin::Kernel,
        }
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
