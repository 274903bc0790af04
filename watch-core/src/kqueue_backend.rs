//! The kqueue backend (FreeBSD, OpenBSD, NetBSD, DragonFly, macOS; Linux
//! through libkqueue with the `libkqueue` feature).
//!
//! kqueue reports changes per open vnode, without names, so:
//! - every watched directory is an open descriptor registered for its notes;
//!   `NOTE_WRITE` on a directory means an entry was added, removed or
//!   renamed, and the directory is listed again and diffed against the
//!   snapshot ([`crate::diff`]), which yields created / removed / renamed
//!   (directories dirtied by the same batch of kernel events are diffed
//!   together, so a rename between them is recognised);
//! - regular files get a descriptor of their own, so that writes and
//!   attribute changes are seen, while the descriptor budget allows
//!   ([`Config::fd_budget`], default half of `RLIMIT_NOFILE`). Files are the
//!   first to go: past three quarters of the budget they are watched at
//!   directory level only (said once per root with a `Skipped` /
//!   `FdBudget` notice); past the budget, directories are skipped with the
//!   same notice, one per directory. Running out of descriptors degrades,
//!   it never fails, and skipped directories are watched (and what they
//!   hold reported) as soon as descriptors are released, or at the next
//!   `sync`;
//! - a root path is followed by name like on inotify: the directories
//!   consulted when resolving it are watched (anchors), any change there
//!   re-resolves it, and a file root's target has its own descriptor; the
//!   other real directories above it (ancestors) hold a descriptor
//!   registered for `NOTE_DELETE`/`NOTE_RENAME`/`NOTE_REVOKE` only, within
//!   the files' share of the budget and only while none of the root's tree
//!   directories waits for one; an anchor or ancestor whose path now leads
//!   to another directory is opened again there. Mounts are not noticed;
//! - `sync` writes a cookie file in a watched directory and waits for that
//!   directory's note: knotes are activated while the change is being made
//!   and returned in activation order, so everything before it is seen.
//!
//! The kqueue descriptor itself is what [`Driver::as_fd`] returns; it polls
//! readable on the BSDs and macOS (not with libkqueue, whose descriptor
//! never reports readiness to poll(2)).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kqueue::{
    Change, Changes, Filter, Kqueue, RawEvent, Token, UserTrigger, VnodeEvents, VnodeOptions,
    VnodeWatch,
};

use crate::backend::Driver;
use crate::cookie;
use crate::diff::diff;
use crate::resolve::{DirId, Resolved, resolve};
use crate::scan::{ScanOptions, scan_dir};
use crate::snapshot::{Entry, EntryKind, Snapshot, join_rel};
use crate::waker::Wake;
use crate::{Backend, Config, Error, Event, EventKind, Origin, RecursiveMode, SkipReason, Waker};

/// Budget when `RLIMIT_NOFILE` is unlimited or unreadable.
const DEFAULT_BUDGET: usize = 4096;
/// Events read per `kevent()` call.
const EVENTS_PER_READ: usize = 256;
/// Most reads per drain while events keep arriving.
const MAX_READS: usize = 64;
/// The `EVFILT_USER` event that [`Waker`]s fire, and its token (no slot
/// has it: slots are indices).
const WAKE_IDENT: usize = 1;
const WAKE_TOKEN: Token = Token(usize::MAX);

impl Wake for UserTrigger {
    fn wake(&self) -> Result<(), Error> {
        self.fire()
            .map(drop)
            .map_err(|e| Error::io(None, std::io::Error::from(e)))
    }
}

/// Why a root holds a descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Role {
    /// A directory of the root's tree, relative to the root.
    Tree(PathBuf),
    /// A regular file of the root's tree, relative to the root.
    File(PathBuf),
    /// A directory consulted when resolving the root's path.
    Anchor,
    /// A real directory above the root's path, registered only for being
    /// renamed, deleted or revoked ([`ancestor_notes`]).
    Ancestor,
    /// The file a file root resolves to.
    Target,
}

struct Slot {
    // Dropping it deletes the registration, then closes the descriptor.
    watch: VnodeWatch,
    root: usize,
    role: Role,
    /// Which filling of this token it is: a token is reused once released,
    /// and a sync must not take an event of the new vnode for its cookie's.
    serial: u64,
}

/// A token as filled at one time: its number and [`Slot::serial`].
type Armed = (usize, u64);

/// Why a descriptor could not be armed.
enum ArmError {
    /// The budget (or the process's descriptor limit) is spent.
    Budget,
    /// The path vanished or changed type meanwhile: its parent's events
    /// report it.
    Gone,
    /// Anything else, as a skip reason.
    Failed(SkipReason),
}

impl ArmError {
    fn from_kqueue(err: &kqueue::Error) -> ArmError {
        use kqueue::ErrorKind as K;
        match err.kind() {
            K::FdLimit | K::SystemFdLimit => ArmError::Budget,
            K::NotFound | K::NotADirectory | K::IsSymlink => ArmError::Gone,
            K::PermissionDenied => ArmError::Failed(SkipReason::PermissionDenied),
            _ => ArmError::Failed(SkipReason::Other(err.to_string())),
        }
    }

    /// The scan hook's verdict: skipped for a reason, or (`None`) vanished.
    fn skip_reason(self) -> Option<SkipReason> {
        match self {
            ArmError::Budget => Some(SkipReason::FdBudget),
            ArmError::Gone => None,
            ArmError::Failed(reason) => Some(reason),
        }
    }
}

/// The kqueue and every descriptor registered with it, by token.
struct Fds {
    kq: Kqueue,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    open: usize,
    budget: usize,
    /// Fillings so far: the next [`Slot::serial`].
    serial: u64,
    /// A descriptor was released (or a sync asked) since the directories
    /// the budget refused were last tried.
    freed: bool,
}

impl Fds {
    /// Whether one more descriptor fits: directories, anchors and targets
    /// may use the whole budget, files three quarters of it.
    fn room(&self, essential: bool) -> bool {
        let cap = if essential {
            self.budget
        } else {
            self.budget.saturating_mul(3) / 4
        };
        self.open < cap
    }

    fn options(dir: bool, follow: bool) -> VnodeOptions {
        VnodeOptions::new().directory(dir).no_follow(!follow)
    }

