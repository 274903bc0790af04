//! The kqueue, its descriptor budget, and what each registered descriptor is for.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use kqueue::{Changes, Kqueue, Token, VnodeEvents, VnodeOptions, VnodeWatch};

use crate::SkipReason;

/// Why a root holds a descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Role {
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

/// Why a descriptor could not be armed.
pub(super) enum ArmError {
    /// The budget (or the process's descriptor limit) is spent.
    Budget,
    /// The path vanished or changed type meanwhile: its parent's events
    /// report it.
    Gone,
    /// Anything else, as a skip reason.
    Failed(SkipReason),
}

impl ArmError {
    pub(super) fn from_kqueue(err: &kqueue::Error) -> ArmError {
        use kqueue::ErrorKind as K;
        match err.kind() {
            K::FdLimit | K::SystemFdLimit => ArmError::Budget,
            K::NotFound | K::NotADirectory | K::IsSymlink => ArmError::Gone,
            K::PermissionDenied => ArmError::Failed(SkipReason::PermissionDenied),
            _ => ArmError::Failed(SkipReason::Other(err.to_string())),
        }
    }

    /// The scan hook's verdict: skipped for a reason, or (`None`) vanished.
    pub(super) fn skip_reason(self) -> Option<SkipReason> {
        match self {
            ArmError::Budget => Some(SkipReason::FdBudget),
            ArmError::Gone => None,
            ArmError::Failed(reason) => Some(reason),
        }
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

    /// Opens and registers one vnode (one `kevent()` call).
    pub(super) fn arm(
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
    pub(super) fn arm_notes(
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
    pub(super) fn arm_files(
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

    pub(super) fn release(&mut self, token: usize) {
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
    pub(super) fn deleted(&self, token: usize) -> bool {
        matches!(self.slots.get(token), Some(Some(slot)) if slot.watch.link_count().is_ok_and(|n| n == 0))
    }

    pub(super) fn set_role(&mut self, token: usize, role: Role) {
        if let Some(Some(slot)) = self.slots.get_mut(token) {
            slot.role = role;
        }
    }
}
