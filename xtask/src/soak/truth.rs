//! The soak's operations on the tree, and what they did, to pick targets
//! without scanning.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::tree::Rng;

use super::{BURST_FILES, MAX_DIRS, MAX_FILES};

/// What the soak itself did to the tree, to pick targets without scanning.
pub(super) struct Truth {
    root: PathBuf,
    pub(super) dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    serial: u64,
}

impl Truth {
    pub(super) fn new(root: &Path) -> Truth {
        Truth {
            root: root.to_path_buf(),
            dirs: vec![root.to_path_buf()],
            files: Vec::new(),
            serial: 0,
        }
    }

    pub(super) fn name(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}", self.serial)
    }

    fn any_dir(&mut self, rng: &mut Rng) -> PathBuf {
        self.dirs[rng.below(self.dirs.len())].clone()
    }

    pub(super) fn create(&mut self, path: &Path) {
        if fs::write(path, b"soak").is_ok() {
            self.files.push(path.to_path_buf());
        }
    }

    pub(super) fn mkdir(&mut self, path: &Path) {
        if fs::create_dir(path).is_ok() {
            self.dirs.push(path.to_path_buf());
        }
    }

    /// Forgets `path` and everything below it.
    fn forget(&mut self, path: &Path) {
        self.dirs.retain(|p| !p.starts_with(path));
        self.files.retain(|p| !p.starts_with(path));
    }

    /// Re-paths everything below `from` to below `to`.
    fn repath(&mut self, from: &Path, to: &Path) {
        for p in self.dirs.iter_mut().chain(self.files.iter_mut()) {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
    }

    /// One operation from the bounded mix. Failures (a racing choice) are
    /// fine: the watcher must report whatever really happened.
    pub(super) fn step(&mut self, rng: &mut Rng) {
        let full_files = self.files.len() >= MAX_FILES;
        let full_dirs = self.dirs.len() >= MAX_DIRS;
        match rng.below(100) {
            0..25 if !full_files => {
                let p = self.any_dir(rng).join(self.name("f"));
                self.create(&p);
            }
            0..45 if !self.files.is_empty() => {
                let f = self.files[rng.below(self.files.len())].clone();
                let _ = fs::OpenOptions::new()
                    .append(true)
                    .open(&f)
                    .and_then(|mut h| std::io::Write::write_all(&mut h, b"+"));
            }
            45..50 if !self.files.is_empty() => {
                let f = self.files[rng.below(self.files.len())].clone();
                let mode = 0o600 | (rng.below(8) as u32) << 3;
                let _ = fs::set_permissions(&f, fs::Permissions::from_mode(mode));
            }
            50..65 if !self.files.is_empty() => {
                let i = rng.below(self.files.len());
                let to = self.any_dir(rng).join(self.name("r"));
                if fs::rename(&self.files[i], &to).is_ok() {
                    self.files[i] = to;
                }
            }
            65..80 if !self.files.is_empty() => {
                let f = self.files.swap_remove(rng.below(self.files.len()));
                let _ = fs::remove_file(f);
            }
            80..87 if !full_dirs => {
                let p = self.any_dir(rng).join(self.name("d"));
                self.mkdir(&p);
            }
            87..92 if self.dirs.len() > 1 => {
                let from = self.dirs[1 + rng.below(self.dirs.len() - 1)].clone();
                let parent = self.any_dir(rng);
                if !parent.starts_with(&from) {
                    let to = parent.join(self.name("m"));
                    if fs::rename(&from, &to).is_ok() {
                        self.repath(&from, &to);
                    }
                }
            }
            92..95 if self.dirs.len() > 1 || full_dirs || full_files => {
                // Remove a whole subtree (never the root).
                if self.dirs.len() > 1 {
                    let victim = self.dirs[1 + rng.below(self.dirs.len() - 1)].clone();
                    if fs::remove_dir_all(&victim).is_ok() {
                        self.forget(&victim);
                    }
                }
            }
            95..100 if !full_dirs && !full_files => {
                // `mkdir -p a/b/c && touch a/b/c/f`, faster than the watcher.
                let top = self.any_dir(rng).join(self.name("p"));
                let deep = top.join("b").join("c");
                if fs::create_dir_all(&deep).is_ok() {
                    for d in [top.clone(), top.join("b"), deep.clone()] {
                        self.dirs.push(d);
                    }
                    self.create(&deep.join("f"));
                }
            }
            _ => {
                // The preferred operation is not possible now: shrink instead.
                if let Some(f) = self.files.pop() {
                    let _ = fs::remove_file(f);
                }
            }
        }
    }

    /// `n` operations without reading: chmods of two files in the root
    /// (always watched; the kernel cannot merge alternating events), with a
    /// structural change every 64th. Returns `n`.
    pub(super) fn burst(&mut self, rng: &mut Rng, n: usize) -> u64 {
        let targets = [
            self.root.join(BURST_FILES[0]),
            self.root.join(BURST_FILES[1]),
        ];
        for i in 0..n {
            if i % 64 == 63 {
                self.step(rng);
            } else {
                let mode = 0o600 | ((i as u32) & 0o070);
                let _ = fs::set_permissions(&targets[i % 2], fs::Permissions::from_mode(mode));
            }
        }
        n as u64
    }
}