    /// A free token (its slot stays empty until [`Fds::fill`]).
    fn reserve(&mut self) -> usize {
        match self.free.pop() {
            Some(token) => token,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    fn unreserve(&mut self, token: usize) {
        self.free.push(token);
    }

    fn fill(&mut self, token: usize, watch: VnodeWatch, root: usize, role: Role) {
        self.serial += 1;
        self.slots[token] = Some(Slot {
            watch,
            root,
            role,
            serial: self.serial,
        });
        self.open += 1;
    }

    /// The token with its current serial, if it is filled.
    fn armed(&self, token: usize) -> Option<Armed> {
        match self.slots.get(token) {
            Some(Some(slot)) => Some((token, slot.serial)),
            _ => None,
        }
    }

    /// Opens and registers one vnode (one `kevent()` call).
    fn arm(
        &mut self,
        path: &Path,
        dir: bool,
        follow: bool,
        root: usize,
        role: Role,
    ) -> Result<usize, ArmError> {
        self.arm_notes(path, dir, follow, root, role, VnodeEvents::classic())
    }

    /// [`Fds::arm`] for the given notes; an [`Role::Ancestor`] is not
    /// essential (it fits within the files' share of the budget).
    fn arm_notes(
        &mut self,
        path: &Path,
        dir: bool,
        follow: bool,
        root: usize,
        role: Role,
        notes: VnodeEvents,
    ) -> Result<usize, ArmError> {
        if !self.room(role != Role::Ancestor) {
            return Err(ArmError::Budget);
        }
        let watch = VnodeWatch::open(&self.kq, path, Fds::options(dir, follow))
            .map_err(|e| ArmError::from_kqueue(&e))?;
        let token = self.reserve();
        match self.kq.apply_one(watch.change(notes, Token(token))) {
            Ok(()) => {
                self.fill(token, watch, root, role);
                Ok(token)
            }
            Err(e) => {
                self.unreserve(token);
                Err(ArmError::from_kqueue(&e))
            }
        }
    }

    /// Opens and registers many files with one `kevent()` call. Returns
    /// the token of each one armed, and whether the budget stopped it.
    fn arm_files(
        &mut self,
        root: usize,
        files: Vec<(PathBuf, PathBuf)>,
    ) -> (Vec<(PathBuf, usize)>, bool) {
        let cap = self.budget.saturating_mul(3) / 4;
        let mut opened: Vec<(PathBuf, VnodeWatch, usize)> = Vec::with_capacity(files.len());
        let mut over_budget = false;
        let mut changes = Changes::with_capacity(files.len());
        for (full, rel) in files {
            if self.open + opened.len() >= cap {
                over_budget = true;
                break;
            }
            match VnodeWatch::open(&self.kq, &full, Fds::options(false, false)) {
                Ok(w) => {
                    let token = self.reserve();
                    changes.push(w.change(VnodeEvents::classic(), Token(token)));
                    opened.push((rel, w, token));
                }
                Err(e) => {
                    if let ArmError::Budget = ArmError::from_kqueue(&e) {
                        over_budget = true;
                        break;
                    }
                }
            }
        }
        let failed: HashSet<usize> = match self.kq.apply(&mut changes) {
            Ok(applied) => applied.failures().map(|f| f.index).collect(),
            Err(_) => (0..opened.len()).collect(),
        };
        let mut armed = Vec::with_capacity(opened.len());
        for (i, (rel, w, token)) in opened.into_iter().enumerate() {
            if failed.contains(&i) {
                self.unreserve(token); // dropping the watch closes it
                continue;
            }
            self.fill(token, w, root, Role::File(rel.clone()));
            armed.push((rel, token));
        }
        (armed, over_budget)
    }

    fn release(&mut self, token: usize) {
        if let Some(slot) = self.slots.get_mut(token)
            && slot.take().is_some()
        {
            self.open -= 1;
            self.free.push(token);
            self.freed = true;
        }
    }

    /// Whether the vnode behind `token` was deleted (no link left), as
    /// opposed to renamed away.
    fn deleted(&self, token: usize) -> bool {
        matches!(self.slots.get(token), Some(Some(slot)) if slot.watch.link_count().is_ok_and(|n| n == 0))
    }

    fn set_role(&mut self, token: usize, role: Role) {
        if let Some(Some(slot)) = self.slots.get_mut(token) {
            slot.role = role;
        }
    }
}

/// What one batch of kernel events asks a root to do.
#[derive(Default)]
struct Work {
    /// Re-resolve the root path; `true` if its target file was written.
    refresh: Option<bool>,
    /// Tree directories whose entries changed.
    dirty: BTreeSet<PathBuf>,
    /// Entries whose content was written, by descriptor: a directory
    /// renamed in the same batch takes them to another path.
    written: BTreeSet<Armed>,
    /// Entries whose attributes changed, by descriptor.
    attrib: BTreeSet<Armed>,
}

/// Registered for an ancestor directory: being renamed, deleted or revoked
/// (not its entries changing).
fn ancestor_notes() -> VnodeEvents {
    VnodeEvents::classic()
        - (VnodeEvents::WRITE | VnodeEvents::EXTEND | VnodeEvents::ATTRIB | VnodeEvents::LINK)
}

/// Makes `links` hold a descriptor on exactly the `wanted` directories, each
/// the one now at its path: a descriptor on a directory that is no longer at
/// its path (renamed away and replaced, a mount placed over it or removed)
/// is released and the path opened again (without `arm_new`, only what is no
/// longer wanted is released). Returns whether anything was
/// armed or vanished meanwhile (the path must then be resolved again).
/// A directory that cannot be opened is retried on the next change.
fn relink(
    fds: &mut Fds,
    root: usize,
    links: &mut Vec<(PathBuf, Option<DirId>, usize)>,
    wanted: &[(PathBuf, Option<DirId>)],
    role: Role,
    arm_new: bool,
) -> bool {
    let mut again = false;
    for (dir, id) in wanted {
        if !arm_new || links.iter().any(|(d, i, _)| d == dir && i == id) {
            continue;
        }
        let notes = if role == Role::Ancestor {
            ancestor_notes()
        } else {
            VnodeEvents::classic()
        };
        match fds.arm_notes(dir, true, true, root, role.clone(), notes) {
            Ok(token) => {
                links.push((dir.clone(), *id, token));
                again = true;
            }
            Err(ArmError::Gone) => again = true,
            Err(_) => {}
        }
    }
    links.retain(|(d, i, token)| {
        let keep = wanted.iter().any(|(wd, wi)| wd == d && wi == i);
        if !keep {
            fds.release(*token);
        }
        keep
    });
    again
}

struct Root {
    id: usize,
    path: PathBuf,
    mode: RecursiveMode,
    resolved: Resolved,
    /// Directories whose entries are consulted names: (path, identity, token).
    anchors: Vec<(PathBuf, Option<DirId>, usize)>,
    /// The other real directories along the path, the same way.
    ancestors: Vec<(PathBuf, Option<DirId>, usize)>,
    dirs: BTreeMap<PathBuf, usize>,
    files: BTreeMap<PathBuf, usize>,
    target: Option<(u64, u64, usize)>,
    snapshot: Snapshot,
    /// The per-file degradation was reported.
    budget_noted: bool,
    /// Tree directories the budget refused (reported `Skipped` once each),
    /// tried again once descriptors are released.
    blocked: BTreeSet<PathBuf>,
}

/// What came of watching a directory the budget had refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Watched now, and what it holds reported.
    Watched,
    /// The budget refused it again.
    Budget,
    /// Nothing to retry: gone, watched already or no longer wanted.
    Stale,
}

impl Root {
    fn full(&self, rel: &Path) -> PathBuf {
        join_rel(&self.path, rel)
    }

