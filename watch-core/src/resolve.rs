//! Following a user's path by name through symlink chains, recording every
//! (directory, name) lookup so that a backend can watch exactly the
//! directories whose changes could change what the path means.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use crate::snapshot::{Entry, SharedPath};

/// How a user path resolves, name by name. Each directory is a
/// [`SharedPath`]: one directory's path is one allocation, shared by every
/// lookup in it, by the links that watch it and by their watches' roles
/// (a directory other roots already follow comes with the path they hold).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Every (directory, name) looked up, in order. Watching these directories
    /// for these names is enough to notice any change of what the path means.
    pub(crate) consulted: Vec<(SharedPath, OsString)>,
    /// What the path leads to (symlinks followed), if it exists.
    pub(crate) target: Option<Entry>,
    /// Every real directory the lookup went through (not the `/` or `.` it
    /// started from, which no rename can replace), with its (device,
    /// inode), in order. Renaming one of them away, or replacing it, changes
    /// what the path means; a backend watches them for that and re-arms a
    /// watch whose directory is no longer the one at its path.
    pub(crate) walked: Vec<(SharedPath, DirId)>,
}

/// A directory's (device, inode).
pub(crate) type DirId = (u64, u64);

/// Whether two directory paths recorded by lookups ([`Resolved::consulted`],
/// [`Resolved::walked`], or a link made from them) are the same path. A
/// lookup builds every path it records the same way (from `/` or `.`, one
/// name pushed at a time, `..` by cutting the last name), so the same
/// path is always the same bytes: compared as bytes, without the parsing
/// into components that comparing `Path`s costs (that showed in every
/// `watch`).
pub(crate) fn same_dir(a: &Path, b: &Path) -> bool {
    // Mostly the same allocation (a lookup's directories are shared).
    std::ptr::eq(a, b) || a.as_os_str() == b.as_os_str()
}

#[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
impl Resolved {
    /// The directories to watch, without duplicates, in lookup order.
    pub(crate) fn dirs(&self) -> impl Iterator<Item = &SharedPath> + Clone + '_ {
        let consulted = &self.consulted;
        consulted
            .iter()
            .enumerate()
            .filter(|&(i, (dir, _))| !consulted[..i].iter().any(|(d, _)| same_dir(d, dir)))
            .map(|(_, (dir, _))| dir)
    }

    /// Whether a change of `name` in `dir` may change what the path means.
    pub(crate) fn depends_on(&self, dir: &Path, name: &OsStr) -> bool {
        self.consulted.iter().any(|(d, n)| **d == *dir && n == name)
    }

    /// The (device, inode) the lookup found at `dir`, if it went through it
    /// (`None` for the `/` or `.` it started from).
    pub(crate) fn id_of(&self, dir: &Path) -> Option<DirId> {
        self.walked
            .iter()
            .rev()
            .find(|(d, _)| same_dir(d, dir))
            .map(|(_, id)| *id)
    }

    /// The directories walked through that are not [`Resolved::dirs`]: their
    /// entries do not matter, only that they stay where they are. Without
    /// duplicates, in lookup order.
    pub(crate) fn ancestors(&self) -> impl Iterator<Item = &SharedPath> + Clone + '_ {
        let walked = &self.walked;
        walked
            .iter()
            .enumerate()
            .filter(|&(i, (dir, _))| {
                !self.consulted.iter().any(|(d, _)| same_dir(d, dir))
                    && !walked[..i].iter().any(|(d, _)| same_dir(d, dir))
            })
            .map(|(_, (dir, _))| dir)
    }

    /// The directory and name of the final (non-symlink) lookup.
    pub(crate) fn last(&self) -> Option<(&Path, &OsStr)> {
        self.consulted.last().map(|(d, n)| (&**d, n.as_os_str()))
    }
}

