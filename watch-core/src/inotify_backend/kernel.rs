//! The inotify instance, who uses each of its watches, and error mapping.

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use inotify::{Inotify, WatchDescriptor, WatchMask};

use super::links::Links;
use crate::fast_hash::FastHash;
use crate::resolve::DirId;
use crate::root_layer::{ArmError, Role, SharedPath, WatchTable};
use crate::{Error, SkipReason};

/// What every tree directory watch listens for. The same mask everywhere
/// (added without `MASK_ADD`, it replaces what the watch asked for), and a
/// superset of what an anchor or ancestor asks for, so a directory shared
/// by several roots never has its mask narrowed.
pub(super) fn dir_mask(follow: bool) -> WatchMask {
    let mask = WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK;
    if follow {
        mask
    } else {
        mask | WatchMask::DONT_FOLLOW
    }
}

/// A watch of the backend's one instance, by the kernel's descriptor
/// number alone: all the watches are that instance's, so the number names
/// one. A [`WatchDescriptor`] also carries the instance: 16 bytes against
/// 4, in every slot of the tables with one slot per watched directory (the
/// uses, each root's tree directories).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Wd(i32);

impl Wd {
    /// The kernel's number.
    pub(super) fn raw(self) -> i32 {
        self.0
    }
}

impl From<WatchDescriptor> for Wd {
    fn from(wd: WatchDescriptor) -> Wd {
        Wd(wd.raw())
    }
}

mod users;
mod uses;

#[cfg(test)]
use users::FEW;
use users::{SPARE_SETS, Shared};
pub(super) use users::{Use, Users};
pub(super) use uses::Uses;

/// What a watch on a directory above a root's path listens for: the
/// directory itself moving or going away, not its entries (so watching `/home`
/// above a watched file costs no events when files in `/home` change).
/// `MASK_ADD`: the same directory may also be watched with [`dir_mask`] for
/// another use, whose mask must not be narrowed.
pub(super) fn ancestor_mask() -> WatchMask {
    WatchMask::MOVE_SELF
        | WatchMask::DELETE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
        | WatchMask::MASK_ADD
}

/// What a watch on a directory whose entries are consulted names (an
/// anchor) listens for: names appearing, going away or moving, and the
/// directory itself moving or going away. Not its entries' writes or
/// attribute changes: the file a root names has an inode watch of its own,
/// which reports them (so one write is one kernel record, not one on each
/// watch); [`anchor_contents_mask`] adds them where a name has none.
/// `MASK_ADD`: the same directory may be watched with [`dir_mask`] for
/// another use, whose mask must not be narrowed.
pub(super) fn anchor_mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK
        | WatchMask::MASK_ADD
}

/// Added to an anchor's watch once a root's final name in it has no watch
/// of its own (a FIFO, a device, a file whose inode watch or a directory
/// whose tree watch was refused): then the directory's records are the
/// only ones for the name's writes and attribute changes.
pub(super) fn anchor_contents_mask() -> WatchMask {
    WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::ONLYDIR
        | WatchMask::MASK_ADD
}

/// What the inode watch on a file root's target listens for.
pub(super) fn file_mask() -> WatchMask {
    WatchMask::MODIFY | WatchMask::ATTRIB | WatchMask::CLOSE_WRITE | WatchMask::DONT_FOLLOW
}

/// The instance and who uses each of its watches.
pub(super) struct Kernel {
    pub(super) ino: Inotify,
    pub(super) uses: Uses,
    /// Bumped whenever a root's watches move to other inodes (a path now
    /// resolves elsewhere, an overflow rescan): a sync in progress then
    /// writes another cookie, since the last one may have gone where no
    /// watch sees it.
    pub(super) epoch: u64,
    /// Tree directories the watch limit refused, as (root, relative path):
    /// tried again once a watch is freed, so a subtree is not left
    /// unwatched for good. Entries go stale (the directory went away, got
    /// watched another way, its root was removed); a retry drops those.
    pub(super) blocked: BTreeSet<(usize, PathBuf)>,
    /// A watch was freed (or a sync asked) since the blocked directories
    /// were last tried.
    pub(super) freed: bool,
    /// A [`listed_since`](crate::snapshot::listed_since) taken before the
    /// queue was last seen empty (or the instance made): every event read
    /// since is of a change made after it.
    pub(super) quiet: i64,
    /// The watches on anchors and ancestors, by path, shared between roots.
    pub(super) links: Links,
    /// Anchor watches asked for their entries' writes and attribute
    /// changes too ([`anchor_contents_mask`]); an entry goes with the watch.
    pub(super) contents: HashSet<Wd, FastHash>,
    /// The sets of uses the last few watches with many users left,
    /// emptied (see [`Users::insert_sharing`]); at most [`SPARE_SETS`].
    // Boxed as `Users::Shared` holds them: moved in and out as they are.
    #[allow(clippy::vec_box)]
    pub(super) spare_sets: Vec<Box<Shared>>,
}