    fn opts<'c>(&self, config: &'c Config) -> ScanOptions<'c> {
        ScanOptions {
            recursive: self.mode == RecursiveMode::Recursive,
            follow_symlinks: config.follow_symlinks,
            exclude: config.exclude.as_ref(),
        }
    }

    fn root_entry(&self) -> Option<&Entry> {
        self.snapshot.get(Path::new(""))
    }

    /// Watches the directories of the name chain, re-resolving until the
    /// set is stable, then the target of a file root.
    ///
    /// The directories above the path (with `above`) come last: they are
    /// opened only while no tree directory of the root waits for a
    /// descriptor, so they never take one the tree needs; without them a
    /// rename up there goes unnoticed.
    fn follow_name(&mut self, fds: &mut Fds, above: bool) {
        for _ in 0..8 {
            let resolved = resolve(&self.path);
            let with_id = |dirs: Vec<&Path>| -> Vec<(PathBuf, Option<DirId>)> {
                dirs.into_iter()
                    .map(|d| (d.to_path_buf(), resolved.id_of(d)))
                    .collect()
            };
            let anchors = with_id(resolved.dirs());
            let ancestors = with_id(resolved.ancestors());
            let above = above && self.blocked.is_empty();
            let armed_new = relink(
                fds,
                self.id,
                &mut self.anchors,
                &anchors,
                Role::Anchor,
                true,
            ) | relink(
                fds,
                self.id,
                &mut self.ancestors,
                &ancestors,
                Role::Ancestor,
                above,
            );
            self.resolved = resolved;
            if !armed_new {
                break;
            }
        }
        self.watch_target(fds);
    }

    fn watch_target(&mut self, fds: &mut Fds) {
        let want = match (&self.resolved.target, self.resolved.last()) {
            (Some(t), Some((dir, name))) if t.kind == EntryKind::File => {
                Some((t.dev, t.ino, dir.join(name)))
            }
            _ => None,
        };
        if let (Some((dev, ino, _)), Some((d, i, _))) = (&want, &self.target)
            && (dev, ino) == (d, i)
        {
            return;
        }
        if let Some((_, _, token)) = self.target.take() {
            fds.release(token);
        }
        if let Some((dev, ino, path)) = want
            && let Ok(token) = fds.arm(&path, false, false, self.id, Role::Target)
        {
            self.target = Some((dev, ino, token));
        }
    }

    /// Scans the directory at `rel` (in the snapshot as `entry`, or about to
    /// be), arming each directory before reading it; returns what was found.
    fn scan(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        rel: &Path,
        entry: Entry,
        notices: &mut Vec<Event>,
    ) -> Snapshot {
        let visited = self
            .snapshot
            .dir_ids_along(rel.parent().unwrap_or(Path::new("")));
        let opts = self.opts(config);
        let (id, dirs, blocked) = (self.id, &mut self.dirs, &mut self.blocked);
        let mut hook = |full: &Path, r: &Path, via_symlink: bool| {
            if dirs.contains_key(r) {
                return Ok(());
            }
            let follow = r.as_os_str().is_empty() || via_symlink;
            let token = fds
                .arm(full, true, follow, id, Role::Tree(r.to_path_buf()))
                .map_err(|e| {
                    if let ArmError::Budget = e {
                        blocked.insert(r.to_path_buf());
                    }
                    e.skip_reason()
                })?;
            dirs.insert(r.to_path_buf(), token);
            Ok(())
        };
        let mut found = Vec::new();
        let snap = scan_dir(
            &self.path, rel, entry, visited, &opts, &mut hook, &mut found,
        );
        notices.extend(found);
        snap
    }

    /// Gives the regular files among `rels` (whose directory is watched) a
    /// descriptor each, in one batch; says once if the budget stops it.
    fn arm_files(&mut self, fds: &mut Fds, rels: Vec<PathBuf>, out: &mut Vec<Event>) {
        let wanted: Vec<(PathBuf, PathBuf)> = rels
            .into_iter()
            .filter(|rel| !self.files.contains_key(rel))
            .filter(|rel| {
                self.snapshot
                    .get(rel)
                    .is_some_and(|e| e.kind == EntryKind::File)
                    && self
                        .dirs
                        .contains_key(rel.parent().unwrap_or(Path::new("")))
            })
            .map(|rel| (self.full(&rel), rel))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let (armed, over_budget) = fds.arm_files(self.id, wanted);
        self.files.extend(armed);
        if over_budget && !self.budget_noted {
            self.budget_noted = true;
            out.push(Event::new(
                EventKind::Skipped {
                    reason: SkipReason::FdBudget,
                },
                self.path.clone(),
                self.root_entry().is_some_and(Entry::is_dir),
                Origin::Rescan,
            ));
        }
    }

    /// Builds the root from scratch: name chain, then (for a directory) the
    /// tree and its files.
    fn rebuild(&mut self, fds: &mut Fds, config: &Config, notices: &mut Vec<Event>) {
        self.follow_name(fds, false);
        self.drop_subtree(fds, Path::new(""));
        match self.resolved.target.clone() {
            Some(target) if target.is_dir() => {
                self.snapshot = self.scan(fds, config, Path::new(""), target, notices);
                let files: Vec<PathBuf> = self.snapshot.entries.keys().cloned().collect();
                self.arm_files(fds, files, notices);
            }
            Some(target) => self.snapshot.insert(PathBuf::new(), target),
            None => {}
        }
        self.follow_name(fds, true);
    }

    /// Watches the tree directory at `rel`, which the budget refused
    /// earlier, and reports what it holds (origin Rescan).
    fn retry_blocked(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        rel: &Path,
        out: &mut Vec<Event>,
    ) -> Retry {
        let Some(entry) = self.snapshot.get(rel).cloned() else {
            return Retry::Stale;
        };
        let full = self.full(rel);
        let wanted = if rel.as_os_str().is_empty() {
            entry.is_dir()
        } else {
            self.wants_tree(&entry, &full, config)
        };
        // Below an unwatched directory it is that directory's retry that
        // scans it.
        let parent_watched = rel.parent().is_none_or(|p| self.dirs.contains_key(p));
        if !wanted || !parent_watched || self.dirs.contains_key(rel) {
            return Retry::Stale;
        }
        if !fds.room(true) {
            self.blocked.insert(rel.to_path_buf());
            return Retry::Budget;
        }
        let mut notices = Vec::new();
        let found = self.scan(fds, config, rel, entry, &mut notices);
        if !self.dirs.contains_key(rel) {
            // Refused again (the scan put it back among the blocked, and
            // its notice was given before) or gone (its parent reports it).
            return if self.blocked.contains(rel) {
                Retry::Budget
            } else {
                Retry::Stale
            };
        }
        let mut files = Vec::new();
        for (p, e) in found.entries {
            if p == rel || self.snapshot.get(&p).is_some_and(|old| old.same_object(&e)) {
                continue;
            }
            out.push(Event::new(
                EventKind::Created,
                self.full(&p),
                e.is_dir(),
                Origin::Rescan,
            ));
            files.push(p.clone());
            self.snapshot.insert(p, e);
        }
        out.extend(notices);
        self.arm_files(fds, files, out);
        Retry::Watched
    }

    /// Releases the descriptors at and below `rel` and forgets the snapshot there.
    fn drop_subtree(&mut self, fds: &mut Fds, rel: &Path) {
        for map in [&mut self.dirs, &mut self.files] {
            let gone: Vec<PathBuf> = map
                .range(rel.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(rel))
                .map(|(p, _)| p.clone())
                .collect();
            for p in gone {
                if let Some(token) = map.remove(&p) {
                    fds.release(token);
                }
            }
        }
        self.snapshot.remove_subtree(rel);
        self.blocked.retain(|p| !p.starts_with(rel));
    }

    /// Reports `rel` removed. A deleted directory was empty when it went,
    /// so everything known below it was deleted first: report that too
    /// (deepest first). A directory moved away keeps its contents: only
    /// the directory is reported.
    fn removed(&mut self, fds: &mut Fds, rel: &Path, is_dir: bool, out: &mut Vec<Event>) {
        let deleted = self.dirs.get(rel).is_some_and(|t| fds.deleted(*t));
        if deleted {
            let mut below: Vec<(PathBuf, bool)> = self
                .snapshot
                .subtree(rel)
                .filter(|(p, _)| p.as_path() != rel)
                .map(|(p, e)| (p.clone(), e.is_dir()))
                .collect();
            below.reverse();
            for (p, d) in below {
                out.push(Event::new(
                    EventKind::Removed,
                    self.full(&p),
                    d,
                    Origin::Kernel,
                ));
            }
        }
        self.drop_subtree(fds, rel);
        out.push(Event::new(
            EventKind::Removed,
            self.full(rel),
            is_dir,
            Origin::Kernel,
        ));
    }

    /// Moves what is known at and below `from` to `to`: descriptors follow
    /// their vnodes, so only their names change.
    fn move_tree(&mut self, fds: &mut Fds, from: &Path, to: &Path) {
        self.drop_subtree(fds, to);
        for (map, tree) in [(&mut self.dirs, true), (&mut self.files, false)] {
            let moved: Vec<(PathBuf, usize)> = map
                .range(from.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(from))
                .map(|(p, t)| (p.clone(), *t))
                .collect();
            for (old, token) in moved {
                let Ok(rest) = old.strip_prefix(from) else {
                    continue;
                };
                let new = join_rel(to, rest);
                map.remove(&old);
                map.insert(new.clone(), token);
                fds.set_role(
                    token,
                    if tree {
                        Role::Tree(new)
                    } else {
                        Role::File(new)
                    },
                );
            }
        }
        self.snapshot.move_subtree(from, to);
        let moved: Vec<PathBuf> = self
            .blocked
            .iter()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in moved {
            self.blocked.remove(&old);
            if let Ok(rest) = old.strip_prefix(from) {
                self.blocked.insert(join_rel(to, rest));
            }
        }
    }

    fn wants_tree(&self, entry: &Entry, full: &Path, config: &Config) -> bool {
        self.mode == RecursiveMode::Recursive
            && (entry.is_dir()
                || (entry.kind == EntryKind::Symlink
                    && config.follow_symlinks
                    && fs::metadata(full).is_ok_and(|m| m.is_dir())))
    }

    /// Lists the dirty directories again and reports how their entries
    /// differ from the snapshot; updates snapshot and descriptors. Returns
    /// the dirty directories that could not be listed because they had been
    /// renamed, under the names the listings found for them.
    fn rescan_dirs(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        dirty: &BTreeSet<PathBuf>,
        out: &mut Vec<Event>,
    ) -> BTreeSet<PathBuf> {
        let mut old = Snapshot::default();
        let mut new = Snapshot::default();
        let mut listed: Vec<PathBuf> = Vec::new();
        let mut unlisted: Vec<(PathBuf, Armed)> = Vec::new();
        for d in dirty {
            let Some(armed) = self.dirs.get(d).and_then(|t| fds.armed(*t)) else {
                continue;
            };
            let Some(known) = self.snapshot.get(d).cloned() else {
                continue;
            };
            let full = self.full(d);
            let now = if d.as_os_str().is_empty() {
                fs::metadata(&full).map(|m| Entry::from_metadata(&m, None))
            } else {
                Entry::lstat(&full)
            };
            // Gone or replaced (by a symlink too: listing through it would
            // read another directory): its parent's listing (or the root's
            // anchors) report that. A followed symlink is known as itself.
            if !now.is_ok_and(|n| n.same_object(&known)) {
                unlisted.push((d.clone(), armed));
                continue;
            }
            let Ok(reader) = fs::read_dir(&full) else {
                continue;
            };
            old.insert(d.clone(), known.clone());
            new.insert(d.clone(), known);
            for (p, e) in self.snapshot.subtree(d) {
                if p.parent() == Some(d.as_path()) {
                    old.insert(p.clone(), e.clone());
                }
            }
            for item in reader.flatten() {
                let name = item.file_name();
                if cookie::is_cookie(&name) {
                    continue;
                }
                let child_full = full.join(&name);
                if config.is_excluded(&child_full) {
                    continue;
                }
                let Ok(entry) = Entry::lstat(&child_full) else {
                    continue; // vanished meanwhile: no longer there
                };
                new.insert(join_rel(d, Path::new(&name)), entry);
            }
            listed.push(d.clone());
        }
        if listed.is_empty() {
            return BTreeSet::new();
        }
        let events = diff(&self.path, &old, &new, Origin::Kernel);
        // diff reports a moved directory as removed + created: pair them by
        // (device, inode) into a rename.
        let rel_of = |e: &Event| e.path.strip_prefix(&self.path).ok().map(Path::to_path_buf);
        let mut gone_dirs: HashMap<(u64, u64), PathBuf> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e.kind == EventKind::Removed && e.is_dir)
        {
            if let Some(rel) = rel_of(e)
                && let Some(en) = old.get(&rel)
            {
                gone_dirs.insert((en.dev, en.ino), rel);
            }
        }
        let mut dir_moves: HashMap<PathBuf, PathBuf> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e.kind == EventKind::Created && e.is_dir)
        {
            if let Some(rel) = rel_of(e)
                && let Some(en) = new.get(&rel)
                && en.kind == EntryKind::Dir
                && let Some(from) = gone_dirs.remove(&(en.dev, en.ino))
            {
                dir_moves.insert(rel, from);
            }
        }
        let mut to_arm = Vec::new();
        for event in order_listing(events, &self.path, &dir_moves) {
            let Ok(rel) = event.path.strip_prefix(&self.path).map(Path::to_path_buf) else {
                continue;
            };
            match &event.kind {
                EventKind::Removed => self.removed(fds, &rel, event.is_dir, out),
                EventKind::Renamed { from } if event.is_dir => {
                    let Ok(from_rel) = from.strip_prefix(&self.path).map(Path::to_path_buf) else {
                        continue;
                    };
                    self.move_tree(fds, &from_rel, &rel);
                    if let Some(entry) = new.get(&rel).cloned() {
                        self.snapshot.insert(rel.clone(), entry);
                    }
                    out.push(event);
                }
                EventKind::Renamed { from } => {
                    let Ok(from_rel) = from.strip_prefix(&self.path).map(Path::to_path_buf) else {
                        continue;
                    };
                    self.drop_subtree(fds, &rel);
                    self.snapshot.move_subtree(&from_rel, &rel);
                    // The rename moved the file's ctime: keep what the
                    // listing saw, or the next one would report a rewrite.
                    if let Some(entry) = new.get(&rel) {
                        self.snapshot.insert(rel.clone(), entry.clone());
                    }
                    // A file's descriptor follows its inode to the new name.
                    if let Some(token) = self.files.remove(&from_rel) {
                        self.files.insert(rel.clone(), token);
                        fds.set_role(token, Role::File(rel.clone()));
                    }
                    out.push(event);
                }
                EventKind::Created => {
                    let Some(entry) = new.get(&rel).cloned() else {
                        continue;
                    };
                    self.drop_subtree(fds, &rel);
                    self.snapshot.insert(rel.clone(), entry.clone());
                    let full = self.full(&rel);
                    out.push(event);
                    if self.wants_tree(&entry, &full, config) {
                        let mut notices = Vec::new();
                        let found = self.scan(fds, config, &rel, entry, &mut notices);
                        for (p, e) in found.entries {
                            if p == rel {
                                continue;
                            }
                            out.push(Event::new(
                                EventKind::Created,
                                self.full(&p),
                                e.is_dir(),
                                Origin::Rescan,
                            ));
                            to_arm.push(p.clone());
                            self.snapshot.insert(p, e);
                        }
                        out.extend(notices);
                    } else {
                        to_arm.push(rel);
                    }
                }
                EventKind::Modified | EventKind::Metadata => {
                    if let Some(entry) = new.get(&rel).cloned() {
                        self.snapshot.insert(rel, entry);
                    }
                    out.push(event);
                }
                _ => out.push(event),
            }
        }
        self.arm_files(fds, to_arm, out);
        unlisted
            .into_iter()
            .filter_map(|(was, (token, serial))| match fds.slots.get(token) {
                Some(Some(slot)) if slot.serial == serial => match &slot.role {
                    Role::Tree(now) if *now != was => Some(now.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// A write or attribute change on a known entry.
    fn changed(&mut self, rel: &Path, written: bool, attrib: bool, out: &mut Vec<Event>) {
        let Some(known) = self.snapshot.get(rel).cloned() else {
            return;
        };
        let full = self.full(rel);
        let now = if rel.as_os_str().is_empty() {
            fs::metadata(&full).map(|m| Entry::from_metadata(&m, None))
        } else {
            Entry::lstat(&full)
        };
        let Ok(now) = now else { return };
        if !now.same_object(&known) {
            return; // replaced: the directory's listing reports it
        }
        if !known.is_dir() && (written || (attrib && now.size != known.size)) {
            out.push(Event::new(
                EventKind::Modified,
                full.clone(),
                false,
                Origin::Kernel,
            ));
        }
        // A directory's attribute note can stand for its entries' (libkqueue
        // passes them on from inotify): report only a real change.
        if attrib && (!known.is_dir() || now.metadata_differs(&known)) {
            out.push(Event::new(
                EventKind::Metadata,
                full,
                known.is_dir(),
                Origin::Kernel,
            ));
        }
        self.snapshot.insert(rel.to_path_buf(), now);
    }

    /// Re-resolves the root path and reports how what it names changed.
    fn refresh(&mut self, fds: &mut Fds, config: &Config, written: bool, out: &mut Vec<Event>) {
        self.follow_name(fds, true);
        let old = self.root_entry().cloned();
        let new = self.resolved.target.clone();
        let path = self.path.clone();
        match (old, new) {
            (None, None) => {}
            (Some(o), Some(n)) if o.same_object(&n) => {
                if !n.is_dir() && (o.content_differs(&n) || written) {
                    out.push(Event::new(
                        EventKind::Modified,
                        path.clone(),
                        false,
                        Origin::Kernel,
                    ));
                }
                if o.metadata_differs(&n) {
                    out.push(Event::new(
                        EventKind::Metadata,
                        path,
                        n.is_dir(),
                        Origin::Kernel,
                    ));
                }
                self.snapshot.insert(PathBuf::new(), n);
            }
            (Some(o), Some(n)) if !o.is_dir() && !n.is_dir() => {
                // Atomic save or symlink swap: the name now means new content.
                out.push(Event::new(EventKind::Modified, path, false, Origin::Kernel));
                self.snapshot.insert(PathBuf::new(), n);
            }
            (old, new) => {
                if let Some(o) = old {
                    self.removed(fds, Path::new(""), o.is_dir(), out);
                }
                if let Some(n) = new {
                    out.push(Event::new(
                        EventKind::Created,
                        path.clone(),
                        n.is_dir(),
                        Origin::Kernel,
                    ));
                    self.snapshot.insert(PathBuf::new(), n.clone());
                    if n.is_dir() {
                        let mut notices = Vec::new();
                        let found = self.scan(fds, config, Path::new(""), n, &mut notices);
                        let mut files = Vec::new();
                        for (p, e) in found.entries {
                            if p.as_os_str().is_empty() {
                                continue;
                            }
                            out.push(Event::new(
                                EventKind::Created,
                                self.full(&p),
                                e.is_dir(),
                                Origin::Rescan,
                            ));
                            files.push(p.clone());
                            self.snapshot.insert(p, e);
                        }
                        out.extend(notices);
                        self.arm_files(fds, files, out);
                    }
                }
            }
        }
    }

    fn apply(&mut self, fds: &mut Fds, config: &Config, work: Work, out: &mut Vec<Event>) {
        if let Some(written) = work.refresh {
            self.refresh(fds, config, written, out);
        }
        let mut dirty = work.dirty;
        // A dirty directory renamed before it could be listed is listed
        // under its new name once its parent's listing found the rename.
        for _ in 0..8 {
            if dirty.is_empty() || !self.root_entry().is_some_and(Entry::is_dir) {
                break;
            }
            dirty = self.rescan_dirs(fds, config, &dirty, out);
        }
        // Each descriptor's path now, after the renames above.
        let mut touched: BTreeMap<PathBuf, (bool, bool)> = BTreeMap::new();
        for (armed, written) in work
            .written
            .iter()
            .map(|a| (a, true))
            .chain(work.attrib.iter().map(|a| (a, false)))
        {
            let rel = match fds.slots.get(armed.0) {
                Some(Some(slot)) if slot.serial == armed.1 && slot.root == self.id => {
                    match &slot.role {
                        Role::Tree(rel) | Role::File(rel) => rel.clone(),
                        Role::Anchor | Role::Ancestor | Role::Target => continue,
                    }
                }
                _ => continue, // released since: its removal is reported
            };
            let flags = touched.entry(rel).or_default();
            if written {
                flags.0 = true;
            } else {
                flags.1 = true;
            }
        }
        for (rel, (written, attrib)) in touched {
            if rel.as_os_str().is_empty() && !self.root_entry().is_some_and(Entry::is_dir) {
                continue; // a file root is handled by `refresh`
            }
            self.changed(&rel, written, attrib, out);
        }
    }

    fn release(&mut self, fds: &mut Fds) {
        self.drop_subtree(fds, Path::new(""));
        if let Some((_, _, token)) = self.target.take() {
            fds.release(token);
        }
        for (_, _, token) in std::mem::take(&mut self.anchors)
            .into_iter()
            .chain(std::mem::take(&mut self.ancestors))
        {
            fds.release(token);
        }
    }

    /// Where a sync cookie for this root goes, and the descriptor that sees it.
    fn cookie_dir(&self) -> Option<(PathBuf, usize)> {
        // The root directory, if its path still leads to the vnode we hold
        // (through a swapped symlink it may not: the cookie would go unseen).
        if let Some(root) = self.root_entry()
            && root.is_dir()
            && let Some(token) = self.dirs.get(Path::new(""))
            && fs::metadata(&self.path).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino()) == (root.dev, root.ino)
            })
        {
            return Some((self.path.clone(), *token));
        }
        let (dir, _) = self.resolved.last()?;
        self.anchors
            .iter()
            .find(|(d, _, _)| d == dir)
            .map(|(d, _, token)| (d.clone(), *token))
    }
}

