//! Temp directories.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory under the system temp dir, removed with its contents
/// on drop. Its path is canonical, so that paths reported by a watcher or
/// printed by a program run in it compare equal to paths built from it.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates an empty `<temp>/<tag>-<pid>-<n>`; `n` counts the directories
    /// made by this process, so two never share one. Panics when it cannot
    /// (for tests; see [`TempDir::try_new`]).
    pub fn new(tag: &str) -> TempDir {
        TempDir::try_new(tag).unwrap_or_else(|e| panic!("create temp dir for {tag}: {e}"))
    }

    /// Like [`TempDir::new`], returning the error instead.
    pub fn try_new(tag: &str) -> io::Result<TempDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)?;
        Ok(TempDir(fs::canonicalize(&path)?))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `name` below the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `contents` to `relative`, creating parent directories.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.0.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent directories");
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort; a directory a test made unreadable needs its
        // permissions back first.
        if fs::remove_dir_all(&self.0).is_err() {
            make_writable(&self.0);
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Restores owner permissions on every directory below `path` (itself
/// included), so that cleanup works after a test's `chmod 000`.
pub fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::symlink_metadata(path)
        && meta.is_dir()
    {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
        if let Ok(entries) = fs::read_dir(path) {
            for entry in entries.flatten() {
                make_writable(&entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_dirs_differ_and_go_away_even_when_unreadable() {
        use std::os::unix::fs::PermissionsExt;
        let a = TempDir::new("test-support-temp");
        let b = TempDir::new("test-support-temp");
        assert_ne!(a.path(), b.path());
        assert_eq!(a.path(), fs::canonicalize(a.path()).unwrap());
        a.write("x/y/z.txt", "z");
        assert_eq!(fs::read_to_string(a.join("x/y/z.txt")).unwrap(), "z");
        fs::set_permissions(a.join("x"), fs::Permissions::from_mode(0o000)).unwrap();
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
