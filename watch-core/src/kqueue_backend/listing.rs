//! Ordering the differences one directory listing pass found.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::snapshot::join_rel;
use crate::{Event, EventKind};

/// Orders the events of one listing pass (`dir_moves`: directories found
/// moved, new relative path -> old one) so that folding them gives the
/// tree: removals, then every rename (files renamed, directories moved),
/// where a rename onto the source of another waits for that one and a
/// cycle (a swap) is broken into a removal and a later creation, then
/// creations (parents first), then changes.
pub(super) fn order_listing(
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
