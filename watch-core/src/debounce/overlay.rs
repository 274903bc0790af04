//! The net difference of a window of events: for every path the window
//! touched, what that path holds now, relative to the tree as it was before
//! the window (the *base*).
//!
//! The base itself is unknown: a path no event named holds whatever it held
//! before, and a renamed directory carries the base contents nobody named.
//! So an entry says where its content came from rather than what it is:
//! [`Node::Base`] (the base content of some path, possibly moved here),
//! [`Node::New`] (created inside the window: nothing below it but what
//! entries below say) or [`Node::Gone`] (nothing here, nor below).
//! A path without an entry inherits from its nearest ancestor with one
//! (see [`Overlay::frame_above`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use crate::Origin;

mod fold;

/// A content or metadata change of a base entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Metadata,
    Modified,
}

impl Change {
    fn merge(self, later: Change) -> Change {
        if self == Change::Metadata && later == Change::Metadata {
            Change::Metadata
        } else {
            Change::Modified
        }
    }
}

/// Where a new node stands relative to the place it was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Birth {
    /// Still where it was created, over a base path that may have held a
    /// file or an empty directory (a move in from outside may replace one).
    AtBirthplace,
    /// Moved away from its birthplace; the [`Node::Gone`] left there
    /// carries this node's id. `direct`: the birthplace was as for
    /// `AtBirthplace`, so one rename from there says it all; otherwise the
    /// birthplace is only a place to stage the node at when needed.
    Left { direct: bool },
    /// Created where the base certainly held nothing worth naming, or
    /// over content the window already accounts for.
    Fresh,
}

/// What a path holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Node {
    /// The base content of `from` (with its subtree, except where entries
    /// below say otherwise), changed as `change` says.
    Base {
        from: PathBuf,
        change: Option<Change>,
    },
    /// Created inside the window.
    New {
        id: u64,
        birth: Birth,
        /// The base file this node replaced in place, if known: the
        /// replacement can then be reported as `Modified`.
        replaces: Option<PathBuf>,
        /// Where it was created: its parent then, and its name.
        born: Option<(Parent, PathBuf)>,
    },
    /// Nothing, and nothing below.
    Gone {
        /// The id of the new node that left its birthplace here.
        left_by: Option<u64>,
        /// The base file that was here, if known.
        was_file: Option<PathBuf>,
    },
}

/// The parent a new node was created in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Parent {
    /// The base content of this path.
    Base(PathBuf),
    /// The new node with this id.
    New(u64),
}

/// An entry of the overlay: a node and the attributes of its latest event.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub node: Node,
    pub is_dir: bool,
    pub origin: Origin,
    /// When the entry came to this path (orders the output).
    pub seq: u64,
}

/// What a path holds, once inheritance is taken into account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Resolved {
    /// The base content of this path, which may or may not exist.
    Base(PathBuf),
    /// A node created in the window.
    New,
    /// Nothing.
    Nothing,
}

/// Current path -> what it holds, for every path a window touched.
#[derive(Debug, Default)]
pub(super) struct Overlay {
    entries: BTreeMap<PathBuf, Entry>,
    /// Base path -> current path, for every [`Node::Base`] entry.
    by_from: HashMap<PathBuf, PathBuf>,
    /// Id -> current path, for every [`Node::New`] entry.
    by_id: HashMap<u64, PathBuf>,
}

