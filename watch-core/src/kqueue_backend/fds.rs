//! The kqueue, its descriptor budget, and what each registered descriptor is for.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use kqueue::{Changes, Kqueue, Token, VnodeEvents, VnodeOptions, VnodeWatch};

use crate::root_layer::{ArmError, Role, SharedPath, WatchTable};
use crate::{Error, SkipReason};

pub(super) struct Slot {
    // Dropping it deletes the registration, then closes the descriptor.
    pub(super) watch: VnodeWatch,
    pub(super) root: usize,
    pub(super) role: Role,
    /// Which filling of this token it is: a token is reused once released,
    /// and a sync must not take an event of the new vnode for its cookie's.
    pub(super) serial: u64,
}

/// A token as filled at one time: its number and [`Slot::serial`].
pub(super) type Armed = (usize, u64);

/// Why a vnode could not be opened or registered at `path`.
fn arm_error(err: &kqueue::Error, path: &Path) -> ArmError {
    use kqueue::ErrorKind as K;
    match err.kind() {
        K::FdLimit | K::SystemFdLimit => budget_spent(path),
        K::NotFound | K::NotADirectory | K::IsSymlink => ArmError::Gone,
        K::PermissionDenied => ArmError::Refused {
            reason: SkipReason::PermissionDenied,
            error: Error::PermissionDenied {
                path: path.to_path_buf(),
            },
        },
        _ => ArmError::Refused {
            reason: SkipReason::Other(err.to_string()),
            error: Error::io(path.to_path_buf(), std::io::Error::other(err.to_string())),
        },
    }
}

/// The budget (or the process's descriptor limit) is spent.
fn budget_spent(path: &Path) -> ArmError {
    ArmError::Full {
        reason: SkipReason::FdBudget,
        error: Error::FdLimit {
            path: Some(path.to_path_buf()),
        },
    }
}

/// The kqueue and every descriptor registered with it, by token.
pub(super) struct Fds {
    pub(super) kq: Kqueue,
    pub(super) slots: Vec<Option<Slot>>,
    pub(super) free: Vec<usize>,
    pub(super) open: usize,
    pub(super) budget: usize,
    /// Fillings so far: the next [`Slot::serial`].
    pub(super) serial: u64,
    /// Tree directories the budget refused, as (root, relative path).
    pub(super) blocked: BTreeSet<(usize, PathBuf)>,
    /// A descriptor was released (or a sync asked) since the directories
    /// the budget refused were last tried.
    pub(super) freed: bool,
}

impl Fds {
    /// Whether one more descriptor fits: directories, anchors and targets
    /// may use the whole budget, files three quarters of it.
    pub(super) fn room(&self, essential: bool) -> bool {
        let cap = if essential {
            self.budget
        } else {
            self.budget.saturating_mul(3) / 4
        };
        self.open < cap
    }

    pub(super) fn options(dir: bool, follow: bool) -> VnodeOptions {
        VnodeOptions::new().directory(dir).no_follow(!follow)
    }

    /// A free token (its slot stays empty until [`Fds::fill`]).
    pub(super) fn reserve(&mut self) -> usize {
        match self.free.pop() {
            Some(token) => token,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        }
    }

    pub(super) fn unreserve(&mut self, token: usize) {
        self.free.push(token);
    }

