//! The root layer every kernel backend shares.
//!
//! A watched root is a user path followed by name, and, when it leads to a
//! directory, the tree below it. Keeping that view current is the same work
//! whatever the kernel API: resolve the path name by name ([`resolve`](crate::resolve)),
//! watch the directories whose entries can change what it means (anchors)
//! and the real directories above it (ancestors), give the file it leads to
//! an inode watch (target), arm every tree directory before reading it,
//! keep the [`Snapshot`] (the user's view) as names come and go, re-path a
//! moved subtree, rescan and diff when events were lost, and find a
//! directory for a sync cookie. All of that lives here, once.
//!
//! A backend is a *translator*: it owns the kernel object, implements
//! [`WatchTable`] (arm a watch for a [`Role`], release it, re-path it) and
//! turns each kernel record into calls on [`Root`]: a name appeared
//! ([`Root::scan_in`] after a creation), went away ([`Root::removed`]),
//! moved ([`Root::move_tree`]), the path may mean something else now
//! ([`Root::refresh`]), the target was written ([`Root::target_event`]),
//! events were lost ([`Root::rescan`]). Translator-only state (inotify's
//! rename cookies) is the table's [`WatchTable::State`].
//!
//! - `chain.rs`: anchors, ancestors and the target (following the name);
//! - `tree.rs`: arming and scanning tree directories, subtree drop, move,
//!   removal, directories the watch limit or budget refused;
//! - `refresh.rs`: re-resolving, rebuilding, rescans with their diff,
//!   entries left unverified, cookies;
//! - `roots.rs`: the roots of one watcher, found by path in O(1);
//! - `emit.rs`: the sink events go to.

mod chain;
mod emit;
mod refresh;
mod roots;
mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::resolve::{DirId, Resolved};
use crate::scan::ScanOptions;
pub(crate) use crate::snapshot::SharedPath;
use crate::snapshot::{Entry, Snapshot, join_rel};
use crate::{Config, Error, RecursiveMode, SkipReason};

pub(crate) use chain::Link;
pub(crate) use emit::Emit;
pub(crate) use refresh::write_cookie;
pub(crate) use roots::Roots;
pub(crate) use tree::{retry_blocked, under};

/// Why a root holds a watch. Paths in [`Role::Tree`] and [`Role::File`] are
/// relative to the root; anchors and ancestors are named as resolved.
/// Each path is a [`SharedPath`]: 16 bytes in a table's record, and copied
/// without allocating. Two roles are equal when their kind and path are
/// (compared as `Path`s, after a look at whether they share the
/// allocation, which they nearly always do).
#[derive(Clone, Debug, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// A directory of the root's tree.
    Tree(SharedPath),
    /// A regular file of the root's tree with a watch of its own (only for
    /// a table whose directory watches do not report writes to files:
    /// [`WatchTable::FILES`]).
    File(SharedPath),
    /// A directory consulted when resolving the root's path: its entries
    /// matter.
    Anchor(SharedPath),
    /// A real directory above the root's path, watched only for being
    /// renamed, deleted or unmounted.
    Ancestor(SharedPath),
    /// The regular file the root's path leads to, watched by inode so that
    /// a write through another hard link is seen too.
    Target,
}

/// Whether two shared paths are the same path: the same allocation, or
/// equal as `Path`s (what `==` on them says, which never looks at the
/// allocation first for an unsized `Path`).
pub(crate) fn same_path(a: &SharedPath, b: &SharedPath) -> bool {
    std::sync::Arc::ptr_eq(a, b) || a == b
}

impl PartialEq for Role {
    fn eq(&self, other: &Role) -> bool {
        match (self, other) {
            (Role::Tree(a), Role::Tree(b))
            | (Role::File(a), Role::File(b))
            | (Role::Anchor(a), Role::Anchor(b))
            | (Role::Ancestor(a), Role::Ancestor(b)) => same_path(a, b),
            (Role::Target, Role::Target) => true,
            _ => false,
        }
    }
}

