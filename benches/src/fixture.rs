//! Temp directories and the trees the benches watch.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::mode::Point;

/// A directory under `std::env::temp_dir()`, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a fresh, uniquely named directory; `label` shows in its name.
    pub fn new(label: &str) -> io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "watchfs-bench-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        fs::create_dir(&path)?;
        Ok(TempDir { path })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover temp dir is not worth a panic in drop.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Creates `n` empty sibling directories under `root` and returns their paths.
pub fn flat_dirs(root: &Path, n: usize) -> io::Result<Vec<PathBuf>> {
    (0..n)
        .map(|i| {
            let dir = root.join(format!("d{i:06}"));
            fs::create_dir(&dir)?;
            Ok(dir)
        })
        .collect()
}

/// Creates a tree of `dirs` directories under `root`, breadth first with ten
/// children per directory (10,000 directories are four levels deep), and
/// spreads `files` empty files evenly over them. Returns every directory,
/// `root` first, so `dirs + 1` paths.
pub fn tree(root: &Path, dirs: usize, files: usize) -> io::Result<Vec<PathBuf>> {
    const FANOUT: usize = 10;
    let mut all = Vec::with_capacity(dirs + 1);
    all.push(root.to_path_buf());
    let mut parent = 0;
    while all.len() < dirs + 1 {
        for child in 0..FANOUT {
            if all.len() == dirs + 1 {
                break;
            }
            let dir = all[parent].join(format!("d{child}"));
            fs::create_dir(&dir)?;
            all.push(dir);
        }
        parent += 1;
    }
    for i in 0..files {
        // Skip the root so that every file sits in a subdirectory, except
        // when the tree has no subdirectory at all.
        let dir = &all[if dirs == 0 { 0 } else { 1 + i % dirs }];
        fs::File::create(dir.join(format!("f{i}")))?;
    }
    Ok(all)
}

/// The tree of `point` under `cache` (made with [`tree`]), created on first
/// use and reused afterwards: a million files take minutes to create, and
/// watching never changes them. A marker file next to the tree records that
/// it is complete; an incomplete tree (an interrupted run) is made afresh.
/// Returns the tree's root.
pub fn cached_tree(cache: &Path, point: Point) -> io::Result<PathBuf> {
    let root = cache.join(point.label());
    let marker = cache.join(format!("{}.complete", point.label()));
    if marker.is_file() && root.is_dir() {
        return Ok(root);
    }
    let _ = fs::remove_file(&marker);
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::create_dir_all(&root)?;
    tree(&root, point.dirs, point.files())?;
    fs::write(&marker, b"")?;
    Ok(root)
}

/// The bare recursive walk: `visit` each directory (before listing it, as a
/// race-free watcher must), then read it and descend into subdirectories,
/// using the directory entry's type so no `stat` is made. Returns how many
/// directories were visited.
pub fn walk_dirs(
    root: &Path,
    visit: &mut impl FnMut(&Path) -> io::Result<()>,
) -> io::Result<usize> {
    let mut stack = vec![root.to_path_buf()];
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        visit(&dir)?;
        visited += 1;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(visited)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_has_the_requested_shape_and_walk_finds_it() {
        let tmp = TempDir::new("tree-test").unwrap();
        let dirs = tree(tmp.path(), 123, 50).unwrap();
        assert_eq!(dirs.len(), 124);
        let mut seen = Vec::new();
        let n = walk_dirs(tmp.path(), &mut |d| {
            seen.push(d.to_path_buf());
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 124);
        seen.sort();
        let mut want = dirs.clone();
        want.sort();
        assert_eq!(seen, want);
        let files = dirs
            .iter()
            .map(|d| {
                fs::read_dir(d)
                    .unwrap()
                    .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_file())
                    .count()
            })
            .sum::<usize>();
        assert_eq!(files, 50);
    }

    #[test]
    fn cached_tree_is_made_once_and_remade_when_incomplete() {
        let cache = TempDir::new("cache-test").unwrap();
        let point = Point::new(12, 3);
        let root = cached_tree(cache.path(), point).unwrap();
        let count = |root: &Path| walk_dirs(root, &mut |_| Ok(())).unwrap();
        assert_eq!(count(&root), 13);
        assert_eq!(fs::read_dir(root.join("d0")).unwrap().count(), 3 + 2);
        // Reused as it is: a stray entry survives.
        fs::create_dir(root.join("stray")).unwrap();
        assert_eq!(cached_tree(cache.path(), point).unwrap(), root);
        assert!(root.join("stray").is_dir());
        // Without its marker, the tree is made afresh.
        fs::remove_file(cache.path().join("12x3.complete")).unwrap();
        cached_tree(cache.path(), point).unwrap();
        assert!(!root.join("stray").exists());
        assert_eq!(count(&root), 13);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let tmp = TempDir::new("drop-test").unwrap();
        let path = tmp.path().to_path_buf();
        flat_dirs(&path, 3).unwrap();
        assert!(path.join("d000002").is_dir());
        drop(tmp);
        assert!(!path.exists());
    }
}
