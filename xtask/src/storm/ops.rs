//! The storm itself: a seeded mix of operations on the tree, and what it
//! did, to pick targets without scanning.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tree::Rng;

use super::output::rejoin;
use super::{MAX_DIRS, MAX_FILES};

/// The last write of a file.
pub(super) struct Write {
    pub(super) at: Instant,
}

/// A file (or symlink) the storm made or knows.
pub(super) struct File {
    pub(super) path: PathBuf,
    /// `None` for symlinks and for files not written during the storm.
    pub(super) write: Option<Write>,
}

/// What the storm did to the tree, to pick targets without scanning.
pub(super) struct Storm {
    pub(super) root: PathBuf,
    outside: PathBuf,
    rng: Rng,
    dirs: Vec<PathBuf>,
    pub(super) files: Vec<File>,
    serial: u64,
}

impl Storm {
    pub(super) fn new(root: &Path, outside: &Path, seed: u64) -> Storm {
        Storm {
            root: root.to_path_buf(),
            outside: outside.to_path_buf(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            dirs: vec![root.to_path_buf()],
            files: Vec::new(),
            serial: 0,
        }
    }

    /// A starting tree with some depth, before the watches.
    pub(super) fn seed_tree(&mut self) {
        for i in 0..20 {
            let dir = self.root.join(format!("seed{i}"));
            if fs::create_dir(&dir).is_ok() {
                self.dirs.push(dir.clone());
                let file = dir.join("file");
                if fs::write(&file, b"seed").is_ok() {
                    self.files.push(File {
                        path: file,
                        write: None,
                    });
                }
            }
        }
        for name in ["burst-a", "burst-b"] {
            let _ = fs::write(self.root.join(name), b"");
        }
    }

    pub(super) fn name(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}", self.serial)
    }

    fn any_dir(&mut self) -> PathBuf {
        let i = self.rng.below(self.dirs.len());
        self.dirs[i].clone()
    }

    fn any_file(&mut self) -> Option<usize> {
        (!self.files.is_empty()).then(|| self.rng.below(self.files.len()))
    }

    fn wrote(&mut self, path: &Path) {
        let write = Some(Write { at: Instant::now() });
        match self.files.iter_mut().find(|f| f.path == path) {
            Some(file) => file.write = write,
            None => self.files.push(File {
                path: path.to_path_buf(),
                write,
            }),
        }
    }

