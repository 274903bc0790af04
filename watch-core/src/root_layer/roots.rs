//! The roots of one watcher, in reusable slots (a slot's index is the id
//! that kernel watches name), found by path in O(1).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Emit, Root, WatchTable};
use crate::fast_hash::FastHash;
use crate::{Config, Error, Event, RecursiveMode};

/// Roots by id, with an index by path.
pub(crate) struct Roots<R> {
    slots: Vec<Option<R>>,
    /// Root path -> its slot, so `watch`/`unwatch` cost the same with one
    /// root or ten thousand.
    ids: HashMap<PathBuf, usize, FastHash>,
    /// Empty slots, reused before the vector grows.
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

impl<R> Roots<R> {
    /// The id the next root will get (reserved until [`Roots::insert`] or
    /// [`Roots::unreserve`]).
    pub(crate) fn reserve(&mut self) -> usize {
        self.free.pop().unwrap_or(self.slots.len())
    }

    /// Gives a reserved id back unused.
    pub(crate) fn unreserve(&mut self, id: usize) {
        if id < self.slots.len() {
            self.free.push(id);
        }
    }

    /// Stores `root` under the reserved `id` and its `path`.
    pub(crate) fn insert(&mut self, id: usize, path: &Path, root: R) {
        self.ids.insert(path.to_path_buf(), id);
        if id == self.slots.len() {
            self.slots.push(Some(root));
        } else {
            self.slots[id] = Some(root);
        }
    }

    pub(crate) fn contains(&self, path: &Path) -> bool {
        self.ids.contains_key(path)
    }

    /// Takes the root watching `path` out.
    pub(crate) fn remove(&mut self, path: &Path) -> Option<R> {
        let id = self.ids.remove(path)?;
        let root = self.slots.get_mut(id)?.take();
        self.free.push(id);
        root
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
        if self.contains(path) {
            self.unwatch(t, path)?;
        }
        let id = self.reserve();
        let mut root = Root::new(id, path, mode);
        match root.rebuild(t, config, out, false, true) {
            Ok(snap) => {
                root.install(t, snap, &mut Emit::new(out));
                self.insert(id, path, root);
                Ok(())
            }
            Err(e) => {
                root.release(t);
                self.unreserve(id);
                Err(e)
            }
        }
    }

    /// Stops watching `path` and releases its watches.
    pub(crate) fn unwatch(&mut self, t: &mut T, path: &Path) -> Result<(), Error> {
        match self.remove(path) {
            Some(mut root) => {
                root.release(t);
                Ok(())
            }
            None => Err(Error::NotWatched {
                path: path.to_path_buf(),
            }),
        }
    }
}