/// Orders the events of one listing pass (`dir_moves`: directories found
/// moved, new relative path -> old one) so that folding them gives the
/// tree: removals, then every rename (files renamed, directories moved),
/// where a rename onto the source of another waits for that one and a
/// cycle (a swap) is broken into a removal and a later creation, then
/// creations (parents first), then changes.
fn order_listing(
    events: Vec<Event>,
    root: &Path,
    dir_moves: &HashMap<PathBuf, PathBuf>,
) -> Vec<Event> {
    let moved_from: HashSet<&PathBuf> = dir_moves.values().collect();
    let mut ordered = Vec::with_capacity(events.len());
    let (mut moves, mut creations, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    for event in events {
        let Ok(rel) = event.path.strip_prefix(root) else {
            continue;
        };
        match &event.kind {
            EventKind::Removed if moved_from.contains(&rel.to_path_buf()) => {}
            EventKind::Removed => ordered.push(event),
            EventKind::Renamed { .. } => moves.push(event),
            EventKind::Created => match dir_moves.get(rel) {
                Some(from) => moves.push(Event::new(
                    EventKind::Renamed {
                        from: join_rel(root, from),
                    },
                    event.path,
                    true,
                    event.origin,
                )),
                None => creations.push(event),
            },
            _ => changes.push(event),
        }
    }
    while !moves.is_empty() {
        let sources: HashSet<PathBuf> = moves
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Renamed { from } => Some(from.clone()),
                _ => None,
            })
            .collect();
        let (ready, waiting): (Vec<Event>, Vec<Event>) =
            moves.into_iter().partition(|e| !sources.contains(&e.path));
        moves = waiting;
        if ready.is_empty() {
            let broken = moves.remove(0);
            if let EventKind::Renamed { from } = &broken.kind {
                ordered.push(Event::new(
                    EventKind::Removed,
                    from.clone(),
                    broken.is_dir,
                    broken.origin,
                ));
            }
            creations.push(Event::new(
                EventKind::Created,
                broken.path,
                broken.is_dir,
                broken.origin,
            ));
        }
        ordered.extend(ready);
    }
    creations.sort_by(|a, b| a.path.cmp(&b.path));
    ordered.extend(creations);
    ordered.extend(changes);
    ordered
}