    fn write_file(&mut self, path: &Path, append: bool) {
        let done = if append {
            fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut h| std::io::Write::write_all(&mut h, b"+"))
        } else {
            fs::write(path, b"storm")
        };
        if done.is_ok() {
            self.wrote(path);
        }
    }

    /// Forgets `path` and everything below it.
    fn forget(&mut self, path: &Path) {
        self.dirs.retain(|p| !p.starts_with(path));
        self.files.retain(|f| !f.path.starts_with(path));
    }

    /// Re-paths everything below `from` to below `to` (what was at `to` is
    /// replaced).
    fn repath(&mut self, from: &Path, to: &Path) {
        self.files.retain(|f| f.path != to);
        self.dirs.retain(|p| p != to);
        for p in self.dirs.iter_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = rejoin(to, rest);
            }
        }
        for f in self.files.iter_mut() {
            if let Ok(rest) = f.path.strip_prefix(from) {
                f.path = rejoin(to, rest);
            }
        }
    }

    pub(super) fn rename(&mut self, from: &Path, to: &Path) -> bool {
        if fs::rename(from, to).is_ok() {
            self.repath(from, to);
            true
        } else {
            false
        }
    }

    /// One operation from the bounded mix. Failures (a racing choice) are
    /// fine: the output must report whatever really happened.
    pub(super) fn step(&mut self) {
        let full_files = self.files.len() >= MAX_FILES;
        let full_dirs = self.dirs.len() >= MAX_DIRS;
        let roll = self.rng.below(100);
        match roll {
            0..18 if !full_files => {
                let p = self.any_dir().join(self.name("f"));
                self.write_file(&p, false);
            }
            0..36 if !self.files.is_empty() => {
                if let Some(i) = self.any_file() {
                    let p = self.files[i].path.clone();
                    if self.files[i].write.is_some() || !is_symlink(&p) {
                        self.write_file(&p, true);
                    }
                }
            }
            36..40 => {
                if let Some(i) = self.any_file() {
                    let mode = 0o600 | (self.rng.below(8) as u32) << 3;
                    let _ =
                        fs::set_permissions(&self.files[i].path, fs::Permissions::from_mode(mode));
                }
            }
            40..48 => {
                if let Some(i) = self.any_file() {
                    let f = self.files.swap_remove(i);
                    let _ = fs::remove_file(f.path);
                }
            }
            48..56 => {
                // A file renamed, sometimes over another file.
                if let Some(i) = self.any_file() {
                    let from = self.files[i].path.clone();
                    let to = match self.any_file() {
                        Some(j) if self.rng.below(3) == 0 => self.files[j].path.clone(),
                        _ => self.any_dir().join(self.name("r")),
                    };
                    if from != to {
                        self.rename(&from, &to);
                    }
                }
            }
            56..59 => {
                // a -> b -> c
                if let Some(i) = self.any_file() {
                    let a = self.files[i].path.clone();
                    let b = self.any_dir().join(self.name("b"));
                    let c = self.any_dir().join(self.name("c"));
                    if self.rename(&a, &b) {
                        self.rename(&b, &c);
                    }
                }
            }
            59..64 if !full_files => {
                // Atomic save over an existing file.
                if let Some(i) = self.any_file() {
                    let target = self.files[i].path.clone();
                    if let Some(dir) = target.parent() {
                        let tmp = dir.join(format!(".{}.tmp", self.name("s")));
                        self.write_file(&tmp, false);
                        self.rename(&tmp, &target);
                    }
                }
            }
            64..69 if !full_dirs => {
                let p = self.any_dir().join(self.name("d"));
                if fs::create_dir(&p).is_ok() {
                    self.dirs.push(p);
                }
            }
            69..72 if !full_dirs && !full_files => {
                // mkdir -p a/b/c && echo > a/b/c/f
                let top = self.any_dir().join(self.name("p"));
                let deep = top.join("b").join("c");
                if fs::create_dir_all(&deep).is_ok() {
                    self.dirs.extend([top.clone(), top.join("b"), deep.clone()]);
                    self.write_file(&deep.join("f"), false);
                }
            }
            72..75 if !full_dirs && !full_files => {
                // A directory created, filled and renamed at once.
                let a = self.any_dir().join(self.name("n"));
                if fs::create_dir_all(a.join("b")).is_ok() {
                    self.dirs.extend([a.clone(), a.join("b")]);
                    self.write_file(&a.join("b").join("f"), false);
                    let c = self.any_dir().join(self.name("m"));
                    if !c.starts_with(&a) {
                        self.rename(&a, &c);
                    }
                }
            }
            75..80 if self.dirs.len() > 1 => {
                // A directory renamed, sometimes over an empty directory.
                let i = 1 + self.rng.below(self.dirs.len() - 1);
                let from = self.dirs[i].clone();
                let to = if self.rng.below(4) == 0 {
                    let empty = self.any_dir().join(self.name("e"));
                    if fs::create_dir(&empty).is_ok() {
                        self.dirs.push(empty.clone());
                    }
                    empty
                } else {
                    self.any_dir().join(self.name("m"))
                };
                if !to.starts_with(&from) {
                    self.rename(&from, &to);
                }
            }
            80 if self.dirs.len() > 1 => {
                let i = 1 + self.rng.below(self.dirs.len() - 1);
                let victim = self.dirs[i].clone();
                if fs::remove_dir_all(&victim).is_ok() {
                    self.forget(&victim);
                }
            }
            82..87 if !full_files && !full_dirs => {
                // Moved in from outside: a file (sometimes over another) or
                // a filled directory.
                let name = self.name("in");
                let staged = self.outside.join(name);
                if self.rng.below(2) == 0 {
                    if fs::write(&staged, b"in").is_ok() {
                        let to = match self.any_file() {
                            Some(j) if self.rng.below(3) == 0 => self.files[j].path.clone(),
                            _ => self.any_dir().join(self.name("i")),
                        };
                        if fs::rename(&staged, &to).is_ok() {
                            self.files.retain(|f| f.path != to);
                            self.wrote(&to);
                        }
                    }
                } else if fs::create_dir_all(staged.join("sub")).is_ok()
                    && fs::write(staged.join("f"), b"f").is_ok()
                    && fs::write(staged.join("sub/g"), b"g").is_ok()
                {
                    let to = self.any_dir().join(self.name("i"));
                    if fs::rename(&staged, &to).is_ok() {
                        self.dirs.extend([to.clone(), to.join("sub")]);
                        self.wrote(&to.join("f"));
                        self.wrote(&to.join("sub/g"));
                    }
                }
            }
            87..92 => {
                // Moved out: a file or a directory.
                let name = self.name("out");
                let out = self.outside.join(name);
                // Mostly files: a directory takes its whole subtree along.
                if self.rng.below(4) != 0 || self.dirs.len() == 1 {
                    if let Some(i) = self.any_file() {
                        let from = self.files[i].path.clone();
                        if fs::rename(&from, &out).is_ok() {
                            self.forget(&from);
                        }
                    }
                } else {
                    let i = 1 + self.rng.below(self.dirs.len() - 1);
                    let from = self.dirs[i].clone();
                    if fs::rename(&from, &out).is_ok() {
                        self.forget(&from);
                    }
                }
                let _ = fs::remove_dir_all(&out).or_else(|_| fs::remove_file(&out));
            }
            92..96 if !full_files => {
                let p = self.any_dir().join(self.name("l"));
                if std::os::unix::fs::symlink("target-of-link", &p).is_ok() {
                    self.files.push(File {
                        path: p,
                        write: None,
                    });
                }
            }
            _ if full_dirs && self.dirs.len() > 1 => {
                // Too many directories for the preferred operation: remove
                // one (a subtree).
                let i = 1 + self.rng.below(self.dirs.len() - 1);
                let victim = self.dirs[i].clone();
                if fs::remove_dir_all(&victim).is_ok() {
                    self.forget(&victim);
                }
            }
            _ if full_files => {
                if let Some(f) = self.files.pop() {
                    let _ = fs::remove_file(f.path);
                }
            }
            _ => {
                // The preferred operation is not possible now: a new file.
                let p = self.any_dir().join(self.name("f"));
                self.write_file(&p, false);
            }
        }
    }

    /// `n` chmods of two files in the root (alternating, so the kernel
    /// cannot merge them), with an operation from the mix every 64th.
    pub(super) fn burst(&mut self, n: usize) {
        let targets = [self.root.join("burst-a"), self.root.join("burst-b")];
        for i in 0..n {
            if i % 64 == 63 {
                self.step();
            } else {
                let mode = 0o600 | ((i as u32) & 0o070);
                let _ = fs::set_permissions(&targets[i % 2], fs::Permissions::from_mode(mode));
            }
        }
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink())
}