/// Hashed as [`PartialEq`] compares: its kind and its path.
impl std::hash::Hash for Role {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Role::Tree(p) | Role::File(p) | Role::Anchor(p) | Role::Ancestor(p) => p.hash(state),
            Role::Target => {}
        }
    }
}

/// Why a watch could not be armed.
#[derive(Debug)]
pub(crate) enum ArmError {
    /// The path vanished or changed type meanwhile: a parent's event, or
    /// resolving again, tells what happened.
    Gone,
    /// The watch limit or the descriptor budget refused it; retried once a
    /// watch is released.
    Full { reason: SkipReason, error: Error },
    /// Anything else (no permission, ...).
    Refused { reason: SkipReason, error: Error },
}

impl ArmError {
    /// The scan hook's verdict: skipped for a reason, or (`None`) vanished.
    pub(crate) fn skip_reason(self) -> Option<SkipReason> {
        match self {
            ArmError::Gone => None,
            ArmError::Full { reason, .. } | ArmError::Refused { reason, .. } => Some(reason),
        }
    }

    /// The error `watch` returns when a watch the root needs cannot be armed.
    pub(crate) fn into_error(self) -> Option<Error> {
        match self {
            ArmError::Gone => None,
            ArmError::Full { error, .. } | ArmError::Refused { error, .. } => Some(error),
        }
    }
}

/// What a backend offers the root layer: one table of kernel watches,
/// shared by all roots, each watch used for one or more (root, [`Role`]).
pub(crate) trait WatchTable {
    /// A watch as the kernel names it (a watch descriptor, a token).
    type Handle: Copy + Eq + std::fmt::Debug;
    /// What the translator keeps per root besides the shared state.
    type State: Default;
    /// Whether tree files get a watch of their own ([`Role::File`]): the
    /// directory watches do not report writes to the files in them.
    const FILES: bool = false;

    /// Arms a watch on `path` for `root` in `role`; `follow`: a symlink at
    /// `path` is followed (tree directories reached through a followed
    /// link, a root given as a link).
    fn arm(
        &mut self,
        root: usize,
        path: &Path,
        role: Role,
        follow: bool,
    ) -> Result<Self::Handle, ArmError>;

    /// Arms many tree files (full path, relative path) at once, for a table
    /// with [`WatchTable::FILES`]; returns the relative paths of those
    /// armed with their watches, and of those the limit (or budget)
    /// refused, to be tried again once a watch is released. A file that
    /// vanished or cannot be opened is in neither.
    fn arm_files(
        &mut self,
        root: usize,
        files: Vec<(PathBuf, PathBuf)>,
    ) -> (Vec<(SharedPath, Self::Handle)>, Vec<PathBuf>) {
        let _ = (root, files);
        (Vec::new(), Vec::new())
    }

    /// Adds `root`'s use in `role` (an anchor or an ancestor) to a watch
    /// the table already holds on the directory `dir` with identity `id`,
    /// armed for a role at least as wide, without a system call; the role
    /// back when there is none (then [`WatchTable::arm_link`]).
    fn share(
        &mut self,
        root: usize,
        dir: &Path,
        id: DirId,
        role: Role,
    ) -> Result<Self::Handle, Role> {
        let _ = (root, dir, id);
        Err(role)
    }

    /// Arms a watch on the directory `dir` (identity `id`, as resolved) for
    /// `root` as an anchor or an ancestor; a table that shares such watches
    /// ([`WatchTable::share`]) records it.
    fn arm_link(
        &mut self,
        root: usize,
        dir: &SharedPath,
        id: Option<DirId>,
        role: Role,
    ) -> Result<Self::Handle, ArmError> {
        let _ = id;
        self.arm(root, dir, role, true)
    }

    /// The identity of the directory at `dir`, with the path the table
    /// keeps for it, if the table holds a watch on it that reports its
    /// renaming, deletion or replacement (shared by
    /// [`WatchTable::share`]); lets `watch` skip the `lstat` of directories
    /// above a new root that other roots already follow, and the copy of
    /// their paths.
    fn link_id(&self, dir: &Path) -> Option<(SharedPath, DirId)> {
        let _ = dir;
        None
    }

