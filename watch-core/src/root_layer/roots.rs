//! The roots of one watcher, in reusable slots (a slot's index is the id
//! that kernel watches name), found by path in O(1).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::{Emit, Root, Spare, WatchTable};
use crate::fast_hash::FastHash;
use crate::{Config, Error, Event, RecursiveMode};

/// What a removed root leaves for the next one added.
pub(crate) trait Recycle {
    /// Its allocations worth keeping, emptied.
    type Spare;
}

impl<T: WatchTable> Recycle for Root<T> {
    type Spare = (Spare<T>, OsString);
}

/// Roots by id, with an index by path.
pub(crate) struct Roots<R: Recycle> {
    slots: Vec<Option<R>>,
    /// Root path (as [`key`] spells it) -> its slot, so `watch`/`unwatch`
    /// cost the same with one root or ten thousand.
    ids: HashMap<OsString, usize, FastHash>,
    /// Empty slots, reused before the vector grows.
    free: Vec<usize>,
    /// What removed roots left (with their key's buffer), taken by the
    /// next roots added: adding and removing roots in turn then allocates
    /// a few times per root instead of about ten. Never more of them
    /// than [`Roots::free`] slots (each was left by a root whose slot was
    /// freed; each root added takes a free slot, if any, and a spare).
    spares: Vec<R::Spare>,
}

impl<R: Recycle> Default for Roots<R> {
    fn default() -> Self {
        Roots {
            slots: Vec::new(),
            ids: HashMap::default(),
            free: Vec::new(),
            spares: Vec::new(),
        }
    }
}

/// The bytes `path` is kept under: the same for every spelling of one
/// path as `Path` compares them (`a//b`, `a/./b` and `a/b/` are `a/b`),
/// and, for a path already spelled that way (nearly every one), the path
/// itself. Hashing and comparing these bytes costs a fraction of what
/// hashing and comparing a `Path` does (both walk its components).
fn key(path: &Path) -> Cow<'_, OsStr> {
    let bytes = path.as_os_str().as_encoded_bytes();
    // Spelled as its components join: no empty name but a leading `/`'s,
    // no `.` but a leading one (so no `//`, no `/./`, no trailing `/` or
    // `/.`). One pass, looking back from each `/` and from the end.
    let odd_before = |end: usize| {
        let name = &bytes[..end];
        name.ends_with(b"/") || name.ends_with(b"/.")
    };
    let plain = bytes == b"/"
        || (!odd_before(bytes.len())
            && !bytes
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'/' && odd_before(i)));
    if plain {
        Cow::Borrowed(path.as_os_str())
    } else {
        Cow::Owned(path.components().collect::<PathBuf>().into_os_string())
    }
}

impl<R: Recycle> Roots<R> {
    /// The id the next root will get (a slot freed before, or a new one at
    /// the end), for [`Roots::place`].
    fn reserve(&mut self) -> usize {
        self.free.pop().unwrap_or(self.slots.len())
    }

    /// Puts `root` in the reserved `id`'s slot, not yet found by path
    /// (see [`Roots::index`]), and returns it there: a root is large, and
    /// is built up and torn down in its slot instead of being moved in and
    /// out of it.
    fn place(&mut self, id: usize, root: R) -> &mut R {
        if id == self.slots.len() {
            self.slots.push(None);
        }
        self.slots[id].insert(root)
    }

    /// Makes the root placed under `id` found by its path's [`key`].
    fn index(&mut self, id: usize, key: OsString) {
        self.ids.insert(key, id);
    }

    /// The id of the root watching `path`, no longer found by path, and
    /// the buffer its key was kept in; its slot is emptied with
    /// [`Roots::vacate`].
    fn unindex(&mut self, path: &Path) -> Option<(OsString, usize)> {
        self.ids.remove_entry(&*key(path))
    }

    pub(crate) fn get_mut(&mut self, id: usize) -> Option<&mut R> {
        self.slots.get_mut(id).and_then(Option::as_mut)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &R> {
        self.slots.iter().flatten()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.slots.iter_mut().flatten()
    }
}

impl<T: WatchTable> Roots<Root<T>> {
    /// Takes the root out of `id`'s slot, frees the slot, and keeps what
    /// the root (its watches released) and its key's buffer `key` leave.
    fn vacate(&mut self, id: usize, mut key: OsString) {
        if let Some(root) = self.slots.get_mut(id).and_then(Option::take) {
            key.clear();
            self.spares.push((root.into_spare(), key));
            self.free.push(id);
        }
    }

    /// Starts watching `path` (replacing a root with the same path); scan
    /// notices go to `out`. The error when the path, or a directory followed
    /// for it, cannot be watched; then nothing stays armed for it.
    pub(crate) fn watch(
        &mut self,
        t: &mut T,
        config: &Config,
        path: &Path,
        mode: RecursiveMode,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        // The path's key, found once for the look-up and the insertion.
        let key = key(path);
        if self.ids.contains_key(&*key) {
            self.unwatch(t, path)?;
        }
        let id = self.reserve();
        let (root, buf) = match self.spares.pop() {
            Some((spare, buf)) => (Root::reuse(id, path, mode, spare), buf),
            None => (Root::new(id, path, mode), OsString::new()),
        };
        let root = self.place(id, root);
        match root.rebuild(t, config, out, false, true) {
            Ok(snap) => {
                root.install(t, snap, &mut Emit::new(out));
                let mut buf = buf;
                buf.push(&*key);
                self.index(id, buf);
                Ok(())
            }
            Err(e) => {
                root.release(t);
                self.vacate(id, buf);
                Err(e)
            }
        }
    }

    /// Stops watching `path` and releases its watches.
    pub(crate) fn unwatch(&mut self, t: &mut T, path: &Path) -> Result<(), Error> {
        let Some((key, id)) = self.unindex(path) else {
            return Err(Error::NotWatched {
                path: path.to_path_buf(),
            });
        };
        if let Some(root) = self.get_mut(id) {
            root.release(t);
        }
        self.vacate(id, key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_path_has_the_key_its_components_have() {
        let spellings = [
            "/", "//", "/.", "/./", ".", "./", "./.", "a", "a/", "a//", "a/.", "./a", ".//a",
            "a/b", "a//b", "a/./b", "a/b/", "/a/b", "//a/b/.", "a/..", "a/../b", "..", "../a",
            "a/.b", "a/b.", "/a/.../b",
        ];
        for a in spellings {
            for b in spellings {
                let (pa, pb) = (Path::new(a), Path::new(b));
                assert_eq!(key(pa) == key(pb), pa == pb, "{a:?} {b:?}");
            }
            // Already plain: kept as given, no copy.
            if Path::new(a).components().collect::<PathBuf>().as_os_str() == a {
                assert!(matches!(key(Path::new(a)), Cow::Borrowed(_)), "{a:?}");
            }
        }
    }
}
