//! Folding events onto an [`Overlay`]: a path created, removed, changed
//! or renamed.

use std::path::Path;

use super::{Birth, Change, Entry, Node, Overlay, Resolved, rejoin};
use crate::Origin;

impl Overlay {
    /// `path` appeared (created, moved in from outside, or replaced).
    pub fn created(&mut self, path: &Path, is_dir: bool, origin: Origin, seq: u64) {
        let had_below = self.below(path).next().is_some();
        self.take_below(path);
        let previous = self.remove(path);
        let frame = self.frame_above(path);
        let birth = if previous.is_none() && !had_below && frame.is_some() {
            Birth::AtBirthplace
        } else {
            Birth::Fresh
        };
        let replaces = match previous {
            Some(Entry {
                node: Node::Gone { was_file, .. },
                ..
            }) => was_file,
            Some(Entry {
                node: Node::Base { from, .. },
                is_dir: false,
                ..
            }) => Some(from),
            Some(Entry {
                node: Node::New { replaces, .. },
                ..
            }) => replaces,
            _ => None,
        };
        let born = self.parent_of(path);
        let node = Node::New {
            id: seq,
            birth,
            replaces,
            born,
        };
        self.insert(
            path.to_path_buf(),
            Entry {
                node,
                is_dir,
                origin,
                seq,
            },
        );
    }

    /// `path` and everything below it disappeared.
    pub fn removed(&mut self, path: &Path, is_dir: bool, origin: Origin, seq: u64) {
        self.take_below(path);
        let previous = self.remove(path);
        let Some(frame) = self.frame_above(path) else {
            // Inside something new or gone: nothing of the base is here.
            return;
        };
        let was_file = match previous {
            Some(Entry {
                node: Node::Base { from, .. },
                is_dir: false,
                ..
            }) => Some(from),
            Some(Entry {
                node: Node::New { replaces, .. },
                ..
            }) => replaces,
            Some(Entry {
                node: Node::Gone { was_file, .. },
                ..
            }) => was_file,
            None if !is_dir => Some(frame),
            _ => None,
        };
        let node = Node::Gone {
            left_by: None,
            was_file,
        };
        self.insert(
            path.to_path_buf(),
            Entry {
                node,
                is_dir,
                origin,
                seq,
            },
        );
    }

    /// The content or metadata of `path` changed.
    pub fn changed(&mut self, path: &Path, change: Change, is_dir: bool, origin: Origin, seq: u64) {
        if let Some(entry) = self.entries.get_mut(path) {
            entry.is_dir = is_dir;
            entry.origin = origin;
            match &mut entry.node {
                Node::Base { change: c, .. } => {
                    *c = Some(c.map_or(change, |earlier| earlier.merge(change)));
                }
                Node::New { .. } => {}
                Node::Gone { was_file, .. } => {
                    // It exists again, though no creation was seen.
                    entry.node = Node::New {
                        id: seq,
                        birth: Birth::Fresh,
                        replaces: was_file.take(),
                        born: None,
                    };
                    entry.seq = seq;
                }
            }
            return;
        }
        let node = match self.frame_above(path) {
            Some(from) => Node::Base {
                from,
                change: Some(change),
            },
            None => Node::New {
                id: seq,
                birth: Birth::Fresh,
                replaces: None,
                born: None,
            },
        };
        self.insert(
            path.to_path_buf(),
            Entry {
                node,
                is_dir,
                origin,
                seq,
            },
        );
    }

    /// Whether renaming `from` moves base content that is a directory while
    /// the window already holds other entries. The planner orders moves of
    /// nodes created in the window, and of files, among everything else;
    /// a base directory's move starts a new segment instead, because with
    /// two or more of them in one window (one moved into what another left
    /// behind, a new directory staged inside one that must then go into it)
    /// an order that reproduces the window's net effect may need names
    /// that the window never revealed.
    pub fn is_base_dir_move(&self, from: &Path, is_dir: bool) -> bool {
        is_dir && !self.entries.is_empty() && matches!(self.resolve(from), Resolved::Base(_))
    }

    /// What was at `from` (with everything below it) is now at `to`.
    pub fn renamed(&mut self, from: &Path, to: &Path, is_dir: bool, origin: Origin, seq: u64) {
        if from == to || to.starts_with(from) || from.starts_with(to) {
            // Not a rename the kernel allows; keep the stream's meaning
            // as far as it goes: `to` exists now.
            if from != to {
                self.created(to, is_dir, origin, seq);
            }
            return;
        }
        let children = self.take_below(from);
        let frame = self.frame_above(from);
        let mut entry = match self.remove(from) {
            Some(entry) => entry,
            None => Entry {
                node: match &frame {
                    Some(base) => Node::Base {
                        from: base.clone(),
                        change: None,
                    },
                    None => Node::New {
                        id: seq,
                        birth: Birth::Fresh,
                        replaces: None,
                        born: None,
                    },
                },
                is_dir,
                origin,
                seq,
            },
        };
        // The source is vacated.
        let mut left_by = None;
        match &mut entry.node {
            Node::Base { change, .. } => {
                // The rename tells a consumer to look at `to` anew.
                *change = None;
                entry.seq = seq;
            }
            Node::New { id, birth, .. } => {
                if *birth == Birth::AtBirthplace || *birth == Birth::Fresh {
                    *birth = Birth::Left {
                        direct: *birth == Birth::AtBirthplace,
                    };
                    left_by = Some(*id);
                }
            }
            Node::Gone { .. } => {
                // Renaming nothing: the stream says `to` exists now.
                entry.node = Node::New {
                    id: seq,
                    birth: Birth::Fresh,
                    replaces: None,
                    born: None,
                };
                entry.seq = seq;
            }
        }
        if let Some(base) = frame {
            let was_file = match &entry.node {
                Node::Base { from: b, .. } if !entry.is_dir && *b == base => Some(base),
                _ => None,
            };
            let gone = Entry {
                node: Node::Gone { left_by, was_file },
                is_dir: entry.is_dir,
                origin,
                seq,
            };
            self.insert(from.to_path_buf(), gone);
        }
        // Whatever `to` held is replaced.
        self.take_below(to);
        self.remove(to);
        entry.is_dir = is_dir;
        entry.origin = origin;
        self.insert(to.to_path_buf(), entry);
        for (rest, child) in children {
            self.insert(rejoin(to, &rest), child);
        }
    }
}