/// Follows `path` by name, component by component with `lstat`, following
/// symlinks (relative ones from the directory holding them), and records
/// the lookups whose change could change what the path means: every
/// symlink (anywhere along the path), everything reached through a relative
/// symlink (the Kubernetes ConfigMap `..data` layout), the final name, and
/// the first missing name (so a path that does not exist yet is watched
/// from its nearest existing ancestor). The real directories leading to
/// the path are not consulted names (watching every entry of `/` and
/// `/home` for every watched file would flood the queue), but they are
/// recorded in [`Resolved::walked`] with their identity, so that a backend
/// can watch just for one of them being renamed or deleted.
pub(crate) fn resolve(path: &Path) -> Resolved {
    lookup(path, &|_| None, None, Resolved::default())
}

/// [`resolve`], taking the identity of a real directory from `known`
/// instead of an `lstat` while every directory before it was known too:
/// `known` names directories that are watched for being renamed, deleted
/// or replaced (so a change there is queued as an event, and handling it
/// resolves again), with the path it holds for each (then recorded as
/// it is, without a copy). Only directories walked through are taken from
/// it; the final name, symlinks and names reached through a relative
/// symlink are always looked up.
#[cfg(test)]
pub(crate) fn resolve_known(
    path: &Path,
    known: &dyn Fn(&Path) -> Option<(SharedPath, DirId)>,
) -> Resolved {
    lookup(path, known, None, Resolved::default())
}

/// [`resolve_known`] for a root about to be listed: where the final name
/// is a real directory, it is opened (`O_DIRECTORY | O_NOFOLLOW`) instead
/// of looked up with `lstat`, its entry is the `fstat` of what was opened,
/// and that directory is returned with the lookup, to be listed from
/// there. A symlink or anything else there, or an opening that fails
/// (a directory without read permission), is looked up as `resolve_known`
/// does. (Kernel backends on Linux; elsewhere, `resolve_known`.)
/// The lookup is recorded into `into`'s vectors (emptied first), so that
/// their allocations are used again.
pub(crate) fn resolve_open(
    path: &Path,
    known: &dyn Fn(&Path) -> Option<(SharedPath, DirId)>,
    into: Resolved,
) -> (Resolved, Option<fs::File>) {
    let mut opened = None;
    let resolved = lookup(path, known, Some(&mut opened), into);
    (resolved, opened)
}

/// The lookup of [`resolve_known`], and [`resolve_open`]'s when `opened`
/// is given, recorded into `into` (emptied first). The path of each name
/// looked up is built in a buffer the thread keeps (every `watch` looks
/// a path up: one allocation fewer each time).
fn lookup(
    path: &Path,
    known: &dyn Fn(&Path) -> Option<(SharedPath, DirId)>,
    opened: Option<&mut Option<fs::File>>,
    into: Resolved,
) -> Resolved {
    thread_local! {
        static HERE: RefCell<PathBuf> = RefCell::new(PathBuf::new());
    }
    HERE.with(|here| match here.try_borrow_mut() {
        Ok(mut here) => walk(path, known, opened, into, &mut here),
        // Not reached (a lookup does not start another), but harmless.
        Err(_) => walk(path, known, opened, into, &mut PathBuf::new()),
    })
}