pub(crate) struct KqueueDriver {
    config: Config,
    fds: Fds,
    roots: Vec<Option<Root>>,
    buf: Vec<RawEvent>,
    /// Tokens (as filled then) that produced an event since the last `sync` began.
    seen: HashSet<Armed>,
    /// A waker fired and no `read_events` has returned for it yet.
    woken: bool,
}

impl KqueueDriver {
    pub(crate) fn boxed(config: Config) -> Result<Box<dyn Driver>, Error> {
        let kq = Kqueue::new().map_err(|e| match e.kind() {
            kqueue::ErrorKind::FdLimit | kqueue::ErrorKind::SystemFdLimit => {
                Error::FdLimit { path: None }
            }
            _ => Error::io(None, std::io::Error::from(e)),
        })?;
        kq.apply_one(Change::user(WAKE_IDENT, WAKE_TOKEN))
            .map_err(|e| Error::io(None, std::io::Error::from(e)))?;
        let budget = config.fd_budget.unwrap_or_else(|| {
            kqueue::fd_limit()
                .and_then(|n| usize::try_from(n / 2).ok())
                .unwrap_or(DEFAULT_BUDGET)
                .max(8)
        });
        Ok(Box::new(KqueueDriver {
            config,
            fds: Fds {
                kq,
                slots: Vec::new(),
                free: Vec::new(),
                open: 0,
                budget,
                serial: 0,
                freed: false,
            },
            roots: Vec::new(),
            buf: Vec::with_capacity(EVENTS_PER_READ),
            seen: HashSet::new(),
            woken: false,
        }))
    }

