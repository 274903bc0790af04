//! Building a snapshot from a scan's findings, and merging one into another.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::node::{Attrs, Node};
use super::{Entry, Listing, SharedPath, Snapshot, UNKNOWN_INO, join_rel};

impl Snapshot {
    /// Records everything `other` holds, replacing what was at its paths
    /// (a path new here keeps `other`'s key).
    pub(crate) fn extend(&mut self, other: Snapshot) {
        if let Some(a) = other.announced {
            self.announced = Some(self.announced.map_or(a, |s| s.min(a)));
        }
        for (path, node) in other.nodes {
            let (entry, listed) = node.into_parts(&other.attrs);
            self.insert(path.clone(), entry);
            let Some(listed) = listed else { continue };
            match self.nodes.get_mut(&path) {
                Some(mine) if !mine.has_files() => {
                    mine.replace(None, Some(Some(listed)), &mut self.attrs)
                }
                // Files of their own, or `path` itself went into its
                // directory's table: each file on its own.
                _ => {
                    let files = listed.files.as_ref();
                    for (name, ino) in files.iter() {
                        let since = if ino == UNKNOWN_INO {
                            other.announced.unwrap_or(i64::MIN)
                        } else {
                            files.since()
                        };
                        self.insert(
                            join_rel(&path, Path::new(OsStr::from_bytes(name))),
                            Entry::listed(listed.dev, ino, since),
                        );
                    }
                }
            }
        }
    }

    /// A snapshot from what a scan found: each path with its full entry
    /// and, for a directory whose regular files were only listed, those
    /// files. Built in one pass (full tree nodes), not path by path.
    pub(crate) fn from_scan(mut found: Vec<(SharedPath, Entry, Option<Listing>)>) -> Snapshot {
        if found.len() == 1
            && let Some((path, entry, files)) = found.pop()
        {
            return Snapshot::from_one(path, entry, files, Snapshot::default());
        }
        let mut attrs = Attrs::default();
        let nodes = found
            .into_iter()
            .map(|(path, entry, files)| {
                let node = Node::new(entry, files.map(|l| l.0), &mut attrs);
                (path, node)
            })
            .collect();
        Snapshot {
            nodes,
            attrs,
            announced: None,
            floor: None,
        }
    }

    /// [`Snapshot::from_scan`] of one entry (a directory without
    /// subdirectories, scanned without recursion): inserted as it is,
    /// without the list, the sorting and the bulk build of a larger scan,
    /// into the storage of `into` if that is empty (see
    /// [`Snapshot::clear`]).
    pub(crate) fn from_one(
        path: SharedPath,
        entry: Entry,
        files: Option<Listing>,
        into: Snapshot,
    ) -> Snapshot {
        let mut attrs = Attrs::default();
        let mut nodes = match into.nodes.is_empty() {
            true => into.nodes,
            false => BTreeMap::new(),
        };
        nodes.insert(path, Node::new(entry, files.map(|l| l.0), &mut attrs));
        Snapshot {
            nodes,
            attrs,
            announced: None,
            floor: None,
        }
    }
}