/// [`lookup`], with `here` the buffer for each name's path.
fn walk(
    path: &Path,
    known: &dyn Fn(&Path) -> Option<(SharedPath, DirId)>,
    #[cfg_attr(not(linux_kernel), allow(unused_variables, unused_mut))] mut opened: Option<
        &mut Option<fs::File>,
    >,
    mut resolved: Resolved,
    here: &mut PathBuf,
) -> Resolved {
    // Where a lookup starts: one allocation each for the whole process.
    static ROOT: LazyLock<SharedPath> = LazyLock::new(|| Path::new("/").into());
    static CURRENT: LazyLock<SharedPath> = LazyLock::new(|| Path::new(".").into());
    const MAX_HOPS: usize = 40; // like the kernel's MAXSYMLINKS
    resolved.consulted.clear();
    resolved.walked.clear();
    resolved.target = None;
    if components(path).next_back().is_none_or(|last| last == "..") {
        // "/", "..", "a/..": nothing to follow by name.
        resolved.target = fs::metadata(path)
            .ok()
            .map(|m| Entry::from_metadata(&m, None));
        return resolved;
    }
    // `dir` is the directory the next name is looked up in (as recorded:
    // a step into it costs no copy), `here` that name's path.
    let mut dir = if path.as_os_str().as_encoded_bytes().starts_with(b"/") {
        ROOT.clone()
    } else {
        CURRENT.clone()
    };
    // The names of `path` itself, borrowed; names met in symlink targets
    // (each with: reached through a relative symlink) go into `queue`,
    // ahead of the rest of `path`.
    let mut names = components(path).peekable();
    let mut queue: VecDeque<(OsString, bool)> = VecDeque::new();
    let mut hops = 0;
    // Every directory walked so far came from `known`.
    let mut all_known = true;
    loop {
        let (name, local) = match queue.pop_front() {
            Some((name, local)) => (Cow::Owned(name), local),
            None => match names.next() {
                Some(name) => (Cow::Borrowed(name), false),
                None => break,
            },
        };
        if *name == *OsStr::new("..") {
            dir = parent_dir(&dir).into();
            all_known = false;
            continue;
        }
        // `dir` joined with the name, as `PathBuf::push` joins them (the
        // name is one name, never empty), without its parsing.
        let buf = here.as_mut_os_string();
        buf.clear();
        buf.push(dir.as_os_str());
        if !dir.as_os_str().as_encoded_bytes().ends_with(b"/") {
            buf.push("/");
        }
        buf.push(&*name);
        let last = queue.is_empty() && names.peek().is_none();
        if all_known
            && !(local || last)
            && let Some((shared, id)) = known(here)
        {
            resolved.walked.push((shared.clone(), id));
            dir = shared;
            continue;
        }
        all_known = false;
        #[cfg(linux_kernel)]
        if last
            && let Some(opened) = opened.take()
            && let Ok(file) = inotify::open_dir_nofollow(here.as_path())
            && let Ok(meta) = file.metadata()
        {
            // A real directory: the final name's lookup, and the one that
            // is listed.
            resolved.consulted.push((dir, name.into_owned()));
            resolved.target = Some(Entry::from_metadata(&meta, None));
            *opened = Some(file);
            return resolved;
        }
        let meta = fs::symlink_metadata(&*here);
        let is_link = meta.as_ref().is_ok_and(|m| m.file_type().is_symlink());
        if local || last || is_link || meta.is_err() {
            resolved.consulted.push((dir.clone(), name.into_owned()));
        }
        let Ok(meta) = meta else { return resolved };
        if is_link {
            hops += 1;
            let Ok(target) = fs::read_link(&*here) else {
                return resolved;
            };
            if hops > MAX_HOPS {
                return resolved;
            }
            let relative = !target.is_absolute();
            if !relative {
                dir = ROOT.clone();
            }
            let parts: Vec<&OsStr> = components(&target).collect();
            for part in parts.into_iter().rev() {
                queue.push_front((part.to_os_string(), relative));
            }
        } else if last {
            resolved.target = Some(Entry::from_metadata(&meta, None));
        } else if meta.is_dir() {
            use std::os::unix::fs::MetadataExt;
            let shared = SharedPath::from(here.as_path());
            resolved
                .walked
                .push((shared.clone(), (meta.dev(), meta.ino())));
            dir = shared;
        } else {
            return resolved; // a file used as a directory
        }
    }
    resolved
}

/// The names of `path` to look up in turn (`..` kept, `.` and `/`
/// dropped): what `Path::components` yields but the root and `.`, split
/// as bytes (parsing components cost more than the rest of a lookup
/// that finds its directories known).
fn components(path: &Path) -> impl DoubleEndedIterator<Item = &OsStr> + '_ {
    path.as_os_str()
        .as_encoded_bytes()
        .split(|&b| b == b'/')
        .filter(|name| !name.is_empty() && *name != b".")
        // On Unix any bytes are an `OsStr`.
        .map(OsStr::from_bytes)
}

