//! Who uses one watch: a root and its role, kept inline for the one
//! use nearly every watch has.

use std::collections::HashSet;

use crate::fast_hash::FastHash;
use crate::root_layer::{Role, SharedPath, same_path};

/// One root's use of a watch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::inotify_backend) struct Use {
    pub(in crate::inotify_backend) root: usize,
    pub(in crate::inotify_backend) role: Role,
}

/// Hashed by the root alone (for [`Shared::Many`]): a root's number is one
/// word to hash, where the role's path would be many, and one root holds
/// at most a few uses of a watch, so the uses that share a hash are those
/// few. Equal uses have the same root, so the same hash.
impl std::hash::Hash for Use {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_usize(self.root);
    }
}

// One per watched directory: kept small. A role holds its path as a
// shared 16-byte pointer; `Users` keeps its one use inline in 24 bytes.
const _: () = assert!(std::mem::size_of::<Role>() <= 24);
const _: () = assert!(std::mem::size_of::<Users>() <= 24);

/// Who uses one watch. Nearly every watch has one user, kept inline in 24
/// bytes ([`Inline`]); a few are kept in a vector; a parent shared by many
/// roots holds one anchor use per root, kept in a set hashed by root so
/// that arming or releasing one never scans or compares the others (a
/// watch used by many roots lists them in no particular order). Those two
/// are boxed: they are rare, and the table holds a `Users` for every watch.
#[derive(Clone, Debug, Default)]
pub(in crate::inotify_backend) enum Users {
    #[default]
    None,
    One(Inline),
    Shared(Box<Shared>),
}

/// The uses of a watch with more than one.
#[derive(Clone, Debug)]
pub(in crate::inotify_backend) enum Shared {
    Few(Vec<Use>),
    Many(HashSet<Use, FastHash>),
}

/// Past this many users, a set.
pub(in crate::inotify_backend) const FEW: usize = 8;

/// How many emptied sets of uses are kept for reuse: a few, enough for a
/// directory whose entries are roots and the directories above it.
pub(in crate::inotify_backend) const SPARE_SETS: usize = 4;

/// A [`Use`] in 24 bytes instead of 32: the root's number in 32 bits (a
/// larger one is not kept inline) and the role's kind in a byte beside it.
#[derive(Clone, Debug)]
pub(in crate::inotify_backend) struct Inline {
    /// `None` for [`Role::Target`], the one role without a path.
    path: Option<SharedPath>,
    root: u32,
    /// The role, when it has a path.
    kind: Kind,
}

/// Which role with a path an [`Inline`] use is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tree,
    File,
    Anchor,
    Ancestor,
}

/// A role's kind and path (`None` for the target).
fn parts(role: &Role) -> (Kind, Option<&SharedPath>) {
    match role {
        Role::Tree(p) => (Kind::Tree, Some(p)),
        Role::File(p) => (Kind::File, Some(p)),
        Role::Anchor(p) => (Kind::Anchor, Some(p)),
        Role::Ancestor(p) => (Kind::Ancestor, Some(p)),
        Role::Target => (Kind::Tree, None),
    }
}

impl Inline {
    /// `user` kept inline, or back when its root's number does not fit.
    fn new(user: Use) -> Result<Inline, Use> {
        let Ok(root) = u32::try_from(user.root) else {
            return Err(user);
        };
        let (kind, path) = parts(&user.role);
        let path = path.cloned();
        Ok(Inline { path, root, kind })
    }

    /// The tree directory this use is for, with its root: `None` for any
    /// other role.
    pub(in crate::inotify_backend) fn tree(&self) -> Option<(usize, &std::path::Path)> {
        match (&self.path, self.kind) {
            (Some(path), Kind::Tree) => Some((self.root as usize, path)),
            _ => None,
        }
    }

