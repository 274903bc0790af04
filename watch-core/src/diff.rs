//! The difference between two snapshots of one root, as events.
//!
//! Order matters, so that folding the events onto the old snapshot gives the
//! new one: removals (deepest first), then renames, then creations (parents
//! first), then content and metadata changes. Renames are recognised for
//! non-directories whose (device, inode) moved between two directories that
//! stayed in place and that look renamed, not new (a new file that reused
//! a removed file's inode has its own mtime, and its ctime is not past it:
//! [`Entry::may_have_moved_to`]); a moved directory is reported as removed
//! plus created.
//!
//! A file is `Modified` when its size, mtime or (symlink) target changed,
//! and also when only its ctime moved and nothing else in the two snapshots
//! explains that: not a permission or ownership change (reported as
//! `Metadata`), not a rename (the renamed file's ctime moves with it), and
//! not a link added or removed inside the root (the object is at more than
//! one path in either snapshot). That catches a same-size rewrite whose
//! mtime was put back (`cp -p`, `tar x`, `rsync -t`, `touch -r`), which
//! size and mtime alone miss. A link added or removed *outside* the root
//! moves the ctime too and is then reported as `Modified`: a rescan cannot
//! tell it from a rewrite without reading the content, and an extra
//! `Modified` loses nothing.
//!
//! A file the old snapshot only *listed* ([`Entry::listed`]: known from a
//! directory listing, never examined) has no size, times or permissions to
//! compare: it is reported as both `Modified` and `Metadata` when its ctime
//! is not older than the listing (less a margin), also after a rename.
//! That may be one pair of events too many after an overflow (for a file
//! changed shortly before it was listed, renamed, or given a permission
//! change only), never one too few.
//!
//! A file known only from its creation event ([`Snapshot::announce`]: type
//! from the event, inode unknown) is taken to be whatever non-directory is
//! found at its path, and judged the same way against the moment its
//! events were known to be all read; a replacement moved the ctime past
//! that, so it is reported as `Modified` and `Metadata`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::snapshot::{Entry, EntryKind, Snapshot, join_rel};
use crate::{Event, EventKind, Origin};