/// What a root keeps besides the shared state: rename halves waiting for
/// their other half, and an unmount seen below it.
#[derive(Default)]
pub(super) struct RootState {
    /// MOVED_FROM halves waiting for their MOVED_TO: (cookie, rel, is_dir).
    pub(super) moves: Vec<(u32, PathBuf, bool)>,
    /// A file system below the root was unmounted (`IN_UNMOUNT`): once the
    /// queue is drained, the root is rescanned.
    pub(super) unmounted: bool,
}

impl WatchTable for Kernel {
    type Handle = Wd;
    type State = RootState;

    fn arm(&mut self, id: usize, path: &Path, role: Role, follow: bool) -> Result<Wd, ArmError> {
        let mask = match role {
            Role::Tree(_) => dir_mask(follow),
            Role::Anchor(_) => anchor_mask(),
            Role::Ancestor(_) => ancestor_mask(),
            Role::Target | Role::File(_) => file_mask(),
        };
        match self.ino.add_watch(path, mask) {
            Ok(wd) => {
                let wd = Wd::from(wd);
                self.uses.insert(wd, Use { root: id, role });
                Ok(wd)
            }
            Err(e) => Err(match to_skip(&e) {
                None => ArmError::Gone,
                Some(reason @ SkipReason::WatchLimit) => ArmError::Full {
                    reason,
                    error: to_error(e, path),
                },
                Some(reason) => ArmError::Refused {
                    reason,
                    error: to_error(e, path),
                },
            }),
        }
    }

    /// Drops one use; the last one removes the kernel watch.
    fn release(&mut self, root: usize, wd: Wd, role: Role) {
        if let Some(users) = self.uses.get_mut(&wd) {
            if let Some(set) = users.remove(&Use { root, role })
                && self.spare_sets.len() < SPARE_SETS
            {
                self.spare_sets.push(set);
            }
            if users.is_empty() {
                self.uses.remove(&wd);
                self.links.released(wd);
                self.contents.remove(&wd);
                // The kernel may have dropped it already (directory deleted).
                let _ = self.ino.rm_watch(self.ino.watch_descriptor(wd.raw()));
                self.freed = true;
            }
        }
    }

    fn share(&mut self, root: usize, dir: &Path, id: DirId, role: Role) -> Result<Wd, Role> {
        let found = self.links.find(dir, id, matches!(role, Role::Anchor(_)));
        match found.and_then(|wd| Some((wd, self.uses.get_mut(&wd)?))) {
            Some((wd, users)) => {
                users.insert_sharing(Use { root, role }, &mut self.spare_sets);
                Ok(wd)
            }
            None => Err(role),
        }
    }

    fn arm_link(
        &mut self,
        root: usize,
        dir: &SharedPath,
        id: Option<DirId>,
        role: Role,
    ) -> Result<Wd, ArmError> {
        let full = matches!(role, Role::Anchor(_));
        let wd = self.arm(root, dir, role, true)?;
        if let Some(id) = id {
            self.links.armed(dir, id, wd, full);
        }
        Ok(wd)
    }

    fn link_id(&self, dir: &Path) -> Option<(SharedPath, DirId)> {
        self.links.id(dir)
    }

    /// Adds [`anchor_contents_mask`] to the anchor's watch, once per watch.
    fn anchor_contents(&mut self, handle: Wd, dir: &Path) {
        if !self.contents.insert(handle) {
            return;
        }
        match self.ino.add_watch(dir, anchor_contents_mask()) {
            Ok(wd) if Wd::from(wd) == handle => {}
            // The path leads to another directory now: the anchor's own
            // record of that change refreshes the root, which asks again.
            // A watch this made there, which nothing uses, goes.
            Ok(wd) => {
                self.contents.remove(&handle);
                if self.uses.get(&Wd::from(wd)).is_none() {
                    let _ = self.ino.rm_watch(wd);
                }
            }
            Err(_) => {
                self.contents.remove(&handle);
            }
        }
    }

    fn repath(&mut self, root: usize, wd: Wd, old: Role, new: Role) {
        if let Some(users) = self.uses.get_mut(&wd) {
            let _ = users.remove(&Use { root, role: old });
            users.insert(Use { root, role: new });
        }
    }

    fn moved(&mut self) {
        self.epoch += 1;
    }

    fn blocked(&mut self) -> &mut BTreeSet<(usize, PathBuf)> {
        &mut self.blocked
    }