    /// The final name a root follows, in the anchor directory `dir`
    /// watched by `handle`, exists but has no watch of its own (a FIFO, a
    /// device, a file whose inode watch or a directory whose tree watch
    /// was refused): the anchor's watch must also report its entries'
    /// writes and attribute changes, which it otherwise need not ask for.
    fn anchor_contents(&mut self, handle: Self::Handle, dir: &Path) {
        let _ = (handle, dir);
    }

    /// Drops `root`'s use of the watch; the last use releases it.
    fn release(&mut self, root: usize, handle: Self::Handle, role: Role);

    /// The watched object is now known under another role (its directory
    /// was renamed).
    fn repath(&mut self, root: usize, handle: Self::Handle, old: Role, new: Role);

    /// Whether the object behind `handle` was deleted (no link left), as
    /// opposed to moved away. `false` when the table cannot tell.
    fn deleted(&self, handle: Self::Handle) -> bool {
        let _ = handle;
        false
    }

    /// Some root's watches moved to other objects (a path now leads
    /// elsewhere, a rescan): a cookie written before may go unseen.
    fn moved(&mut self) {}

    /// Tree directories the limit refused, as (root, relative path), tried
    /// again once a watch is released. Entries may go stale; a retry drops
    /// those.
    fn blocked(&mut self) -> &mut std::collections::BTreeSet<(usize, PathBuf)>;

    /// Whether a watch was released (or a sync asked) since the blocked
    /// directories were last tried; clears it.
    fn take_freed(&mut self) -> bool;
}

/// What came of watching a directory the limit had refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Watched now, and what it holds reported.
    Watched,
    /// The limit refused it again.
    Limit,
    /// Nothing to retry: gone, watched already, no longer wanted, or
    /// refused for another reason (that directory's own events tell).
    Stale,
}

/// One watched root: its name chain, its tree of watches, its snapshot.
pub(crate) struct Root<T: WatchTable> {
    pub(crate) id: usize,
    /// As the user gave it; event paths start with it.
    pub(crate) path: PathBuf,
    pub(crate) mode: RecursiveMode,
    pub(crate) resolved: Resolved,
    /// The directories whose entries are consulted names.
    pub(crate) anchors: Vec<Link<T::Handle>>,
    /// The other real directories along the path.
    pub(crate) ancestors: Vec<Link<T::Handle>>,
    /// The inode watch on the file the path leads to: (device, inode, watch).
    pub(crate) target: Option<(u64, u64, T::Handle)>,
    /// Tree directories with a watch, by relative path (the same
    /// allocation as the watch's [`Role::Tree`] and, mostly, the
    /// snapshot's key). A scan records the directories it armed once it
    /// is done, a large batch by building the map anew from sorted input,
    /// so that its leaves are full (see `tree.rs`, `record_dirs`).
    pub(crate) dirs: BTreeMap<SharedPath, T::Handle>,
    /// Tree files with a watch of their own ([`WatchTable::FILES`]), by
    /// relative path (shared with the watch's [`Role::File`]).
    pub(crate) files: BTreeMap<SharedPath, T::Handle>,
    pub(crate) snapshot: Snapshot,
    /// Some entry is a placeholder that [`Root::settle`] must verify.
    pub(crate) dirty: bool,
    /// Directories scanned by path since the events were last drained: the
    /// path may have led to a later directory than the one an event was
    /// about; a rename that moves one of them checks it. (Never the
    /// root's own directory, which no rename inside the tree moves.)
    pub(crate) fresh: Vec<PathBuf>,
    /// Tree files (relative paths) the limit refused a watch of their own
    /// ([`WatchTable::FILES`]), tried again once a watch is released.
    /// Entries may go stale; a retry drops those.
    pub(crate) unwatched_files: BTreeSet<PathBuf>,
    /// The refusal of files was reported, and some file still waits since.
    pub(crate) budget_noted: bool,
    /// The translator's own per-root state.
    // Used by the inotify backend only.
    #[cfg_attr(not(linux_kernel), allow(dead_code))]
    pub(crate) state: T::State,
}