    pub(super) fn fill(&mut self, token: usize, watch: VnodeWatch, root: usize, role: Role) {
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
    pub(super) fn armed(&self, token: usize) -> Option<Armed> {
        match self.slots.get(token) {
            Some(Some(slot)) => Some((token, slot.serial)),
            _ => None,
        }
    }

    /// Opens and registers one vnode (one `kevent()` call) for `notes`.
    /// Only directories, anchors and targets may use the whole budget.
    fn arm_vnode(
        &mut self,
        path: &Path,
        (dir, follow): (bool, bool),
        root: usize,
        role: Role,
        notes: VnodeEvents,
    ) -> Result<usize, ArmError> {
        let essential = !matches!(role, Role::Ancestor(_) | Role::File(_));
        if !self.room(essential) {
            return Err(budget_spent(path));
        }
        let watch = VnodeWatch::open(&self.kq, path, Fds::options(dir, follow))
            .map_err(|e| arm_error(&e, path))?;
        let token = self.reserve();
        match self.kq.apply_one(watch.change(notes, Token(token))) {
            Ok(()) => {
                self.fill(token, watch, root, role);
                Ok(token)
            }
            Err(e) => {
                self.unreserve(token);
                Err(arm_error(&e, path))
            }
        }
    }

    /// Opens and registers many files with one `kevent()` call. Returns
    /// the token of each one armed, and the files the budget (or the
    /// process's descriptor limit) refused.
    fn open_files(
        &mut self,
        root: usize,
        files: Vec<(PathBuf, PathBuf)>,
    ) -> (Vec<(SharedPath, usize)>, Vec<PathBuf>) {
        let cap = self.budget.saturating_mul(3) / 4;
        let mut opened: Vec<(PathBuf, VnodeWatch, usize)> = Vec::with_capacity(files.len());
        let mut refused = Vec::new();
        let mut changes = Changes::with_capacity(files.len());
        let mut files = files.into_iter();
        for (full, rel) in files.by_ref() {
            if self.open + opened.len() >= cap {
                refused.push(rel);
                break;
            }
            match VnodeWatch::open(&self.kq, &full, Fds::options(false, false)) {
                Ok(w) => {
                    let token = self.reserve();
                    changes.push(w.change(VnodeEvents::classic(), Token(token)));
                    opened.push((rel, w, token));
                }
                Err(e) => {
                    if let ArmError::Full { .. } = arm_error(&e, &full) {
                        refused.push(rel);
                        break;
                    }
                }
            }
        }
        refused.extend(files.map(|(_, rel)| rel));
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
            let rel = SharedPath::from(rel);
            self.fill(token, w, root, Role::File(rel.clone()));
            armed.push((rel, token));
        }
        (armed, refused)
    }

    fn close(&mut self, token: usize) {
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
    fn unlinked(&self, token: usize) -> bool {
        matches!(self.slots.get(token), Some(Some(slot)) if slot.watch.link_count().is_ok_and(|n| n == 0))
    }

    fn set_role(&mut self, token: usize, role: Role) {
        if let Some(Some(slot)) = self.slots.get_mut(token) {
            slot.role = role;
        }
    }
}

/// Registered for an ancestor directory: being renamed, deleted or revoked
/// (not its entries changing).
fn ancestor_notes() -> VnodeEvents {
    VnodeEvents::classic()
        - (VnodeEvents::WRITE | VnodeEvents::EXTEND | VnodeEvents::ATTRIB | VnodeEvents::LINK)
}

impl WatchTable for Fds {
    type Handle = usize;
    type State = ();
    const FILES: bool = true;

    fn arm(&mut self, id: usize, at: &Path, role: Role, follow: bool) -> Result<usize, ArmError> {
        let (how, notes) = match role {
            Role::Tree(_) => ((true, follow), VnodeEvents::classic()),
            Role::Anchor(_) => ((true, true), VnodeEvents::classic()),
            Role::Ancestor(_) => ((true, true), ancestor_notes()),
            Role::Target | Role::File(_) => ((false, false), VnodeEvents::classic()),
        };
        self.arm_vnode(at, how, id, role, notes)
    }

    fn arm_files(
        &mut self,
        root: usize,
        files: Vec<(PathBuf, PathBuf)>,
    ) -> (Vec<(SharedPath, usize)>, Vec<PathBuf>) {
        self.open_files(root, files)
    }

    fn release(&mut self, _root: usize, token: usize, _role: Role) {
        self.close(token);
    }

    fn repath(&mut self, _root: usize, token: usize, _old: Role, new: Role) {
        self.set_role(token, new);
    }

    fn deleted(&self, token: usize) -> bool {
        self.unlinked(token)
    }

    fn blocked(&mut self) -> &mut BTreeSet<(usize, PathBuf)> {
        &mut self.blocked
    }

    fn take_freed(&mut self) -> bool {
        std::mem::take(&mut self.freed)
    }
}