    fn take_freed(&mut self) -> bool {
        std::mem::take(&mut self.freed)
    }
}

/// Maps an inotify error to a watcher error for `path`.
pub(super) fn to_error(err: inotify::Error, path: &Path) -> Error {
    use inotify::ErrorKind as K;
    match err.kind() {
        K::WatchLimit => Error::WatchLimit {
            path: path.to_path_buf(),
            limit: err.limit().and_then(|l| l.value),
        },
        K::InstanceLimit => Error::InstanceLimit {
            limit: err.limit().and_then(|l| l.value),
        },
        K::FdLimit => Error::FdLimit {
            path: Some(path.to_path_buf()),
        },
        K::PermissionDenied => Error::PermissionDenied {
            path: path.to_path_buf(),
        },
        _ => Error::io(path.to_path_buf(), io::Error::from(err)),
    }
}

/// Why a subtree could not be watched, or `None` when it simply vanished.
pub(super) fn to_skip(err: &inotify::Error) -> Option<SkipReason> {
    use inotify::ErrorKind as K;
    match err.kind() {
        K::NotFound | K::NotADirectory => None,
        K::WatchLimit => Some(SkipReason::WatchLimit),
        K::PermissionDenied => Some(SkipReason::PermissionDenied),
        _ => Some(SkipReason::Other(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_go_from_one_to_few_to_many_and_back() {
        let user = |root| Use {
            root,
            role: Role::Tree(Path::new("d").into()),
        };
        let roots = |users: &Users| {
            let mut r: Vec<usize> = users.clone().into_iter().map(|u| u.root).collect();
            r.sort_unstable();
            r
        };
        let mut users = Users::default();
        assert!(users.is_empty());
        users.insert(user(0));
        users.insert(user(0));
        assert!(matches!(users, Users::One(_)));
        users.insert(user(1));
        assert!(matches!(&users, Users::Shared(s) if matches!(**s, Shared::Few(_))));
        assert_eq!(roots(&users), [0, 1]);
        users.remove(&user(1));
        assert_eq!(roots(&users), [0]);
        users.remove(&user(1));
        assert_eq!(roots(&users), [0]);
        users.remove(&user(0));
        assert!(users.is_empty());
        for root in 0..=FEW {
            users.insert(user(root));
        }
        assert!(matches!(&users, Users::Shared(s) if matches!(**s, Shared::Many(_))));
        assert_eq!(roots(&users), (0..=FEW).collect::<Vec<_>>());
        for root in 0..=FEW {
            users.remove(&user(root));
        }
        assert!(users.is_empty());
    }

    #[test]
    fn an_inline_use_keeps_its_root_and_role() {
        let d: SharedPath = Path::new("d").into();
        let roles = [
            Role::Tree(d.clone()),
            Role::File(d.clone()),
            Role::Anchor(d.clone()),
            Role::Ancestor(d.clone()),
            Role::Target,
        ];
        for role in &roles {
            let mut users = Users::default();
            users.insert(Use {
                root: 3,
                role: role.clone(),
            });
            assert!(matches!(users, Users::One(_)));
            let mut out = Vec::new();
            users.copy_into(&mut out);
            assert_eq!(
                out,
                [Use {
                    root: 3,
                    role: role.clone()
                }]
            );
            // Another root, or another role (on the same path), is another use.
            for other in roles.iter().filter(|r| *r != role) {
                users.remove(&Use {
                    root: 3,
                    role: other.clone(),
                });
            }
            users.remove(&Use {
                root: 4,
                role: role.clone(),
            });
            assert!(!users.is_empty(), "{role:?}");
            users.remove(&Use {
                root: 3,
                role: role.clone(),
            });
            assert!(users.is_empty(), "{role:?}");
        }
        // A root number past 32 bits is kept whole.
        let big = Use {
            root: usize::MAX,
            role: Role::Tree(d),
        };
        let mut users = Users::default();
        users.insert(big.clone());
        assert_eq!(
            users.clone().into_iter().collect::<Vec<_>>(),
            std::slice::from_ref(&big)
        );
        users.remove(&big);
        assert!(users.is_empty());
    }

    #[test]
    fn errors_from_the_inotify_crate_keep_their_io_kind() {
        let ino = Inotify::init().unwrap();
        let missing =
            std::env::temp_dir().join(format!("watch-core-no-such-dir-{}/x", std::process::id()));
        let err = ino.add_watch(&missing, dir_mask(false)).unwrap_err();
        let err = to_error(err, &missing);
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert_eq!(err.io_kind(), io::ErrorKind::NotFound);
        let io_err = io::Error::from(err);
        assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
        assert!(io_err.to_string().contains("no such file"), "{io_err}");
    }
}