/// Events turning `old` into `new`, for the root the user named `root`.
pub(crate) fn diff(root: &Path, old: &Snapshot, new: &Snapshot, origin: Origin) -> Vec<Event> {
    let mut removed: Vec<(&PathBuf, &Entry)> = Vec::new();
    let mut created: Vec<(&PathBuf, &Entry)> = Vec::new();
    let mut kept: Vec<(&PathBuf, &Entry, &Entry)> = Vec::new();
    let old_entries: Vec<(PathBuf, Entry)> = old.iter().collect();
    let new_entries: Vec<(PathBuf, Entry)> = new.iter().collect();
    let mut a = old_entries.iter().map(|(p, e)| (p, e)).peekable();
    let mut b = new_entries.iter().map(|(p, e)| (p, e)).peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => removed.extend(a.by_ref()),
            (None, Some(_)) => created.extend(b.by_ref()),
            (Some((pa, ea)), Some((pb, eb))) => match pa.cmp(pb) {
                std::cmp::Ordering::Less => {
                    removed.push((pa, ea));
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    created.push((pb, eb));
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    // A watched file replaced by another file (atomic save,
                    // symlink swap) is, for that name, a content change.
                    let root_file = pa.as_os_str().is_empty() && !ea.is_dir() && !eb.is_dir();
                    if ea.may_be(eb) || root_file {
                        kept.push((pa, ea, eb));
                    } else {
                        removed.push((pa, ea));
                        created.push((pb, eb));
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }

    // Below a removed or replaced directory, even an unchanged object (a hard
    // link) was removed with it as far as the folded view is concerned.
    let gone_dirs: HashSet<&Path> = removed
        .iter()
        .filter(|(_, e)| e.kind != EntryKind::File)
        .map(|(p, _)| p.as_path())
        .collect();
    let mut changed: Vec<(&PathBuf, &Entry, &Entry)> = Vec::new();
    for (p, ea, eb) in kept {
        if !gone_dirs.is_empty() && p.ancestors().skip(1).any(|anc| gone_dirs.contains(anc)) {
            removed.push((p, ea));
            created.push((p, eb));
        } else {
            changed.push((p, ea, eb));
        }
    }
    removed.sort_by(|x, y| y.0.cmp(x.0));
    created.sort_by(|x, y| x.0.cmp(y.0));

    // Renames: a non-directory object that left one stable directory and
    // appeared in another (or the same) one.
    let stable = |p: &Path| -> bool {
        let parent = p.parent().unwrap_or(Path::new(""));
        match (old.get(parent), new.get(parent)) {
            (Some(x), Some(y)) => x.same_object(&y) && !gone_dirs.contains(parent),
            _ => false,
        }
    };
    let mut sources: HashMap<(EntryKind, u64, u64), usize> = HashMap::new();
    for (i, (p, e)) in removed.iter().enumerate() {
        if e.kind != EntryKind::Dir && !p.as_os_str().is_empty() && stable(p) {
            sources.insert((e.kind, e.dev, e.ino), i);
        }
    }
    let mut renamed_from: HashSet<usize> = HashSet::new();
    let mut pairs: Vec<(usize, &PathBuf, &Entry)> = Vec::new();
    let mut creations: Vec<Event> = Vec::new();
    for (p, e) in &created {
        let key = (e.kind, e.dev, e.ino);
        let source = if e.kind != EntryKind::Dir && !p.as_os_str().is_empty() && stable(p) {
            sources
                .get(&key)
                .copied()
                .filter(|i| !renamed_from.contains(i) && removed[*i].1.may_have_moved_to(e))
        } else {
            None
        };
        match source {
            Some(i) => {
                renamed_from.insert(i);
                pairs.push((i, p, e));
            }
            None => creations.push(Event::new(
                EventKind::Created,
                join_rel(root, p),
                e.is_dir(),
                origin,
            )),
        }
    }

    // A rename onto a path that is itself the source of another rename must
    // wait for that one. A cycle (a swap) cannot be expressed by renames in
    // sequence: one of its renames becomes a removal plus a creation.
    let mut ordered: Vec<(usize, &PathBuf, &Entry)> = Vec::with_capacity(pairs.len());
    while !pairs.is_empty() {
        let sources_left: HashSet<&Path> = pairs
            .iter()
            .map(|(i, _, _)| removed[*i].0.as_path())
            .collect();
        let (ready, blocked): (Vec<_>, Vec<_>) = pairs
            .into_iter()
            .partition(|(_, to, _)| !sources_left.contains(to.as_path()));
        pairs = blocked;
        if ready.is_empty() {
            let (i, to, e) = pairs.remove(0);
            renamed_from.remove(&i);
            creations.push(Event::new(
                EventKind::Created,
                join_rel(root, to),
                e.is_dir(),
                origin,
            ));
        }
        ordered.extend(ready);
    }
    creations.sort_by(|x, y| x.path.cmp(&y.path));
    let mut renames: Vec<Event> = Vec::new();
    let mut after: Vec<Event> = Vec::new();
    for (i, p, e) in ordered {
        let (from, old_entry) = removed[i];
        renames.push(Event::new(
            EventKind::Renamed {
                from: join_rel(root, from),
            },
            join_rel(root, p),
            false,
            origin,
        ));
        if old_entry.content_differs(e) {
            after.push(Event::new(
                EventKind::Modified,
                join_rel(root, p),
                false,
                origin,
            ));
        }
        if old_entry.metadata_differs(e) {
            after.push(Event::new(
                EventKind::Metadata,
                join_rel(root, p),
                false,
                origin,
            ));
        }
    }

    let mut events = Vec::with_capacity(removed.len() + created.len() + changed.len());
    for (i, (p, e)) in removed.iter().enumerate() {
        if !renamed_from.contains(&i) {
            events.push(Event::new(
                EventKind::Removed,
                join_rel(root, p),
                e.is_dir(),
                origin,
            ));
        }
    }
    events.extend(renames);
    events.extend(creations);
    events.extend(after);
    let mut linked: Option<HashSet<(u64, u64)>> = None;
    for (p, ea, eb) in changed {
        let modified = ea.content_differs(eb)
            || !ea.may_be(eb)
            || (ea.ctime_differs(eb)
                && !ea.metadata_differs(eb)
                && !linked
                    .get_or_insert_with(|| multiply_linked(&old_entries, &new_entries))
                    .contains(&(eb.dev, eb.ino)));
        if modified {
            events.push(Event::new(
                EventKind::Modified,
                join_rel(root, p),
                eb.is_dir(),
                origin,
            ));
        }
        if ea.metadata_differs(eb) {
            events.push(Event::new(
                EventKind::Metadata,
                join_rel(root, p),
                eb.is_dir(),
                origin,
            ));
        }
    }
    events
}

/// The (device, inode) of every non-directory found at more than one path
/// in `old` or in `new`: a link to it was added or removed inside the root,
/// or it has several, and either moves its ctime.
fn multiply_linked(old: &[(PathBuf, Entry)], new: &[(PathBuf, Entry)]) -> HashSet<(u64, u64)> {
    let mut multi = HashSet::new();
    for snap in [old, new] {
        let mut seen = HashSet::new();
        for (_, e) in snap {
            if !matches!(e.kind, EntryKind::Dir | EntryKind::Symlink)
                && !seen.insert((e.dev, e.ino))
            {
                multi.insert((e.dev, e.ino));
            }
        }
    }
    multi
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: EntryKind, ino: u64, size: u64) -> Entry {
        Entry {
            kind,
            listed: false,
            dev: 1,
            ino,
            size,
            mtime: 0,
            ctime: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            target: None,
        }
    }

    fn snap(items: &[(&str, EntryKind, u64, u64)]) -> Snapshot {
        let mut s = Snapshot::default();
        for &(p, k, ino, size) in items {
            s.insert(PathBuf::from(p), entry(k, ino, size));
        }
        s
    }

    fn brief(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Renamed { from } => {
                    format!("renamed {} -> {}", from.display(), e.path.display())
                }
                k => format!("{k:?} {}", e.path.display()).to_lowercase(),
            })
            .collect()
    }

    use EntryKind::{Dir, File, Symlink};

    #[test]
    fn create_modify_remove_rename() {
        let old = snap(&[
            ("", Dir, 1, 0),
            ("a", File, 2, 0),
            ("b", File, 3, 0),
            ("d", Dir, 4, 0),
            ("d/x", File, 5, 0),
        ]);
        let new = snap(&[
            ("", Dir, 1, 0),
            ("a", File, 2, 9),
            ("c", File, 3, 0),
            ("d", Dir, 4, 0),
            ("n", File, 6, 0),
        ]);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            [
                "removed r/d/x",
                "renamed r/b -> r/c",
                "created r/n",
                "modified r/a"
            ]
        );
        assert!(ev.iter().all(|e| e.origin == Origin::Rescan));
    }

    #[test]
    fn a_file_known_from_its_creation_event_is_judged_by_its_ctime() {
        let mut old = snap(&[("", Dir, 1, 0)]);
        for name in ["kept", "rewritten", "now-dir", "link", "gone"] {
            assert!(old.announce(Path::new(""), name.as_ref(), Path::new(name), 1_000));
        }
        // Only where nothing is recorded yet.
        assert!(!old.announce(Path::new(""), "kept".as_ref(), Path::new("kept"), 5));
        // No lstat: the inode is unknown, so it is never the same object.
        let announced = old.get(Path::new("kept")).unwrap();
        assert!(announced.is_announced() && announced.ctime == 1_000);
        assert!(!announced.same_object(&announced));
        let at = |kind, ino, ctime| Entry {
            ctime,
            ..entry(kind, ino, 0)
        };
        let mut new = snap(&[("", Dir, 1, 0)]);
        new.insert(PathBuf::from("kept"), at(File, 10, 999));
        new.insert(PathBuf::from("rewritten"), at(File, 11, 1_000));
        new.insert(PathBuf::from("now-dir"), at(Dir, 12, 999));
        new.insert(PathBuf::from("link"), at(Symlink, 13, 999));
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            [
                "removed r/now-dir",
                "removed r/gone",
                "created r/now-dir",
                "modified r/rewritten",
                "metadata r/rewritten"
            ]
        );
        // Confirmed later (every change before 2_000 was handled): the
        // rewrite at 1_000 had its own events.
        old.confirm(2_000);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            ["removed r/now-dir", "removed r/gone", "created r/now-dir"]
        );
    }

    #[test]
    fn replaced_dir_takes_hard_links_with_it() {
        let old = snap(&[("", Dir, 1, 0), ("d", Dir, 4, 0), ("d/x", File, 5, 0)]);
        let new = snap(&[("", Dir, 1, 0), ("d", Dir, 7, 0), ("d/x", File, 5, 0)]);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            [
                "removed r/d/x",
                "removed r/d",
                "created r/d",
                "created r/d/x"
            ]
        );
    }

    #[test]
    fn rename_over_existing_removes_the_old_one_first() {
        let old = snap(&[("", Dir, 1, 0), ("a", File, 2, 0), ("b", File, 3, 0)]);
        let new = snap(&[("", Dir, 1, 0), ("b", File, 2, 0)]);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["removed r/b", "renamed r/a -> r/b"]);
    }

    #[test]
    fn chained_renames_are_ordered_and_swaps_broken() {
        let old = snap(&[("", Dir, 1, 0), ("a", File, 2, 0), ("b", File, 3, 0)]);
        let chain = snap(&[("", Dir, 1, 0), ("b", File, 2, 0), ("c", File, 3, 0)]);
        let ev = diff(Path::new("r"), &old, &chain, Origin::Rescan);
        assert_eq!(brief(&ev), ["renamed r/b -> r/c", "renamed r/a -> r/b"]);
        let swap = snap(&[("", Dir, 1, 0), ("a", File, 3, 0), ("b", File, 2, 0)]);
        let ev = diff(Path::new("r"), &old, &swap, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            ["removed r/b", "renamed r/a -> r/b", "created r/a"]
        );
    }

    /// `snap` with the ctime (and mode) of one path changed.
    fn touched(s: &Snapshot, path: &str, ctime: i64, mode: u32) -> Snapshot {
        let mut s = s.clone();
        if let Some(mut e) = s.get(Path::new(path)) {
            e.ctime = ctime;
            e.mode = mode;
            s.insert(PathBuf::from(path), e);
        }
        s
    }

    fn set_ctime(s: &mut Snapshot, path: &str, ctime: i64) {
        let mut e = s.get(Path::new(path)).unwrap();
        e.ctime = ctime;
        s.insert(PathBuf::from(path), e);
    }

    #[test]
    fn a_listed_file_is_judged_by_its_ctime_against_the_listing() {
        let mut old = snap(&[("", Dir, 1, 0), ("d", Dir, 4, 0)]);
        for (p, ino) in [("d/a", 2), ("d/b", 3), ("d/c", 5)] {
            old.insert(PathBuf::from(p), Entry::listed(1, ino, 100));
        }
        let mut new = snap(&[
            ("", Dir, 1, 0),
            ("d", Dir, 4, 0),
            ("d/a", File, 2, 5),
            ("d/b", File, 3, 5),
            ("d/e", File, 5, 5),
        ]);
        // a: untouched since the listing; b: changed after it; c renamed to e.
        set_ctime(&mut new, "d/a", 99);
        set_ctime(&mut new, "d/b", 100);
        set_ctime(&mut new, "d/e", 150);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            [
                "renamed r/d/c -> r/d/e",
                "modified r/d/e",
                "metadata r/d/e",
                "modified r/d/b",
                "metadata r/d/b"
            ]
        );
    }

    /// `mv OUT/n d/f; rm d/f; echo c > d/cookie` between two polls: the
    /// cookie reused the inode `d/f` had at the last poll. That is not a
    /// rename of `d/f`: its mtime is its own and its ctime is the same. A
    /// file written, then renamed (ctime past mtime) is a rename.
    #[test]
    fn a_new_file_that_reused_a_removed_inode_is_not_a_rename() {
        let mut old = snap(&[("", Dir, 1, 0), ("d", Dir, 4, 0), ("d/f", File, 2, 3)]);
        let mut new = snap(&[("", Dir, 1, 0), ("d", Dir, 4, 0), ("d/cookie", File, 2, 3)]);
        set_mtime(&mut old, "d/f", 100);
        set_mtime(&mut new, "d/cookie", 200);
        set_ctime(&mut new, "d/cookie", 200);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["removed r/d/f", "created r/d/cookie"]);
        // Written at 200, renamed at 300: renamed, and modified.
        set_ctime(&mut new, "d/cookie", 300);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(
            brief(&ev),
            ["renamed r/d/f -> r/d/cookie", "modified r/d/cookie"]
        );
        set_ctime(&mut new, "d/cookie", 200);
        // Same size and mtime: renamed.
        set_mtime(&mut new, "d/cookie", 100);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["renamed r/d/f -> r/d/cookie"]);
        // Listed at 150: written at 200, after the listing, it is new.
        old.insert(PathBuf::from("d/f"), Entry::listed(1, 2, 150));
        set_mtime(&mut new, "d/cookie", 200);
        set_ctime(&mut new, "d/cookie", 200);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["removed r/d/f", "created r/d/cookie"]);
    }

    fn set_mtime(s: &mut Snapshot, path: &str, mtime: i64) {
        let mut e = s.get(Path::new(path)).expect("entry");
        e.mtime = mtime;
        s.insert(PathBuf::from(path), e);
    }

    #[test]
    fn a_ctime_that_moved_alone_is_a_rewrite() {
        let old = snap(&[("", Dir, 1, 0), ("a", File, 2, 5), ("b", File, 3, 5)]);
        let new = touched(&old, "a", 7, 0o644);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["modified r/a"]);
        // The same for a watched file (the root itself).
        let old = snap(&[("", File, 2, 5)]);
        let new = touched(&old, "", 7, 0o644);
        assert_eq!(
            brief(&diff(Path::new("f"), &old, &new, Origin::Rescan)),
            ["modified f"]
        );
        // Directories and symlinks: their entries report what changed.
        let old = snap(&[("", Dir, 1, 0), ("d", Dir, 4, 0), ("l", Symlink, 5, 1)]);
        let new = touched(&touched(&old, "d", 7, 0o644), "l", 7, 0o644);
        assert!(diff(Path::new("r"), &old, &new, Origin::Rescan).is_empty());
    }

    #[test]
    fn a_ctime_explained_by_something_else_is_not_a_rewrite() {
        let old = snap(&[("", Dir, 1, 0), ("a", File, 2, 5), ("b", File, 3, 5)]);
        // chmod
        let new = touched(&old, "a", 7, 0o600);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["metadata r/a"]);
        // a rename
        let mut new = snap(&[("", Dir, 1, 0), ("b", File, 3, 5), ("c", File, 2, 5)]);
        set_ctime(&mut new, "c", 7);
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["renamed r/a -> r/c"]);
        // a hard link added inside the root, then one that was already there
        let mut new = snap(&[
            ("", Dir, 1, 0),
            ("a", File, 2, 5),
            ("b", File, 3, 5),
            ("h", File, 2, 5),
        ]);
        for p in ["a", "h"] {
            set_ctime(&mut new, p, 7);
        }
        let ev = diff(Path::new("r"), &old, &new, Origin::Rescan);
        assert_eq!(brief(&ev), ["created r/h"]);
        let again = touched(&touched(&new, "a", 9, 0o644), "h", 9, 0o644);
        assert!(diff(Path::new("r"), &new, &again, Origin::Rescan).is_empty());
    }

    #[test]
    fn root_file_appears_and_goes() {
        let none = Snapshot::default();
        let some = snap(&[("", File, 2, 0)]);
        assert_eq!(
            brief(&diff(Path::new("f"), &none, &some, Origin::Rescan)),
            ["created f"]
        );
        assert_eq!(
            brief(&diff(Path::new("f"), &some, &none, Origin::Rescan)),
            ["removed f"]
        );
        let replaced = snap(&[("", File, 3, 0)]);
        assert_eq!(
            brief(&diff(Path::new("f"), &some, &replaced, Origin::Rescan)),
            ["modified f"]
        );
    }
}
