//! Shared fixtures for the behaviour tests: temp dirs, tree scans, and
//! folding an event stream onto a tree model.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use watch_core::{Backend, Event, EventKind};

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("watch-core-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        // Canonical, so that event paths compare equal to what we build.
        TempDir(fs::canonicalize(&path).expect("canonicalize temp dir"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        make_writable(&self.0);
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Restores owner permissions below `path`, so cleanup works after chmod 000.
pub fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::symlink_metadata(path)
        && meta.is_dir()
    {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
        if let Ok(rd) = fs::read_dir(path) {
            for e in rd.flatten() {
                make_writable(&e.path());
            }
        }
    }
}

/// The backends this build can run.
pub fn backends() -> Vec<Backend> {
    [Backend::Inotify, Backend::Kqueue, Backend::Poll]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

/// Whether permission bits fail to deny us (root, or CAP_DAC_OVERRIDE).
pub fn privileged(scratch: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = scratch.join(".privilege-probe");
    let _ = fs::create_dir(&probe);
    let _ = fs::set_permissions(&probe, fs::Permissions::from_mode(0o000));
    let readable = fs::read_dir(&probe).is_ok();
    let _ = fs::set_permissions(&probe, fs::Permissions::from_mode(0o755));
    let _ = fs::remove_dir(&probe);
    readable
}

/// What the model knows about a path: directory or not.
pub type Tree = BTreeMap<PathBuf, bool>;

/// Everything below `root` (excluded: root itself), by lstat, symlinks not followed.
pub fn scan(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                stack.push(p.clone());
            }
            tree.insert(p, is_dir);
        }
    }
    tree
}

/// Applies events to `tree` as documented in `watch_core::Event`.
pub fn fold(tree: &mut Tree, events: &[Event]) {
    for e in events {
        match &e.kind {
            EventKind::Created => {
                remove_subtree(tree, &e.path);
                tree.insert(e.path.clone(), e.is_dir);
            }
            EventKind::Removed => remove_subtree(tree, &e.path),
            EventKind::Renamed { from } => {
                let moved: Vec<(PathBuf, bool)> = tree
                    .range(from.clone()..)
                    .take_while(|(p, _)| p.starts_with(from))
                    .map(|(p, d)| (p.clone(), *d))
                    .collect();
                remove_subtree(tree, from);
                remove_subtree(tree, &e.path);
                for (p, d) in moved {
                    let rest = p.strip_prefix(from).expect("prefix");
                    let new = if rest.as_os_str().is_empty() {
                        e.path.clone()
                    } else {
                        e.path.join(rest)
                    };
                    tree.insert(new, d);
                }
                if !tree.contains_key(&e.path) {
                    tree.insert(e.path.clone(), e.is_dir);
                }
            }
            _ => {}
        }
    }
}

fn remove_subtree(tree: &mut Tree, path: &Path) {
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