impl<T: WatchTable> Root<T> {
    pub(crate) fn new(id: usize, path: &Path, mode: RecursiveMode) -> Root<T> {
        Root {
            id,
            path: path.to_path_buf(),
            mode,
            resolved: Resolved::default(),
            anchors: Vec::new(),
            ancestors: Vec::new(),
            target: None,
            dirs: BTreeMap::new(),
            files: BTreeMap::new(),
            snapshot: Snapshot::default(),
            dirty: false,
            fresh: Vec::new(),
            unwatched_files: BTreeSet::new(),
            budget_noted: false,
            state: T::State::default(),
        }
    }

    /// Empties a removed root (its watches released, its map of
    /// directories and its snapshot emptied, see [`Root::release`]) down
    /// to the allocations worth keeping for the root made in its place
    /// later ([`Root::renew`]): its path buffer, the vectors its lookup
    /// and links fill, and that map and snapshot (one that held one entry
    /// keeps that entry's storage). Holds no path of a directory after
    /// this.
    pub(crate) fn retire(&mut self) {
        self.resolved.consulted.clear();
        self.resolved.walked.clear();
        self.resolved.target = None;
        self.anchors.clear();
        self.ancestors.clear();
        self.target = None;
        if !self.dirs.is_empty() {
            self.dirs = BTreeMap::new();
        }
        if !self.snapshot.is_empty() {
            self.snapshot.clear();
        }
        if !self.files.is_empty() {
            self.files = BTreeMap::new();
        }
        self.dirty = false;
        self.fresh = Vec::new();
        if !self.unwatched_files.is_empty() {
            self.unwatched_files = BTreeSet::new();
        }
        self.budget_noted = false;
        self.state = T::State::default();
    }

    /// Makes a retired root ([`Root::retire`]) the root `id` of `path`,
    /// in the allocations it kept: as [`Root::new`] makes one.
    pub(crate) fn renew(&mut self, id: usize, path: &Path, mode: RecursiveMode) {
        self.id = id;
        self.path.as_mut_os_string().clear();
        self.path.as_mut_os_string().push(path.as_os_str());
        self.mode = mode;
    }

    pub(crate) fn full(&self, rel: &Path) -> PathBuf {
        join_rel(&self.path, rel)
    }

    pub(crate) fn opts<'c>(&self, config: &'c Config) -> ScanOptions<'c> {
        ScanOptions {
            recursive: self.mode == RecursiveMode::Recursive,
            follow_symlinks: config.follow_symlinks,
            exclude: config.exclude.as_ref(),
            // A table that watches files (kqueue) diffs each directory's
            // listing against the snapshot on every change: it keeps exact
            // entries. Otherwise setup and the scans of new directories
            // only list regular files; a scan that is diffed asks for
            // exact entries itself (`Root::scan`).
            exact: T::FILES,
        }
    }

    pub(crate) fn root_entry(&self) -> Option<Entry> {
        self.snapshot.get(Path::new(""))
    }

    /// Whether the tree goes on below `entry` (a directory, or a symlink to
    /// one when links are followed: `follow_link`).
    pub(crate) fn wants_tree(&self, entry: &Entry, config: &Config, follow_link: bool) -> bool {
        self.mode == RecursiveMode::Recursive
            && (entry.is_dir() || (follow_link && config.follow_symlinks))
    }

    /// [`Root::wants_tree`] for the entry at `rel`, looking through a
    /// symlink only when links are followed.
    pub(crate) fn enters(&self, entry: &Entry, rel: &Path, config: &Config) -> bool {
        let follow_link = entry.kind == crate::snapshot::EntryKind::Symlink
            && config.follow_symlinks
            && std::fs::metadata(self.full(rel)).is_ok_and(|m| m.is_dir());
        self.wants_tree(entry, config, follow_link)
    }
}
