//! What the soak and the CLI storm share: a model of a tree (path -> is a
//! directory), a walk of the real one, the kernel queue's size, and a small
//! seeded generator so that a failing run replays.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Path -> is a directory.
pub type Tree = BTreeMap<PathBuf, bool>;

/// Removes `path` and everything below it from `tree`.
pub fn remove_subtree(tree: &mut Tree, path: &Path) {
    // Paths order component-wise, so a subtree is one contiguous run.
    let doomed: Vec<PathBuf> = tree
        .range(path.to_path_buf()..)
        .take_while(|(p, _)| p.starts_with(path))
        .map(|(p, _)| p.clone())
        .collect();
    for p in doomed {
        tree.remove(&p);
    }
}

/// Everything below `root` (root excluded), by lstat, links not followed.
pub fn scan(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                stack.push(path.clone());
            }
            tree.insert(path, is_dir);
        }
    }
    tree
}

/// `fs.inotify.max_queued_events`, or the kernel's default when unreadable.
pub fn max_queued_events() -> usize {
    fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384)
}

/// A small deterministic generator (xorshift64), so a failing run replays.
/// Seed it with an odd number (zero would stay zero).
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_subtree_takes_the_path_and_below_only() {
        let mut tree: Tree = ["a", "a/b", "a/b/c", "ab", "a.x"]
            .iter()
            .map(|p| (PathBuf::from(p), true))
            .collect();
        remove_subtree(&mut tree, Path::new("a"));
        let left: Vec<&Path> = tree.keys().map(PathBuf::as_path).collect();
        assert_eq!(left, [Path::new("a.x"), Path::new("ab")]);
    }

    #[test]
    fn rng_replays_and_stays_in_range() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..1000 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
        assert_eq!(a.below(0), 0);
    }
}
