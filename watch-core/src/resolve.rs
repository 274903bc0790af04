//! Following a user's path by name through symlink chains, recording every
//! (directory, name) lookup so that a backend can watch exactly the
//! directories whose changes could change what the path means.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::snapshot::Entry;

/// How a user path resolves, name by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Every (directory, name) looked up, in order. Watching these directories
    /// for these names is enough to notice any change of what the path means.
    pub(crate) consulted: Vec<(PathBuf, OsString)>,
    /// What the path leads to (symlinks followed), if it exists.
    pub(crate) target: Option<Entry>,
}

#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
impl Resolved {
    /// The directories to watch, without duplicates, in lookup order.
    pub(crate) fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::new();
        for (dir, _) in &self.consulted {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Whether a change of `name` in `dir` may change what the path means.
    pub(crate) fn depends_on(&self, dir: &Path, name: &OsStr) -> bool {
        self.consulted.iter().any(|(d, n)| d == dir && n == name)
    }

    /// The directory and name of the final (non-symlink) lookup.
    pub(crate) fn last(&self) -> Option<(&Path, &OsStr)> {
        self.consulted
            .last()
            .map(|(d, n)| (d.as_path(), n.as_os_str()))
    }
}

/// Follows `path` by name: starting at the nearest existing ancestor
/// directory of its parent, looks up each remaining name with `lstat`,
/// following symlinks (relative ones from the directory holding them), and
/// records every lookup. This is what makes atomic saves, re-creation and
/// symlink swaps (Kubernetes ConfigMaps) visible: they change one of the
/// consulted names.
pub(crate) fn resolve(path: &Path) -> Resolved {
    const MAX_HOPS: usize = 40; // like the kernel's MAXSYMLINKS
    let mut resolved = Resolved::default();
    let Some(name) = path.file_name() else {
        // "/", "..", "a/..": nothing to follow by name.
        resolved.target = fs::metadata(path)
            .ok()
            .map(|m| Entry::from_metadata(&m, None));
        return resolved;
    };
    let mut names: Vec<OsString> = vec![name.to_os_string()];
    let mut dir = parent_or_dot(path);
    while !dir.is_dir() {
        match (dir.file_name(), dir.parent()) {
            (Some(n), Some(_)) => {
                names.push(n.to_os_string());
                dir = parent_or_dot(&dir);
            }
            _ => return resolved, // not even "/" or "." is a directory
        }
    }
    names.reverse();
    let mut queue: std::collections::VecDeque<OsString> = names.into();
    let mut hops = 0;
    while let Some(name) = queue.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            dir = parent_or_dot(&dir);
            continue;
        }
        resolved.consulted.push((dir.clone(), name.clone()));
        let here = dir.join(&name);
        let Ok(meta) = fs::symlink_metadata(&here) else {
            return resolved;
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            let Ok(target) = fs::read_link(&here) else {
                return resolved;
            };
            if hops > MAX_HOPS {
                return resolved;
            }
            let mut parts: Vec<OsString> = Vec::new();
            for c in target.components() {
                match c {
                    Component::RootDir => dir = PathBuf::from("/"),
                    Component::Prefix(_) => {}
                    Component::CurDir => {}
                    Component::ParentDir => parts.push(OsString::from("..")),
                    Component::Normal(n) => parts.push(n.to_os_string()),
                }
            }
            for part in parts.into_iter().rev() {
                queue.push_front(part);
            }
        } else if queue.is_empty() {
            resolved.target = Some(Entry::from_metadata(&meta, None));
        } else if meta.is_dir() {
            dir = here;
        } else {
            return resolved; // a file used as a directory
        }
    }
    resolved
}

fn parent_or_dot(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p = std::env::temp_dir()
                .join(format!("watch-core-resolve-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn pairs(r: &Resolved, base: &Path) -> Vec<(String, String)> {
        r.consulted
            .iter()
            .map(|(d, n)| {
                let d = d.strip_prefix(base).unwrap_or(d).display().to_string();
                (d, n.to_string_lossy().into_owned())
            })
            .collect()
    }

    #[test]
    fn configmap_chain_consults_every_link_and_the_final_directory() {
        let t = Tmp::new("cm");
        let cm = t.0.join("cm");
        fs::create_dir_all(cm.join("..2024_1")).unwrap();
        fs::write(cm.join("..2024_1/app.yaml"), b"v1").unwrap();
        symlink("..2024_1", cm.join("..data")).unwrap();
        symlink("..data/app.yaml", cm.join("app.yaml")).unwrap();
        let r = resolve(&cm.join("app.yaml"));
        let base = t.0.as_path();
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            pairs(&r, base),
            [
                s("cm", "app.yaml"),
                s("cm", "..data"),
                s("cm", "..2024_1"),
                s("cm/..2024_1", "app.yaml")
            ]
        );
        assert_eq!(r.dirs(), [cm.as_path(), cm.join("..2024_1").as_path()]);
        assert_eq!(
            r.last(),
            Some((cm.join("..2024_1").as_path(), OsStr::new("app.yaml")))
        );
        assert!(r.target.as_ref().is_some_and(|e| !e.is_dir()));
        assert!(r.depends_on(&cm, OsStr::new("..data")));
        assert!(!r.depends_on(&cm, OsStr::new("..data_tmp")));
    }

    #[test]
    fn a_missing_path_is_followed_from_its_nearest_existing_ancestor() {
        let t = Tmp::new("missing");
        let r = resolve(&t.0.join("a/b/file"));
        assert_eq!(pairs(&r, &t.0), [(String::new(), "a".to_owned())]);
        assert!(r.target.is_none());
    }

    #[test]
    fn a_symlink_loop_ends_as_missing() {
        let t = Tmp::new("loop");
        symlink("b", t.0.join("a")).unwrap();
        symlink("a", t.0.join("b")).unwrap();
        let r = resolve(&t.0.join("a"));
        assert!(r.target.is_none());
        assert!(r.consulted.len() > 2 && r.consulted.len() < 100);
    }
}
