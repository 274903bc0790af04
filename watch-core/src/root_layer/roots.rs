//! The roots of one watcher, in reusable slots (a slot's index is the id
//! that kernel watches name), found by path in O(1).

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::{Emit, Root, WatchTable};
use crate::fast_hash::FastHash;
use crate::{Config, Error, Event, RecursiveMode};

/// One slot: a root, and whether it is one the watcher has (otherwise it
/// is a removed one, kept to be made the next root added here).
struct Slot<R> {
    root: R,
    live: bool,
    /// The buffer the root's key was kept in, while the root is removed.
    key: OsString,
}

/// Roots by id, with an index by path.
///
/// A removed root stays in its slot, its watches released and its
/// contents emptied, and the next root added there is made in it
/// ([`Root::renew`]): its path buffer, the vectors its lookup and links
/// fill, its map of directories and its snapshot (emptied, each keeping
/// the storage of one entry) and its key's buffer are used again, and
/// the large root is never moved. Adding and removing roots in turn then
/// allocates a few times per root instead of about ten.
pub(crate) struct Roots<R> {
    slots: Vec<Slot<R>>,
    /// Root path (as [`key`] spells it) -> its slot, so `watch`/`unwatch`
    /// cost the same with one root or ten thousand.
    ids: HashMap<OsString, usize, FastHash>,
    /// Slots of removed roots, reused before the vector grows.
    free: Vec<usize>,
}

impl<R> Default for Roots<R> {
    fn default() -> Self {
        Roots {
            slots: Vec::new(),
            ids: HashMap::default(),
            free: Vec::new(),
        }
    }
}

/// The bytes `path` is kept under: the same for every spelling of one
/// path as `Path` compares them (`a//b`, `a/./b` and `a/b/` are `a/b`),
/// and, for a path already spelled that way (nearly every one), the path
/// itself. Hashing and comparing these bytes costs a fraction of what
/// hashing and comparing a `Path` does (both walk its components).
fn key(path: &Path) -> Cow<'_, OsStr> {
    if plain(path.as_os_str().as_encoded_bytes()) {
        Cow::Borrowed(path.as_os_str())
    } else {
        Cow::Owned(path.components().collect::<PathBuf>().into_os_string())
    }
}

/// Whether `bytes` are spelled as a path's components join: no empty name
/// but a leading `/`'s, no `.` but a leading one (so no `//`, no `/./`,
/// no trailing `/` or `/.`). Only the bytes before each `/`, and before
/// the end, matter: the `/`s are found eight bytes at a time (a `/` is a
/// zero byte once each byte is xored with `/`).
fn plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let odd_before = |end: usize| {
        let name = &bytes[..end];
        name.ends_with(b"/") || name.ends_with(b"/.")
    };
    if bytes != b"/" && odd_before(bytes.len()) {
        return false;
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut base = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ (ONES * u64::from(b'/'));
        // Marks each zero byte, and maybe a byte after one (a borrow
        // carried on), hence the check of the byte itself.
        let mut marks = x.wrapping_sub(ONES) & !x & HIGHS;
        while marks != 0 {
            let i = (marks.trailing_zeros() / 8) as usize;
            marks &= marks - 1;
            if chunk[i] == b'/' && odd_before(base + i) {
                return false;
            }
        }
        base += 8;
    }
    let rest = chunks.remainder();
    !rest
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'/' && odd_before(base + i))
}

impl<R> Roots<R> {
    /// The id of the root watching `path`, no longer found by path, and
    /// the buffer its key was kept in.
    fn unindex(&mut self, path: &Path) -> Option<(OsString, usize)> {
        self.ids.remove_entry(&*key(path))
    }

    pub(crate) fn get_mut(&mut self, id: usize) -> Option<&mut R> {
        self.slots
            .get_mut(id)
            .filter(|s| s.live)
            .map(|s| &mut s.root)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &R> {
        self.slots.iter().filter(|s| s.live).map(|s| &s.root)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.slots
            .iter_mut()
            .filter(|s| s.live)
            .map(|s| &mut s.root)
    }
}

impl<T: WatchTable> Roots<Root<T>> {
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
        // A removed root's slot, made the new root in place, or a new one
        // at the end. Not found by id or path until it is built.
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id].root.renew(id, path, mode);
                id
            }
            None => {
                let id = self.slots.len();
                self.slots.push(Slot {
                    root: Root::new(id, path, mode),
                    live: false,
                    key: OsString::new(),
                });
                id
            }
        };
        let slot = &mut self.slots[id];
        let root = &mut slot.root;
        match root.rebuild(t, config, out, false, true) {
            Ok(snap) => {
                root.install(t, snap, &mut Emit::new(&mut *out));
                let mut buf = std::mem::take(&mut slot.key);
                buf.push(&*key);
                slot.live = true;
                self.ids.insert(buf, id);
                Ok(())
            }
            Err(e) => {
                root.release(t);
                root.retire();
                self.free.push(id);
                Err(e)
            }
        }
    }

    /// Stops watching `path` and releases its watches.
    pub(crate) fn unwatch(&mut self, t: &mut T, path: &Path) -> Result<(), Error> {
        let Some((mut key, id)) = self.unindex(path) else {
            return Err(Error::NotWatched {
                path: path.to_path_buf(),
            });
        };
        if let Some(slot) = self.slots.get_mut(id).filter(|s| s.live) {
            slot.root.release(t);
            slot.root.retire();
            slot.live = false;
            key.clear();
            slot.key = key;
            self.free.push(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_path_has_the_key_its_components_have() {
        let spellings = [
            "/",
            "//",
            "/.",
            "/./",
            ".",
            "./",
            "./.",
            "a",
            "a/",
            "a//",
            "a/.",
            "./a",
            ".//a",
            "a/b",
            "a//b",
            "a/./b",
            "a/b/",
            "/a/b",
            "//a/b/.",
            "a/..",
            "a/../b",
            "..",
            "../a",
            "a/.b",
            "a/b.",
            "/a/.../b",
            "/hhhh/uuuu/.cccccc/app",
            "/ttt/a-long-name//d",
            "/ttt/a-long-nam/./d",
            "/ttt/aaaaaaa/.",
            "/ttt/aaaaaa//",
            "/ttt/aaaaaaaaaa/.b/..c",
            "/ttt/aaa/.//bbbbbbbbbbbbbbbbbbbbbbbb",
            "aaaaaaa//bbbbbbb/./ccccccc/",
            "aaaaaaaa/.",
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
