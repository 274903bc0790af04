//! A model of a directory tree: every path below a root, and whether it is a
//! directory. Tests fold a watcher's events onto it with [`create`],
//! [`remove_subtree`] and [`rename`] (as `watch_core::Event` documents them)
//! and compare the result with a [`scan`] of the real tree.

use std::collections::BTreeMap;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};

/// Path → is a directory.
pub type Tree = BTreeMap<PathBuf, bool>;

/// Everything below `root` (root excluded), by the directory listing's
/// file types: symbolic links are not followed.
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

/// Whether `tree` holds a path strictly below `path`.
pub fn holds_below(tree: &Tree, path: &Path) -> bool {
    tree.range::<Path, _>((Bound::Excluded(path), Bound::Unbounded))
        .next()
        .is_some_and(|(p, _)| p.starts_with(path))
}

/// Removes `path` and everything below it.
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

/// `path` was created: whatever stood there before is gone.
pub fn create(tree: &mut Tree, path: &Path, is_dir: bool) {
    remove_subtree(tree, path);
    tree.insert(path.to_path_buf(), is_dir);
}

/// `from` (with everything below it) was renamed to `to`, replacing what
/// stood there. When the model did not know `from`, `to` still exists
/// afterwards, as `is_dir` says.
pub fn rename(tree: &mut Tree, from: &Path, to: &Path, is_dir: bool) {
    let moved: Vec<(PathBuf, bool)> = tree
        .range(from.to_path_buf()..)
        .take_while(|(p, _)| p.starts_with(from))
        .map(|(p, d)| (p.clone(), *d))
        .collect();
    remove_subtree(tree, from);
    remove_subtree(tree, to);
    for (p, d) in moved {
        let rest = p.strip_prefix(from).unwrap_or(&p);
        let new = if rest.as_os_str().is_empty() {
            to.to_path_buf()
        } else {
            to.join(rest)
        };
        tree.insert(new, d);
    }
    tree.entry(to.to_path_buf()).or_insert(is_dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(paths: &[&str]) -> Tree {
        paths
            .iter()
            .map(|p| (PathBuf::from(p.trim_end_matches('/')), p.ends_with('/')))
            .collect()
    }

    #[test]
    fn holds_below_looks_strictly_below_the_path() {
        let t = tree(&["a/", "a/b/", "ab/", "c/d/"]);
        assert!(holds_below(&t, Path::new("a")));
        assert!(!holds_below(&t, Path::new("a/b")));
        assert!(!holds_below(&t, Path::new("ab")));
        // A path the tree does not hold, with something below it.
        assert!(holds_below(&t, Path::new("c")));
        assert!(!holds_below(&t, Path::new("e")));
    }

    #[test]
    fn remove_subtree_takes_the_path_and_below_only() {
        let mut t = tree(&["a/", "a/b/", "a/b/c/", "ab/", "a.x/"]);
        remove_subtree(&mut t, Path::new("a"));
        assert_eq!(t, tree(&["a.x/", "ab/"]));
    }

    #[test]
    fn rename_moves_the_subtree_and_replaces_the_target() {
        let mut t = tree(&["a/", "a/f", "a/d/", "b/", "b/old"]);
        rename(&mut t, Path::new("a"), Path::new("b"), true);
        assert_eq!(t, tree(&["b/", "b/f", "b/d/"]));
        // An unknown source still leaves the target.
        rename(&mut t, Path::new("nowhere"), Path::new("n"), false);
        assert_eq!(t.get(Path::new("n")), Some(&false));
    }

    #[test]
    fn create_replaces_what_stood_there() {
        let mut t = tree(&["a/", "a/f"]);
        create(&mut t, Path::new("a"), false);
        assert_eq!(t, tree(&["a"]));
    }

    #[test]
    fn scan_lists_below_the_root_without_following_links() {
        let tmp = crate::TempDir::new("test-support-scan");
        tmp.write("d/f", "");
        std::os::unix::fs::symlink(tmp.join("d"), tmp.join("l")).unwrap();
        let t = scan(tmp.path());
        let want: Tree = [("d", true), ("d/f", false), ("l", false)]
            .into_iter()
            .map(|(p, d)| (tmp.join(p), d))
            .collect();
        assert_eq!(t, want);
    }
}
