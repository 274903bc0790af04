//! Records read after what they tell of changed again, against the driver.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use test_support::{TempDir, Tree, scan, tree};

use super::{InotifyDriver, rescan};
use crate::backend::Driver;
use crate::root_layer::Emit;
use crate::{Config, Event, EventKind, RecursiveMode};

/// Reads until a sync cookie comes back: every record queued before is
/// handled, settled rescans included.
fn synced(d: &mut InotifyDriver) -> Vec<Event> {
    let mut out = Vec::new();
    d.sync(&mut out, Instant::now() + Duration::from_secs(10))
        .unwrap();
    out
}

/// Folds `events` onto `tree` as `Event` documents them, and returns the
/// creations reported at a path below which the tree held something: a
/// creation told again, as no rename replaces a directory holding anything.
fn fold_checked(tree: &mut Tree, events: &[Event]) -> Vec<Event> {
    let mut broken = Vec::new();
    for e in events {
        if e.kind == EventKind::Created && tree::holds_below(tree, &e.path) {
            broken.push(e.clone());
        }
        match &e.kind {
            EventKind::Created => tree::create(tree, &e.path, e.is_dir),
            EventKind::Removed => tree::remove_subtree(tree, &e.path),
            EventKind::Renamed { from } => tree::rename(tree, from, &e.path, e.is_dir),
            _ => {}
        }
    }
    broken
}

fn created(events: &[Event], path: &Path) -> usize {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Created && e.path == path)
        .count()
}

/// A directory's creation record read after a scan listed (and reported
/// and watched) it, and after it moved on: the record tells of nothing the
/// user was not told, so it is not reported again, and neither is what the
/// scan found below it; the directory keeps its watch through the move.
#[test]
fn a_late_creation_record_of_a_listed_directory_that_moved_is_not_reported_again() {
    let tmp = TempDir::new("late-create");
    let mut d = InotifyDriver::new(Config::default()).unwrap();
    let mut out = Vec::new();
    d.add_root(tmp.path(), RecursiveMode::Recursive, &mut out)
        .unwrap();
    fs::create_dir(tmp.join("n")).unwrap();
    let first = synced(&mut d);
    assert_eq!(created(&first, &tmp.join("n")), 1, "{first:?}");
    // `b` is created in the watched `n`, its record queued; a scan (here
    // the rescan a lost event or a mount change makes) lists it first.
    fs::create_dir(tmp.join("n/b")).unwrap();
    fs::write(tmp.join("n/b/f"), b"").unwrap();
    let mut scanned = Vec::new();
    let (root, k, config) = (d.roots.iter_mut().next().unwrap(), &mut d.kernel, &d.config);
    rescan(root, k, config, &mut Emit::new(&mut scanned));
    assert_eq!(created(&scanned, &tmp.join("n/b")), 1, "{scanned:?}");
    assert_eq!(created(&scanned, &tmp.join("n/b/f")), 1, "{scanned:?}");
    // Then `n` moves before `b`'s creation record is read.
    fs::rename(tmp.join("n"), tmp.join("m")).unwrap();
    let late = synced(&mut d);
    for path in ["n/b", "m/b", "n/b/f", "m/b/f"] {
        assert_eq!(created(&late, &tmp.join(path)), 0, "{path}: {late:?}");
    }
    assert!(
        late.iter().any(|e| e.path == tmp.join("m")
            && matches!(&e.kind, EventKind::Renamed { from } if *from == tmp.join("n"))),
        "{late:?}"
    );
    // `b`'s watch, made by the scan, moved along with `n`.
    fs::write(tmp.join("m/b/g"), b"").unwrap();
    let after = synced(&mut d);
    assert_eq!(created(&after, &tmp.join("m/b/g")), 1, "{after:?}");
}

/// A creation record read when the path holds a later directory than the
/// one it tells of, which a scan found with something below it, and that
/// moved on too: not reported as a creation over what the user holds
/// there; the records queued after it set everything right.
#[test]
fn a_creation_record_is_not_reported_over_a_later_directory_a_scan_filled() {
    let tmp = TempDir::new("late-over");
    let mut d = InotifyDriver::new(Config::default()).unwrap();
    let mut view = Tree::new();
    let mut out = Vec::new();
    d.add_root(tmp.path(), RecursiveMode::Recursive, &mut out)
        .unwrap();
    // `n` made, removed and made again with `n/b`, all queued; a scan
    // finds the second `n`, with `b`.
    fs::create_dir(tmp.join("n")).unwrap();
    fs::remove_dir(tmp.join("n")).unwrap();
    fs::create_dir_all(tmp.join("n/b")).unwrap();
    let (root, k, config) = (d.roots.iter_mut().next().unwrap(), &mut d.kernel, &d.config);
    rescan(root, k, config, &mut Emit::new(&mut out));
    assert!(fold_checked(&mut view, &out).is_empty(), "{out:?}");
    assert!(view.contains_key(&tmp.join("n/b")), "{out:?}");
    // That `n` moves on, and a third takes its name, before the first
    // creation record is read.
    fs::rename(tmp.join("n"), tmp.join("m")).unwrap();
    fs::create_dir(tmp.join("n")).unwrap();
    let late = synced(&mut d);
    let broken = fold_checked(&mut view, &late);
    assert!(broken.is_empty(), "{broken:?} in {late:?}");
    assert_eq!(view, scan(tmp.path()), "{late:?}");
    // Both directories are watched.
    fs::write(tmp.join("m/b/f"), b"").unwrap();
    fs::write(tmp.join("n/g"), b"").unwrap();
    let after = synced(&mut d);
    assert!(fold_checked(&mut view, &after).is_empty(), "{after:?}");
    assert_eq!(view, scan(tmp.path()), "{after:?}");
}