/// The parent of a directory reached by real lookups (so `..` is physical).
fn parent_dir(dir: &Path) -> PathBuf {
    if dir == Path::new("/") {
        dir.to_path_buf()
    } else if dir.file_name().is_some() {
        dir.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else {
        dir.join("..") // "." or a run of ".."
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use test_support::TempDir;

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
        let t = TempDir::new("cm");
        let cm = t.join("cm");
        fs::create_dir_all(cm.join("..2024_1")).unwrap();
        fs::write(cm.join("..2024_1/app.yaml"), b"v1").unwrap();
        symlink("..2024_1", cm.join("..data")).unwrap();
        symlink("..data/app.yaml", cm.join("app.yaml")).unwrap();
        let r = resolve(&cm.join("app.yaml"));
        let base = t.path();
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
        assert_eq!(
            r.dirs().map(|d| &**d).collect::<Vec<_>>(),
            [cm.as_path(), cm.join("..2024_1").as_path()]
        );
        assert_eq!(
            r.last(),
            Some((cm.join("..2024_1").as_path(), OsStr::new("app.yaml")))
        );
        assert!(r.target.as_ref().is_some_and(|e| !e.is_dir()));
        assert!(r.depends_on(&cm, OsStr::new("..data")));
        // Walked through: the real directories, with their identity.
        let walked: Vec<&Path> = r.walked.iter().map(|(d, _)| &**d).collect();
        assert!(walked.ends_with(&[cm.as_path(), cm.join("..2024_1").as_path()]));
        assert_eq!(r.ancestors().last().map(|d| &**d), Some(t.path()));
        assert!(!r.ancestors().any(|d| **d == *cm));
        assert!(!r.depends_on(&cm, OsStr::new("..data_tmp")));
    }

    #[test]
    fn a_symlink_in_the_parent_path_is_consulted_but_real_ancestors_are_not() {
        let t = TempDir::new("parent");
        fs::create_dir(t.join("d1")).unwrap();
        fs::write(t.join("d1/f"), b"x").unwrap();
        symlink("d1", t.join("link")).unwrap();
        let r = resolve(&t.join("link/f"));
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            pairs(&r, t.path()),
            [s("", "link"), s("", "d1"), s("d1", "f")]
        );
        assert!(r.target.is_some());
    }

    #[test]
    fn every_real_directory_walked_is_recorded_with_its_identity() {
        use std::os::unix::fs::MetadataExt;
        let t = TempDir::new("walked");
        fs::create_dir_all(t.join("a/b/c")).unwrap();
        fs::write(t.join("a/b/c/f"), b"x").unwrap();
        let r = resolve(&t.join("a/b/c/f"));
        let id = |p: &Path| {
            let m = fs::metadata(p).unwrap();
            (m.dev(), m.ino())
        };
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(r.id_of(&t.join(d)), Some(id(&t.join(d))), "{d}");
        }
        assert_eq!(
            r.dirs().map(|d| &**d).collect::<Vec<_>>(),
            [t.join("a/b/c").as_path()]
        );
        let ancestors: Vec<&Path> = r.ancestors().map(|d| &**d).collect();
        assert!(ancestors.ends_with(&[t.path(), &t.join("a"), &t.join("a/b")]));
        assert!(r.id_of(Path::new("/")).is_none());
        // Replaced by another directory: another identity at the same path.
        fs::rename(t.join("a/b"), t.join("a/b.old")).unwrap();
        fs::create_dir_all(t.join("a/b/c")).unwrap();
        let again = resolve(&t.join("a/b/c/f"));
        assert_ne!(again.id_of(&t.join("a/b")), r.id_of(&t.join("a/b")));
        assert!(again.target.is_none());
    }

    #[test]
    fn known_directories_are_taken_as_known_only_up_to_the_first_lookup() {
        let t = TempDir::new("known");
        fs::create_dir_all(t.join("a/b")).unwrap();
        fs::write(t.join("a/b/f"), b"x").unwrap();
        symlink("b", t.join("a/link")).unwrap();
        // Every real directory claims a made-up identity: only those walked
        // before any real lookup get it.
        let fake = (u64::MAX, 7);
        let known = |d: &Path| {
            fs::symlink_metadata(d)
                .is_ok_and(|m| m.is_dir())
                .then(|| (SharedPath::from(d), fake))
        };
        let r = resolve_known(&t.join("a/b/f"), &known);
        assert!(r.walked.iter().all(|(_, id)| *id == fake), "{r:?}");
        assert_eq!(
            r.walked.last().map(|(d, _)| d.to_path_buf()),
            Some(t.join("a/b"))
        );
        // The final name is always looked up.
        assert!(r.target.as_ref().is_some_and(|e| !e.is_dir()));
        assert_eq!(r.consulted, resolve(&t.join("a/b/f")).consulted);
        // Through a symlink: what is reached through it is looked up.
        let r = resolve_known(&t.join("a/link/f"), &known);
        let real = resolve(&t.join("a/link/f"));
        assert_eq!(r.consulted, real.consulted);
        assert_eq!(r.id_of(&t.join("a/b")), real.id_of(&t.join("a/b")));
        assert_ne!(r.id_of(&t.join("a/b")), Some(fake));
        // Unknown directories are looked up, and so is everything after.
        let only_top =
            |d: &Path| (d == t.path().parent().unwrap()).then(|| (SharedPath::from(d), fake));
        let r = resolve_known(&t.join("a/b/f"), &only_top);
        let real = resolve(&t.join("a/b/f"));
        assert_eq!(
            (&*r.walked[0].0, r.walked[0].1),
            (t.path().parent().unwrap(), fake)
        );
        assert_eq!(r.walked[1..], real.walked[1..]);
    }

    #[test]
    fn a_known_directory_is_recorded_with_the_path_it_came_with() {
        use std::sync::Arc;
        let t = TempDir::new("known-shared");
        fs::create_dir_all(t.join("a")).unwrap();
        let held = SharedPath::from(t.path());
        let known = |d: &Path| {
            use std::os::unix::fs::MetadataExt;
            let m = fs::metadata(d).ok()?;
            let id = (m.dev(), m.ino());
            Some(if d == &*held {
                (held.clone(), id)
            } else {
                (d.into(), id)
            })
        };
        let r = resolve_known(&t.join("a/f"), &known);
        // Walked through it, and the final name looked up in its child:
        // the directory's path is the one held, not a copy.
        assert!(r.walked.iter().any(|(d, _)| Arc::ptr_eq(d, &held)), "{r:?}");
        let (dir, name) = r.consulted.last().unwrap();
        assert_eq!(
            (&**dir, name.as_os_str()),
            (t.join("a").as_path(), OsStr::new("f"))
        );
        assert!(Arc::ptr_eq(dir, &r.walked.last().unwrap().0));
    }

    #[test]
    fn the_names_looked_up_are_the_paths_components_but_root_and_dot() {
        use std::path::Component;
        for path in [
            "/",
            "//",
            ".",
            "./",
            "",
            "a",
            "/a/b",
            "a//b/",
            "./a/./b/.",
            "../a/..",
            "/..",
            "a/.b",
            "a/b./c",
            "...",
            "/a/ b",
        ] {
            let want: Vec<&OsStr> = Path::new(path)
                .components()
                .filter_map(|c| match c {
                    Component::ParentDir => Some(OsStr::new("..")),
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect();
            assert_eq!(
                components(Path::new(path)).collect::<Vec<_>>(),
                want,
                "{path:?}"
            );
            let nothing_named = Path::new(path).file_name().is_none();
            let last = components(Path::new(path)).next_back();
            assert_eq!(last.is_none_or(|l| l == ".."), nothing_named, "{path:?}");
        }
    }

    #[test]
    fn a_missing_path_is_followed_from_its_nearest_existing_ancestor() {
        let t = TempDir::new("missing");
        let r = resolve(&t.join("a/b/file"));
        assert_eq!(pairs(&r, t.path()), [(String::new(), "a".to_owned())]);
        assert!(r.target.is_none());
    }

    #[test]
    fn a_symlink_loop_ends_as_missing() {
        let t = TempDir::new("loop");
        symlink("b", t.join("a")).unwrap();
        symlink("a", t.join("b")).unwrap();
        let r = resolve(&t.join("a"));
        assert!(r.target.is_none());
        assert!(r.consulted.len() > 2 && r.consulted.len() < 100);
    }
}
