//! A root's regular files with watches of their own: arming them in a
//! batch, retrying those the limit refused, and catching up on what changed
//! before a watch was armed.

use std::path::{Path, PathBuf};

use super::super::{Emit, Root, WatchTable};
use crate::snapshot::{Entry, EntryKind};
use crate::{Event, EventKind, Origin, SkipReason};

impl<T: WatchTable> Root<T> {
    /// Whether the regular file at `rel` wants a watch of its own and has
    /// none: its directory is watched.
    fn wants_file_watch(&self, rel: &Path) -> bool {
        !self.files.contains_key(rel)
            && self
                .snapshot
                .get(rel)
                .is_some_and(|e| e.kind == EntryKind::File)
            && self
                .dirs
                .contains_key(rel.parent().unwrap_or(Path::new("")))
    }

    /// Gives the regular files among `rels` (whose directory is watched) a
    /// watch each, in one batch. Those the limit refuses wait for a
    /// release ([`Root::retry_files`]); the refusal is said once while any
    /// file waits, and again once all were watched and it refuses anew.
    pub(crate) fn arm_files(&mut self, t: &mut T, rels: Vec<PathBuf>, out: &mut Emit<'_>) {
        if !T::FILES {
            return;
        }
        let wanted: Vec<(PathBuf, PathBuf)> = rels
            .into_iter()
            .filter(|rel| self.wants_file_watch(rel))
            .map(|rel| (self.full(&rel), rel))
            .collect();
        if wanted.is_empty() {
            self.budget_noted &= !self.unwatched_files.is_empty();
            return;
        }
        let (armed, refused) = t.arm_files(self.id, wanted);
        if !self.unwatched_files.is_empty() {
            for (rel, _) in &armed {
                self.unwatched_files.remove(&**rel);
            }
        }
        self.files.extend(armed);
        self.unwatched_files.extend(refused);
        self.note_unwatched_files(out);
    }

    /// Says (once) that files wait for a watch of their own; forgets having
    /// said it once none waits.
    fn note_unwatched_files(&mut self, out: &mut Emit<'_>) {
        if self.unwatched_files.is_empty() {
            self.budget_noted = false;
        } else if !self.budget_noted {
            self.budget_noted = true;
            out.push(Event::new(
                EventKind::Skipped {
                    reason: SkipReason::FdBudget,
                },
                self.path.clone(),
                self.root_entry().is_some_and(|e| e.is_dir()),
                Origin::Rescan,
            ));
        }
    }

    /// Once a watch was released: gives the files the limit refused their
    /// watch, in path order, a batch at a time, until it refuses again.
    /// A file changed while it had none is reported (origin Rescan), the
    /// way a refused directory's entries are once it is watched. Returns
    /// whether the limit refused again.
    pub(crate) fn retry_files(&mut self, t: &mut T, out: &mut Emit<'_>) -> bool {
        /// Files tried per batch: a full table costs one batch refused.
        const BATCH: usize = 256;
        let mut full = false;
        while !full && !self.unwatched_files.is_empty() {
            let mut wanted = Vec::with_capacity(BATCH);
            while wanted.len() < BATCH
                && let Some(rel) = self.unwatched_files.pop_first()
            {
                if self.wants_file_watch(&rel) {
                    wanted.push((self.full(&rel), rel));
                }
            }
            if wanted.is_empty() {
                continue;
            }
            let (armed, refused) = t.arm_files(self.id, wanted);
            full = !refused.is_empty();
            self.unwatched_files.extend(refused);
            for (rel, handle) in armed {
                self.catch_up_file(&rel, out);
                self.files.insert(rel, handle);
            }
        }
        self.note_unwatched_files(out);
        full
    }

    /// Reports what changed in the file at `rel` since the snapshot saw it
    /// (its watch was just armed, so later changes are its own events).
    fn catch_up_file(&mut self, rel: &Path, out: &mut Emit<'_>) {
        let (Some(known), Ok(now)) = (self.snapshot.get(rel), Entry::lstat(&self.full(rel))) else {
            return; // gone: its directory reports it
        };
        if !known.same_object(&now) {
            return; // replaced: its directory's listing reports it
        }
        let metadata = known.metadata_differs(&now);
        if known.content_differs(&now) || (known.ctime_differs(&now) && !metadata) {
            out.push(Event::new(
                EventKind::Modified,
                self.full(rel),
                false,
                Origin::Rescan,
            ));
        }
        if metadata {
            out.push(Event::new(
                EventKind::Metadata,
                self.full(rel),
                false,
                Origin::Rescan,
            ));
        }
        self.snapshot.insert(rel, now);
    }
}