    fn root_index(&self, path: &Path) -> Option<usize> {
        self.roots
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.path == path))
    }

    /// Waits up to `timeout` for events and handles them; returns whether
    /// there were any.
    fn read_once(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> Result<bool, Error> {
        self.buf.clear();
        let n = self
            .fds
            .kq
            .wait(&mut self.buf, timeout)
            .map_err(|e| Error::io(None, std::io::Error::from(e)))?;
        if n == 0 {
            return Ok(false);
        }
        let mut work: HashMap<usize, Work> = HashMap::new();
        for ev in self.buf.iter().map(RawEvent::decode) {
            if ev.filter() == Filter::User && ev.token() == WAKE_TOKEN {
                self.woken = true;
                continue;
            }
            let token = ev.token().0;
            let Some(Some(slot)) = self.fds.slots.get(token) else {
                continue; // released since
            };
            self.seen.insert((token, slot.serial));
            let Some(notes) = ev.vnode() else { continue };
            let w = work.entry(slot.root).or_default();
            let wrote = notes.intersects(VnodeEvents::WRITE | VnodeEvents::EXTEND);
            let attrib = notes.contains(VnodeEvents::ATTRIB);
            let gone = notes.intersects(VnodeEvents::DELETE | VnodeEvents::RENAME)
                || notes.bits() & 0x40 != 0; // NOTE_REVOKE where it exists
            match &slot.role {
                Role::Anchor | Role::Ancestor => {
                    w.refresh.get_or_insert(false);
                }
                Role::Target => {
                    let refresh = w.refresh.get_or_insert(false);
                    *refresh |= wrote;
                }
                Role::Tree(rel) => {
                    if wrote || notes.contains(VnodeEvents::LINK) {
                        w.dirty.insert(rel.clone());
                    }
                    if attrib {
                        w.attrib.insert((token, slot.serial));
                    }
                    if gone {
                        match rel.parent() {
                            Some(parent) => {
                                w.dirty.insert(parent.to_path_buf());
                            }
                            None => {
                                w.refresh.get_or_insert(false);
                            }
                        }
                    }
                }
                Role::File(rel) => {
                    if wrote {
                        w.written.insert((token, slot.serial));
                    }
                    if attrib {
                        w.attrib.insert((token, slot.serial));
                    }
                    if gone || notes.contains(VnodeEvents::LINK) {
                        w.dirty
                            .insert(rel.parent().unwrap_or(Path::new("")).to_path_buf());
                    }
                }
            }
        }
        let mut ids: Vec<usize> = work.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(w) = work.remove(&id) else { continue };
            if let Some(root) = self.roots.get_mut(id).and_then(Option::as_mut) {
                root.apply(&mut self.fds, &self.config, w, out);
            }
        }
        Ok(true)
    }

    /// Once a descriptor was released, watches the directories the budget
    /// refused, root by root in path order, until it refuses one again.
    fn retry_blocked(&mut self, out: &mut Vec<Event>) {
        if !std::mem::take(&mut self.fds.freed) {
            return;
        }
        for root in self.roots.iter_mut().flatten() {
            let pending: Vec<PathBuf> = std::mem::take(&mut root.blocked).into_iter().collect();
            let mut pending = pending.into_iter();
            while let Some(rel) = pending.next() {
                if root.retry_blocked(&mut self.fds, &self.config, &rel, out) == Retry::Budget {
                    root.blocked.extend(pending);
                    return;
                }
            }
        }
    }

    /// Handles everything already queued, without waiting; then, with
    /// every path current, retries what the budget refused.
    fn drain(&mut self, out: &mut Vec<Event>) -> Result<(), Error> {
        for _ in 0..MAX_READS {
            if !self.read_once(Some(Duration::ZERO), out)? {
                break;
            }
        }
        self.retry_blocked(out);
        Ok(())
    }

    /// Writes one sync cookie; returns the token (as filled now) of the
    /// directory that sees it.
    fn write_cookie(&self) -> Result<Option<Armed>, Error> {
        let mut dirs: Vec<(PathBuf, usize)> = self
            .roots
            .iter()
            .flatten()
            .filter_map(Root::cookie_dir)
            .collect();
        dirs.extend(
            self.roots
                .iter()
                .flatten()
                .flat_map(|r| r.anchors.iter().map(|(d, _, token)| (d.clone(), *token))),
        );
        let mut first_error = None;
        for (dir, token) in dirs {
            let name: OsString = cookie::fresh_name();
            match cookie::touch(&dir, &name) {
                Ok(_) => return Ok(self.fds.armed(token)),
                Err(e) if cookie::is_unwritable(&e) => {}
                Err(e) => {
                    first_error.get_or_insert(Error::io(dir, e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

impl Driver for KqueueDriver {
    fn kind(&self) -> Backend {
        Backend::Kqueue
    }

    fn add_root(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        if self.root_index(path).is_some() {
            self.remove_root(path)?;
        }
        let id = self
            .roots
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.roots.len());
        let mut root = Root {
            id,
            path: path.to_path_buf(),
            mode,
            resolved: Resolved::default(),
            anchors: Vec::new(),
            ancestors: Vec::new(),
            dirs: BTreeMap::new(),
            files: BTreeMap::new(),
            target: None,
            snapshot: Snapshot::default(),
            budget_noted: false,
            blocked: BTreeSet::new(),
        };
        root.rebuild(&mut self.fds, &self.config, out);
        if id == self.roots.len() {
            self.roots.push(Some(root));
        } else {
            self.roots[id] = Some(root);
        }
        Ok(())
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        let Some(i) = self.root_index(path) else {
            return Err(Error::NotWatched {
                path: path.to_path_buf(),
            });
        };
        if let Some(mut root) = self.roots[i].take() {
            root.release(&mut self.fds);
        }
        Ok(())
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let start = out.len();
        loop {
            self.drain(out)?;
            if out.len() > start {
                return Ok(());
            }
            // A read that may not wait leaves a wake for one that would.
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Ok(());
                    }
                    Some(d - now)
                }
            };
            if std::mem::take(&mut self.woken) {
                return Ok(());
            }
            // kevent() returning nothing before the deadline (libkqueue
            // does, after a note it filters out) is no timeout: the loop
            // waits again for what is left.
            self.read_once(timeout, out)?;
            if out.len() > start || std::mem::take(&mut self.woken) {
                return Ok(());
            }
        }
    }

    /// Writes a cookie and handles events until its directory's note is
    /// seen. When that descriptor is released meanwhile (its path now leads
    /// elsewhere: a swapped symlink, a replaced root), the cookie may have
    /// gone where nothing sees it, so another one is written.
    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error> {
        self.seen.clear();
        // Descriptors may have been freed where the budget cannot see it
        // (closed elsewhere in the process, a raised limit): try again.
        self.fds.freed = true;
        let mut cookie = self.write_cookie()?;
        loop {
            self.drain(out)?;
            let Some((token, serial)) = cookie else {
                return Ok(());
            };
            if self.seen.contains(&(token, serial)) {
                return Ok(());
            }
            let now = Instant::now();
            if deadline <= now {
                return Err(Error::SyncTimeout {
                    waited: Duration::default(),
                });
            }
            if self.fds.armed(token) != Some((token, serial)) {
                cookie = self.write_cookie()?;
            } else {
                // No event is no timeout yet: libkqueue's kevent() can
                // return none early. The deadline is checked above.
                self.read_once(Some(deadline - now), out)?;
            }
        }
    }

    fn watch_count(&self) -> usize {
        self.fds.open
    }

    fn waker(&self) -> Waker {
        Waker::new(std::sync::Arc::new(
            self.fds.kq.user_trigger(WAKE_IDENT, WAKE_TOKEN),
        ))
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fds.kq.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::Watcher;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("watch-core-kq-{tag}-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const LONG: Duration = Duration::from_secs(60);

    fn drain(w: &mut Watcher) -> Vec<Event> {
        let mut events = Vec::new();
        while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
        events
    }

    fn budget_notices(events: &[Event]) -> Vec<&Event> {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::Skipped {
                        reason: SkipReason::FdBudget
                    }
                )
            })
            .collect()
    }

    #[test]
    fn past_the_budget_files_degrade_once_and_changes_are_still_seen() {
        let tmp = TempDir::new("budget");
        for i in 0..20 {
            fs::write(tmp.0.join(format!("f{i}")), b"x").unwrap();
        }
        let config = Config::default().backend(Backend::Kqueue).fd_budget(8);
        let mut w = Watcher::with_config(config).unwrap();
        w.watch(&tmp.0, RecursiveMode::Recursive).unwrap();
        let events = drain(&mut w);
        assert_eq!(budget_notices(&events).len(), 1, "{events:?}");
        assert!(w.watch_count() <= 8, "{} descriptors", w.watch_count());

        // More files past the budget: not said again, and creations (a
        // directory-level change) are still reported.
        for i in 20..30 {
            fs::write(tmp.0.join(format!("f{i}")), b"x").unwrap();
        }
        w.sync(LONG).unwrap();
        let events = drain(&mut w);
        assert!(budget_notices(&events).is_empty(), "{events:?}");
        for i in 20..30 {
            let path = tmp.0.join(format!("f{i}"));
            assert!(
                events
                    .iter()
                    .any(|e| e.kind == EventKind::Created && e.path == path),
                "f{i} missing: {events:?}"
            );
        }
        assert!(w.watch_count() <= 8);
    }

    #[test]
    fn past_the_budget_directories_are_skipped_not_failed() {
        let tmp = TempDir::new("budget-dirs");
        for i in 0..12 {
            fs::create_dir(tmp.0.join(format!("d{i}"))).unwrap();
        }
        let config = Config::default().backend(Backend::Kqueue).fd_budget(6);
        let mut w = Watcher::with_config(config).unwrap();
        w.watch(&tmp.0, RecursiveMode::Recursive).unwrap();
        let events = drain(&mut w);
        assert!(!budget_notices(&events).is_empty(), "{events:?}");
        assert!(w.watch_count() <= 6);
        // The root is still watched: a new entry is reported.
        fs::write(tmp.0.join("new"), b"x").unwrap();
        w.sync(LONG).unwrap();
        let events = drain(&mut w);
        assert!(
            events
                .iter()
                .any(|e| e.kind == EventKind::Created && e.path == tmp.0.join("new")),
            "{events:?}"
        );
    }

    #[test]
    fn unwatch_releases_every_descriptor() {
        let tmp = TempDir::new("release");
        fs::create_dir(tmp.0.join("d")).unwrap();
        fs::write(tmp.0.join("d/f"), b"x").unwrap();
        let mut w = Watcher::with_config(Config::default().backend(Backend::Kqueue)).unwrap();
        w.watch(&tmp.0, RecursiveMode::Recursive).unwrap();
        // Root, d, d/f, and the parent followed for the name.
        assert_eq!(w.watch_count(), 4);
        w.unwatch(&tmp.0).unwrap();
        assert_eq!(w.watch_count(), 0);
    }
}
