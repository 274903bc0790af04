//! Turns an [`Overlay`] into events that, folded in order onto the base,
//! give the tree the overlay describes.
//!
//! Each entry becomes at most one operation: a move (`Renamed`, the base
//! content of a path now elsewhere), a creation, a removal or a change.
//! Operations are emitted in the order their entries arrived, except where
//! one must wait for another:
//! * **parent first**: an operation below a path that a creation fills
//!   waits for that creation; below a path that a pending move fills, it
//!   *rides*: it goes below that move's source now and moves with it (as
//!   it happened: a file moved into a directory that is renamed later);
//! * **nothing needed is clobbered**: a move, creation or removal at a path
//!   waits for every pending move whose source currently lies there;
//! * **no directory below itself**: a move whose target lies inside its
//!   own source waits for the move that carries the target out of it.
//!
//! "Currently" is tracked by folding every emitted event onto a second
//! overlay that starts empty: the output's own view of where each base
//! path and each created node stands. Changes (`Modified`, `Metadata`) go
//! last, when every path is where it ends.
//!
//! A cycle of waits is broken by *staging* a created node: creating it
//! first where it was born (its parent then, by base path or by created
//! node) and renaming it from there later, so that what must go below it
//! can, unless the output has already put something there; or, for two
//! files swapped through a temporary name, by reporting one of them as
//! created at its target. Directory moves are never
//! reported as creations (their contents are unknown); the move of a
//! directory that existed before the window starts a new segment
//! (`Overlay::is_base_dir_move`), so a segment holds at most one such move,
//! as its first event.

use std::collections::HashMap;
use std::path::PathBuf;

mod planner;

use super::overlay::{Birth, Change, Node, Overlay, Parent, Resolved, rejoin};
use crate::{Event, EventKind, Origin};
use planner::Planner;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    /// The base content of `source` moves to the target.
    Move { source: PathBuf },
    /// A new node appears at the target; `replaces` is the base file it
    /// replaced in place, if known.
    Create { replaces: Option<PathBuf> },
    /// Nothing is at the target any more.
    Remove,
    /// The base content at the target changed.
    Change(Change),
}

#[derive(Debug)]
struct Planned {
    op: Op,
    target: PathBuf,
    is_dir: bool,
    origin: Origin,
    seq: u64,
    /// A move that may be replaced by a creation to break a cycle.
    degradable: bool,
    /// A move of base content (not of a node created in the window): its
    /// source surely exists, so something can be placed below it.
    carries: bool,
    /// A move of a new node already created at its birthplace (see
    /// `Planner::stage`).
    staged: bool,
    /// For a creation: the base path where the node was created before it
    /// moved, where it can be staged.
    /// (its parent then, its name).
    birthplace: Option<(Parent, PathBuf)>,
    /// For a new node: its id.
    new_id: Option<u64>,
    /// Once emitted (or staged): what the output put in place, to find it
    /// later.
    placed: Option<Placed>,
}

/// What an emitted operation put in place.
#[derive(Clone, Debug)]
enum Placed {
    /// The base content of this path.
    Base(PathBuf),
    /// A node the output created, by its id in the output's overlay.
    New(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Todo,
    InProgress,
    Done,
}

/// Appends to `out` the events that fold the base onto `overlay`.
pub(super) fn plan(overlay: &Overlay, out: &mut Vec<Event>) {
    let mut ops = collect(overlay);
    // Among entries of one event, the places things go come before the
    // places they leave.
    ops.sort_by_key(|op| (op.seq, matches!(op.op, Op::Remove)));
    // Changes go last, when every path is where it ends.
    let (changes, ops): (Vec<Planned>, Vec<Planned>) = ops
        .into_iter()
        .partition(|op| matches!(op.op, Op::Change(_)));
    let mut planner = Planner::new(ops);
    // Breaking a cycle may send operations back to do; a later pass
    // emits those that an earlier index left behind.
    while planner.state.contains(&State::Todo) {
        for i in 0..planner.ops.len() {
            planner.ensure(i, out);
        }
    }
    out.extend(changes.into_iter().map(|op| {
        let kind = match op.op {
            Op::Change(Change::Metadata) => EventKind::Metadata,
            _ => EventKind::Modified,
        };
        Event {
            kind,
            path: op.target,
            is_dir: op.is_dir,
            origin: op.origin,
        }
    }));
}

/// One operation per entry that needs one.
fn collect(overlay: &Overlay) -> Vec<Planned> {
    // New nodes that left their birthplace -> where they left it.
    let left: HashMap<u64, &PathBuf> = overlay
        .entries()
        .filter_map(|(path, entry)| match entry.node {
            Node::Gone {
                left_by: Some(id), ..
            } => Some((id, path)),
            _ => None,
        })
        .collect();
    let mut consumed: Vec<&PathBuf> = Vec::new();
    let mut ops = Vec::new();
    for (path, entry) in overlay.entries() {
        let planned = |op, degradable| Planned {
            op,
            target: path.clone(),
            is_dir: entry.is_dir,
            origin: entry.origin,
            seq: entry.seq,
            degradable,
            carries: false,
            staged: false,
            birthplace: None,
            new_id: None,
            placed: None,
        };
        match &entry.node {
            Node::Base { from, change } => {
                if overlay.frame_above(path).as_deref() == Some(from.as_path()) {
                    if let Some(change) = change {
                        ops.push(planned(Op::Change(*change), false));
                    }
                } else {
                    let source = from.clone();
                    let mut op = planned(Op::Move { source }, !entry.is_dir);
                    op.carries = true;
                    ops.push(op);
                }
            }
            Node::New {
                id,
                birth,
                replaces,
                born,
            } => {
                let birthplace = match birth {
                    Birth::Left { direct } => left
                        .get(id)
                        .and_then(|gone| Some((*direct, *gone, overlay.frame_above(gone)?))),
                    _ => None,
                };
                let mut op = match birthplace {
                    // Renamed from its birthplace: one event says both
                    // that it is here and that the birthplace is empty.
                    // Not for a directory: the one it replaced there may
                    // have held what the window never named (a record read
                    // late reports a directory created over a scan's
                    // findings), which a rename would carry along; its
                    // birthplace is removed and it is created here.
                    Some((true, gone, source)) if !entry.is_dir => {
                        consumed.push(gone);
                        planned(Op::Move { source }, true)
                    }
                    _ => planned(
                        Op::Create {
                            replaces: replaces.clone(),
                        },
                        false,
                    ),
                };
                if matches!(birth, Birth::Left { .. }) {
                    op.birthplace = born.clone();
                }
                op.new_id = Some(*id);
                ops.push(op);
            }
            Node::Gone { .. } => ops.push(planned(Op::Remove, false)),
        }
    }
    ops.retain(|op| !(op.op == Op::Remove && consumed.contains(&&op.target)));
    ops
}