/// `base` joined with `rest`, without a trailing separator for an empty `rest`.
pub(super) fn rejoin(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

impl Overlay {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&PathBuf, &Entry)> {
        self.entries.iter()
    }

    /// Where the base content of `from` stands now, as far as entries say
    /// (a path listed by a [`Node::Base`] entry).
    pub fn current_of(&self, from: &Path) -> Option<&PathBuf> {
        self.by_from.get(from)
    }

    /// The id of the new node at `path`, if one is there.
    pub fn new_id_at(&self, path: &Path) -> Option<u64> {
        match self.entries.get(path)?.node {
            Node::New { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Where the new node `id` stands now.
    pub fn current_of_new(&self, id: u64) -> Option<&PathBuf> {
        self.by_id.get(&id)
    }

    /// Entries strictly below `path`.
    pub fn below<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = (&'a PathBuf, &'a Entry)> {
        self.entries
            .range::<Path, _>((Bound::Excluded(path), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(path))
    }

    /// What `path` would hold if it had no entry of its own: the base path
    /// it inherits from its nearest ancestor with an entry (itself when no
    /// ancestor has one), or `None` when that ancestor is new or gone.
    pub fn frame_above(&self, path: &Path) -> Option<PathBuf> {
        if self.entries.is_empty() {
            return Some(path.to_path_buf());
        }
        for ancestor in path.ancestors().skip(1) {
            if let Some(entry) = self.entries.get(ancestor) {
                return match &entry.node {
                    Node::Base { from, .. } => {
                        let rest = path.strip_prefix(ancestor).unwrap_or(path);
                        Some(rejoin(from, rest))
                    }
                    Node::New { .. } | Node::Gone { .. } => None,
                };
            }
        }
        Some(path.to_path_buf())
    }

    /// What `path` holds now.
    pub fn resolve(&self, path: &Path) -> Resolved {
        match self.entries.get(path).map(|e| &e.node) {
            Some(Node::Base { from, .. }) => Resolved::Base(from.clone()),
            Some(Node::New { .. }) => Resolved::New,
            Some(Node::Gone { .. }) => Resolved::Nothing,
            None => match self.frame_above(path) {
                Some(from) => Resolved::Base(from),
                None => Resolved::Nothing,
            },
        }
    }

    fn insert(&mut self, path: PathBuf, entry: Entry) {
        match &entry.node {
            Node::Base { from, .. } => {
                self.by_from.insert(from.clone(), path.clone());
            }
            Node::New { id, .. } => {
                self.by_id.insert(*id, path.clone());
            }
            Node::Gone { .. } => {}
        }
        if let Some(old) = self.entries.insert(path, entry) {
            self.unindex(&old);
        }
    }

    fn unindex(&mut self, old: &Entry) {
        match &old.node {
            Node::Base { from, .. } => {
                self.by_from.remove(from);
            }
            Node::New { id, .. } => {
                self.by_id.remove(id);
            }
            Node::Gone { .. } => {}
        }
    }

    fn remove(&mut self, path: &Path) -> Option<Entry> {
        let old = self.entries.remove(path)?;
        self.unindex(&old);
        Some(old)
    }

    /// Takes out the entries strictly below `path`, as (relative path, entry).
    fn take_below(&mut self, path: &Path) -> Vec<(PathBuf, Entry)> {
        let keys: Vec<PathBuf> = self.below(path).map(|(p, _)| p.clone()).collect();
        keys.into_iter()
            .filter_map(|p| {
                let entry = self.remove(&p)?;
                let rest = p.strip_prefix(path).map(Path::to_path_buf).ok()?;
                Some((rest, entry))
            })
            .collect()
    }

    /// Takes out the entries that only say "this base path changed in
    /// place" (no entry above them): they mean the same relative to any
    /// later base, so they can move to the next segment and merge there.
    pub fn take_changes_in_place(&mut self) -> Vec<(PathBuf, Entry)> {
        let keys: Vec<PathBuf> = self
            .entries
            .iter()
            .filter(|(path, entry)| {
                matches!(&entry.node, Node::Base { from, change: Some(_) } if from == *path)
            })
            .map(|(path, _)| path.clone())
            .filter(|path| self.frame_above(path).as_deref() == Some(path.as_path()))
            .collect();
        keys.into_iter()
            .filter_map(|path| {
                let entry = self.remove(&path)?;
                Some((path, entry))
            })
            .collect()
    }

    /// Puts back entries taken by [`Overlay::take_changes_in_place`].
    pub fn restore(&mut self, entries: Vec<(PathBuf, Entry)>) {
        for (path, entry) in entries {
            self.insert(path, entry);
        }
    }

    /// What the parent of `path` is now, with `path`'s name.
    fn parent_of(&self, path: &Path) -> Option<(Parent, PathBuf)> {
        let (parent, name) = (path.parent()?, path.file_name()?);
        let parent = match self.entries.get(parent).map(|e| &e.node) {
            Some(Node::New { id, .. }) => Parent::New(*id),
            _ => match self.resolve(parent) {
                Resolved::Base(from) => Parent::Base(from),
                Resolved::New | Resolved::Nothing => return None,
            },
        };
        Some((parent, PathBuf::from(name)))
    }
}