    fn is(&self, user: &Use) -> bool {
        let (kind, path) = parts(&user.role);
        let same = match (path, &self.path) {
            (Some(a), Some(b)) => same_path(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        usize::try_from(self.root).is_ok_and(|r| r == user.root)
            && same
            && (path.is_none() || kind == self.kind)
    }

    fn to_use(&self) -> Use {
        let role = match &self.path {
            None => Role::Target,
            Some(p) => {
                let p = p.clone();
                match self.kind {
                    Kind::Tree => Role::Tree(p),
                    Kind::File => Role::File(p),
                    Kind::Anchor => Role::Anchor(p),
                    Kind::Ancestor => Role::Ancestor(p),
                }
            }
        };
        Use {
            root: self.root as usize,
            role,
        }
    }
}

impl Users {
    pub(in crate::inotify_backend) fn insert(&mut self, user: Use) {
        match self {
            Users::None => {
                *self = match Inline::new(user) {
                    Ok(one) => Users::One(one),
                    Err(user) => Users::Shared(Box::new(Shared::Few(vec![user]))),
                }
            }
            Users::One(u) if u.is(&user) => {}
            Users::One(u) => {
                let first = u.to_use();
                *self = Users::Shared(Box::new(Shared::Few(vec![first, user])));
            }
            Users::Shared(shared) => match &mut **shared {
                Shared::Few(v) if v.contains(&user) => {}
                Shared::Few(v) if v.len() < FEW => v.push(user),
                Shared::Few(v) => {
                    let mut set: HashSet<Use, FastHash> = std::mem::take(v).into_iter().collect();
                    set.insert(user);
                    **shared = Shared::Many(set);
                }
                Shared::Many(s) => {
                    s.insert(user);
                }
            },
        }
    }

    /// Removes `user`. A set of many uses left empty is handed back
    /// (its capacity kept) for [`Users::insert_sharing`].
    pub(in crate::inotify_backend) fn remove(&mut self, user: &Use) -> Option<Box<Shared>> {
        let empty = match self {
            Users::None => false,
            Users::One(u) => u.is(user),
            Users::Shared(shared) => match &mut **shared {
                Shared::Few(v) => {
                    v.retain(|u| u != user);
                    v.is_empty()
                }
                Shared::Many(s) => {
                    s.remove(user);
                    s.is_empty()
                }
            },
        };
        if empty && let Users::Shared(shared) = std::mem::take(self) {
            return matches!(*shared, Shared::Many(_)).then_some(shared);
        }
        None
    }

    /// [`Users::insert`], where a second user takes one of `spares` if
    /// there is one (the emptied set of a watch that had many users, see
    /// [`Users::remove`]) instead of starting a vector that grows into a
    /// set again: the roots in one directory, added and removed in
    /// turn, fill its watch's set (and that of each directory above)
    /// without growing it each time.
    // Boxed as `Users::Shared` holds them: moved in and out as they are.
    #[allow(clippy::vec_box)]
    pub(in crate::inotify_backend) fn insert_sharing(
        &mut self,
        user: Use,
        spares: &mut Vec<Box<Shared>>,
    ) {
        if let Users::One(u) = self
            && !u.is(&user)
            && let Some(mut set) = spares.pop()
            && let Shared::Many(s) = &mut *set
        {
            s.insert(u.to_use());
            s.insert(user);
            *self = Users::Shared(set);
            return;
        }
        self.insert(user);
    }

    /// Replaces the contents of `out` with copies of these uses.
    pub(in crate::inotify_backend) fn copy_into(&self, out: &mut Vec<Use>) {
        out.clear();
        match self {
            Users::None => {}
            Users::One(u) => out.push(u.to_use()),
            Users::Shared(shared) => match &**shared {
                Shared::Few(v) => out.extend(v.iter().cloned()),
                Shared::Many(s) => out.extend(s.iter().cloned()),
            },
        }
    }

    pub(in crate::inotify_backend) fn is_empty(&self) -> bool {
        matches!(self, Users::None)
    }
}

impl IntoIterator for Users {
    type Item = Use;
    type IntoIter = Box<dyn Iterator<Item = Use>>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Users::None => Box::new(std::iter::empty()),
            Users::One(u) => Box::new(std::iter::once(u.to_use())),
            Users::Shared(shared) => match *shared {
                Shared::Few(v) => Box::new(v.into_iter()),
                Shared::Many(s) => Box::new(s.into_iter()),
            },
        }
    }
}
