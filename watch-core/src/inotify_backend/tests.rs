//! Records read after what they tell of changed again, against the driver.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use test_support::TempDir;

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
