//! The planner: emits the collected operations in an order that folds,
//! waiting where one must wait for another and breaking cycles of waits
//! (see the parent module).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::{Change, Node, Op, Overlay, Parent, Placed, Planned, Resolved, State, rejoin};
use crate::{Event, EventKind};

/// Emits operations in a foldable order, tracking what the output did.
pub(super) struct Planner {
    pub(super) ops: Vec<Planned>,
    pub(super) state: Vec<State>,
    /// Base source -> index of the move not yet emitted.
    pending: BTreeMap<PathBuf, usize>,
    /// Target -> index, for moves and creations (what parents wait for).
    fills: HashMap<PathBuf, usize>,
    /// The output so far, folded: where each base path stands now.
    done: Overlay,
    /// New node id (in the overlay) -> index of its operation.
    new_ops: HashMap<u64, usize>,
    /// New node id in `done` -> index of the operation that created it.
    placed_new: HashMap<u64, usize>,
    seq: u64,
}

/// Why an operation waits for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// The other fills an ancestor of this one's target.
    Parent,
    /// The other's source lies where this one writes.
    Source,
    /// This one's target lies below the other's source, which lies below
    /// this one's source: the other must move out first.
    Nest,
}

impl Planner {
    pub(super) fn new(ops: Vec<Planned>) -> Planner {
        let mut pending = BTreeMap::new();
        let mut fills = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            match &op.op {
                Op::Move { source } => {
                    pending.insert(source.clone(), i);
                    fills.insert(op.target.clone(), i);
                }
                Op::Create { .. } => {
                    fills.insert(op.target.clone(), i);
                }
                Op::Remove | Op::Change(_) => {}
            }
        }
        let new_ops = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| Some((op.new_id?, i)))
            .collect();
        Planner {
            state: vec![State::Todo; ops.len()],
            ops,
            pending,
            fills,
            done: Overlay::default(),
            new_ops,
            placed_new: HashMap::new(),
            seq: 0,
        }
    }

    /// Emits operation `root` after everything it waits for.
    pub(super) fn ensure(&mut self, root: usize, out: &mut Vec<Event>) {
        while self.state[root] != State::Done {
            // (operation, why its parent in the stack waits for it)
            let mut stack: Vec<(usize, Wait)> = vec![(root, Wait::Parent)];
            self.state[root] = State::InProgress;
            while let Some(&(top, _)) = stack.last() {
                match self.next_wait(top) {
                    None => {
                        self.emit(top, out);
                        stack.pop();
                    }
                    Some((other, why)) if self.state[other] == State::Todo => {
                        self.state[other] = State::InProgress;
                        stack.push((other, why));
                    }
                    Some((other, why)) => {
                        // A cycle: `other` is on the stack, waiting for `top`.
                        let start = stack.iter().position(|(i, _)| *i == other).unwrap_or(0);
                        // Its edges, as (stack depth of the waiter, waited, why).
                        let mut edges: Vec<(usize, usize, Wait)> = (start + 1..stack.len())
                            .map(|k| (k - 1, stack[k].0, stack[k].1))
                            .collect();
                        edges.push((stack.len() - 1, other, why));
                        let ride = edges.iter().find(|&&(_, parent, why)| {
                            why == Wait::Parent && self.can_stage(parent)
                        });
                        let degrade = edges.iter().find(|&&(_, moved, why)| {
                            why == Wait::Source && self.ops[moved].degradable
                        });
                        match (ride, degrade) {
                            (Some(&(k, parent, _)), _) => {
                                // The waiter goes below the parent's new
                                // node, staged at its birthplace, and moves
                                // with it.
                                self.stage(parent, out);
                                for (i, _) in stack.drain(k + 1..) {
                                    self.state[i] = State::Todo;
                                }
                            }
                            (None, Some(&(k, moved, _))) => {
                                self.degrade(moved);
                                for (i, _) in stack.drain(k + 1..) {
                                    self.state[i] = State::Todo;
                                }
                            }
                            (None, None) => {
                                // Not expected (see the module comment);
                                // emit rather than loop.
                                self.emit(top, out);
                                stack.pop();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Whether a move can carry an operation placed below its source now.
    /// Where a pending move's node stands now, if something can be placed
    /// below it: the base source of a move of base content, or a new node
    /// already staged at its birthplace.
    fn carrier_place(&self, parent: usize) -> Option<PathBuf> {
        let op = &self.ops[parent];
        match &op.op {
            Op::Move { .. } if op.staged => self.current_place(parent),
            Op::Move { source } if op.carries => self.locate(source),
            _ => None,
        }
    }

    /// Where the new node of operation `i` could be staged: created first
    /// at its birthplace, so that a cycle's child can go below it there.
    fn stage_place(&self, i: usize) -> Option<PathBuf> {
        let op = &self.ops[i];
        if self.state[i] == State::Done || op.staged {
            return None;
        }
        let at = match (&op.op, &op.birthplace) {
            (Op::Move { source }, _) if !op.carries => self.locate(source)?,
            (Op::Create { .. }, Some((Parent::Base(parent), name))) => {
                self.locate(parent)?.join(name)
            }
            (Op::Create { .. }, Some((Parent::New(id), name))) => {
                let parent = *self.new_ops.get(id)?;
                if self.state[parent] != State::Done && !self.ops[parent].staged {
                    return None;
                }
                self.current_place(parent)?.join(name)
            }
            _ => return None,
        };
        let own = match &op.op {
            Op::Move { source } => Some(source),
            _ => None,
        };
        // Only a place the output has not filled: nothing it created, and
        // no base content it moved there (that content is where it ends).
        let free = match self.done.resolve(&at) {
            Resolved::New => false,
            Resolved::Base(from) => from == at,
            Resolved::Nothing => true,
        };
        // Not below a place that a pending creation or move still fills on
        // the way to this node's own target: that write would wait for the
        // staged node to move out, and the move would wait for the write
        // (parent first), which no order satisfies.
        let doomed = at.ancestors().any(|a| {
            op.target.starts_with(a)
                && self
                    .fills
                    .get(a)
                    .is_some_and(|&j| j != i && self.state[j] != State::Done)
        });
        (free && !doomed && self.source_below(&at, i, own).is_none()).then_some(at)
    }

    fn can_stage(&self, i: usize) -> bool {
        self.stage_place(i).is_some()
    }

    /// Creates the new node of operation `i` at its birthplace; it becomes
    /// a move from there.
    fn stage(&mut self, i: usize, out: &mut Vec<Event>) {
        let Some(at) = self.stage_place(i) else {
            return;
        };
        if let Op::Move { source } = &self.ops[i].op {
            let source = source.clone();
            self.pending.remove(&source);
        }
        self.ops[i].op = Op::Move { source: at.clone() };
        self.seq += 1;
        let (is_dir, origin) = (self.ops[i].is_dir, self.ops[i].origin);
        self.done.created(&at, is_dir, origin, self.seq);
        self.ops[i].placed = Some(Placed::New(self.seq));
        self.placed_new.insert(self.seq, i);
        self.ops[i].staged = true;
        self.ops[i].degradable = false;
        out.push(Event {
            kind: EventKind::Created,
            path: at,
            is_dir,
            origin,
        });
    }

    /// Where operation `i` writes now, and the operation that must come
    /// first to make that place exist. The target's nearest ancestor that an
    /// operation fills decides: once emitted, the target is below wherever
    /// that operation's node stands now (it may still ride on a pending
    /// move); before, the operation waits for it, unless it rides: then it
    /// goes below that pending move's source.
    fn placement(&self, i: usize) -> (PathBuf, Option<usize>) {
        let op = &self.ops[i];
        for ancestor in op.target.ancestors().skip(1) {
            let Some(&parent) = self.fills.get(ancestor) else {
                continue;
            };
            let rest = op.target.strip_prefix(ancestor).unwrap_or(Path::new(""));
            if self.state[parent] == State::Done {
                let here = self.current_place(parent);
                return (
                    here.map_or_else(|| op.target.clone(), |at| rejoin(&at, rest)),
                    None,
                );
            }
            if let Some(at) = self.carrier_place(parent) {
                // Rides: placed below the pending move's source now, it
                // moves with it.
                return (rejoin(&at, rest), None);
            }
            return (op.target.clone(), Some(parent));
        }
        (op.target.clone(), None)
    }

    /// Where the node an emitted operation put in place stands now.
    fn current_place(&self, i: usize) -> Option<PathBuf> {
        match self.ops[i].placed.as_ref()? {
            Placed::Base(source) => self.locate(source),
            Placed::New(id) => self.done.current_of_new(*id).cloned(),
        }
    }

    /// The move at `i` is reported as a creation at its target; its source
    /// is no longer needed.
    fn degrade(&mut self, i: usize) {
        if let Op::Move { source } = &self.ops[i].op {
            self.pending.remove(source);
            self.ops[i].op = Op::Create { replaces: None };
            self.ops[i].degradable = false;
        }
    }

    /// The first operation `i` still waits for.
    fn next_wait(&self, i: usize) -> Option<(usize, Wait)> {
        let op = &self.ops[i];
        let (target, parent) = self.placement(i);
        if let Some(parent) = parent {
            return Some((parent, Wait::Parent));
        }
        let own = match &op.op {
            Op::Move { source } => Some(source),
            Op::Create { .. } | Op::Remove => None,
            Op::Change(_) => return None,
        };
        if let Some(other) = self
            .source_below(&target, i, own)
            .or_else(|| self.staged_below(&target, i))
        {
            return Some((other, Wait::Source));
        }
        // A directory cannot move below itself: what holds the target
        // inside the source moves out first.
        let from = if op.staged {
            self.current_place(i)
        } else {
            own.and_then(|source| self.locate(source))
        };
        let from = from.filter(|from| target.starts_with(from))?;
        target
            .ancestors()
            .take_while(|a| *a != from.as_path())
            .find_map(|a| self.pending_at(a))
            .map(|other| (other, Wait::Nest))
    }

    /// The pending move whose node stands exactly at `at` now.
    fn pending_at(&self, at: &Path) -> Option<usize> {
        let other = match self.done.resolve(at) {
            Resolved::Base(from) => *self.pending.get(&from)?,
            Resolved::New => *self.placed_new.get(&self.done.new_id_at(at)?)?,
            Resolved::Nothing => return None,
        };
        (self.state[other] != State::Done && matches!(self.ops[other].op, Op::Move { .. }))
            .then_some(other)
    }

    /// A pending move (other than `i`, whose source is `own`) whose source
    /// lies at or below `target` now.
    fn source_below(&self, target: &Path, i: usize, own: Option<&PathBuf>) -> Option<usize> {
        // Base paths whose content may lie at or below the target now.
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Resolved::Base(from) = self.done.resolve(target) {
            roots.push(from);
        }
        for (_, entry) in self.done.below(target) {
            if let Node::Base { from, .. } = &entry.node {
                roots.push(from.clone());
            }
        }
        for root in &roots {
            let candidates = self
                .pending
                .range::<Path, _>((Bound::Included(root.as_path()), Bound::Unbounded))
                .take_while(|(source, _)| source.starts_with(root));
            for (source, &other) in candidates {
                if Some(source) == own || other == i {
                    continue;
                }
                if self.locate(source).is_some_and(|at| at.starts_with(target)) {
                    return Some(other);
                }
            }
        }
        None
    }

    /// A new node staged (by an operation other than `i`) and not yet
    /// moved to its place, standing at or below `target` now: it must move
    /// out before anything is written there, or the write would replace it
    /// and whatever was placed below it.
    fn staged_below(&self, target: &Path, i: usize) -> Option<usize> {
        let below = self.done.below(target).filter_map(|(_, e)| match e.node {
            Node::New { id, .. } => Some(id),
            _ => None,
        });
        self.done
            .new_id_at(target)
            .into_iter()
            .chain(below)
            .filter_map(|id| self.placed_new.get(&id).copied())
            .find(|&other| other != i && self.ops[other].staged && self.state[other] != State::Done)
    }

    /// Where the output has put the base content of `source` so far, or
    /// `None` if it has replaced or removed it.
    fn locate(&self, source: &Path) -> Option<PathBuf> {
        let mut at = source.to_path_buf();
        for ancestor in source.ancestors() {
            if let Some(current) = self.done.current_of(ancestor) {
                let rest = source.strip_prefix(ancestor).unwrap_or(Path::new(""));
                at = rejoin(current, rest);
                break;
            }
        }
        match self.done.resolve(&at) {
            Resolved::Base(from) if from == source => Some(at),
            _ => None,
        }
    }

    fn emit(&mut self, i: usize, out: &mut Vec<Event>) {
        self.state[i] = State::Done;
        self.seq += 1;
        let seq = self.seq;
        let (target, _) = self.placement(i);
        let op = &self.ops[i];
        let (is_dir, origin) = (op.is_dir, op.origin);
        let kind = match &op.op {
            Op::Move { source } => {
                let source = source.clone();
                self.pending.remove(&source);
                let from = if self.ops[i].staged {
                    self.current_place(i)
                } else {
                    self.locate(&source)
                };
                match from {
                    Some(at) => {
                        self.done.renamed(&at, &target, is_dir, origin, seq);
                        if !self.ops[i].staged {
                            self.ops[i].placed = Some(Placed::Base(source));
                        }
                        EventKind::Renamed { from: at }
                    }
                    None => {
                        self.done.created(&target, is_dir, origin, seq);
                        self.ops[i].placed = Some(Placed::New(seq));
                        self.placed_new.insert(seq, i);
                        EventKind::Created
                    }
                }
            }
            Op::Create { replaces } => {
                let in_place = !is_dir
                    && replaces.as_ref().is_some_and(|file| {
                        self.done.resolve(&target) == Resolved::Base(file.clone())
                    });
                if in_place {
                    // The same base file, with new content.
                    self.ops[i].placed = replaces.clone().map(Placed::Base);
                    EventKind::Modified
                } else {
                    self.done.created(&target, is_dir, origin, seq);
                    self.ops[i].placed = Some(Placed::New(seq));
                    self.placed_new.insert(seq, i);
                    EventKind::Created
                }
            }
            Op::Remove => match self.done.resolve(&target) {
                Resolved::Nothing => return,
                Resolved::Base(_) | Resolved::New => {
                    self.done.removed(&target, is_dir, origin, seq);
                    EventKind::Removed
                }
            },
            Op::Change(Change::Modified) => EventKind::Modified,
            Op::Change(Change::Metadata) => EventKind::Metadata,
        };
        out.push(Event {
            kind,
            path: target,
            is_dir,
            origin,
        });
    }
}
