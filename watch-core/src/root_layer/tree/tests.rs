//! The tree directories a scan records, against the watches it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use test_support::TempDir;

use super::super::{ArmError, Emit, Role, Root, SharedPath, WatchTable};
use crate::snapshot::Entry;
use crate::{Config, RecursiveMode};

/// A table that numbers its watches and keeps the live ones; arming the
/// directory at `race` (relative to `base`) moves it to `race_to` right
/// after, as a rename racing the scan would.
#[derive(Default)]
struct Table {
    next: u32,
    live: BTreeMap<u32, PathBuf>,
    base: PathBuf,
    race: Option<(PathBuf, PathBuf)>,
    blocked: BTreeSet<(usize, PathBuf)>,
}

impl WatchTable for Table {
    type Handle = u32;
    type State = ();

    fn arm(&mut self, _: usize, path: &Path, role: Role, _: bool) -> Result<u32, ArmError> {
        let Role::Tree(rel) = role else {
            panic!("only tree directories here: {role:?}");
        };
        self.next += 1;
        self.live.insert(self.next, rel.to_path_buf());
        if self
            .race
            .as_ref()
            .is_some_and(|(from, _)| path == self.base.join(from))
        {
            let (from, to) = self.race.take().unwrap();
            fs::rename(self.base.join(from), self.base.join(to)).unwrap();
        }
        Ok(self.next)
    }

    fn release(&mut self, _: usize, handle: u32, role: Role) {
        let Role::Tree(rel) = role else {
            panic!("only tree directories here: {role:?}");
        };
        assert_eq!(self.live.remove(&handle).as_deref(), Some(&*rel));
    }

    fn repath(&mut self, _: usize, handle: u32, _: Role, role: Role) {
        if let Role::Tree(rel) = role {
            self.live.insert(handle, rel.to_path_buf());
        }
    }

    fn blocked(&mut self) -> &mut BTreeSet<(usize, PathBuf)> {
        &mut self.blocked
    }

    fn take_freed(&mut self) -> bool {
        false
    }
}

/// The root's tree directories with their watches, as the table holds them.
fn recorded(root: &Root<Table>) -> BTreeMap<u32, PathBuf> {
    root.dirs
        .iter()
        .map(|(p, h)| (*h, p.to_path_buf()))
        .collect()
}

/// A recursive root over `dir`, set up as a root's setup does: its
/// directory armed first, then scanned. Returns the root (its snapshot not
/// yet set) and what the scan found.
fn scanned_root(t: &mut Table, dir: &Path) -> (Root<Table>, crate::snapshot::Snapshot) {
    let mut root = Root::<Table>::new(0, dir, RecursiveMode::Recursive);
    let key = SharedPath::from(Path::new(""));
    let handle = t.arm(0, dir, Role::Tree(key.clone()), true).unwrap();
    root.dirs.insert(key, handle);
    let entry = Entry::lstat(dir).unwrap();
    let found = root.scan(
        t,
        &Config::default(),
        Path::new(""),
        entry,
        &mut Vec::new(),
        false,
    );
    (root, found)
}

#[test]
fn a_scan_records_what_it_armed_and_releases_what_it_could_not_read() {
    let tmp = TempDir::new("tree-record");
    for d in ["a/sub/deep", "b", "c/d", "e"] {
        fs::create_dir_all(tmp.join(d)).unwrap();
    }
    fs::write(tmp.join("a/sub/f"), b"").unwrap();
    let mut t = Table {
        base: tmp.path().to_path_buf(),
        // Armed, then gone before it is read: its watch must not stay.
        race: Some(("a/sub".into(), "b/sub".into())),
        ..Table::default()
    };
    let config = Config::default();
    let (mut root, found) = scanned_root(&mut t, tmp.path());
    let dirs: Vec<PathBuf> = root.dirs.keys().map(|p| p.to_path_buf()).collect();
    let want = ["", "a", "b", "b/sub", "b/sub/deep", "c", "c/d", "e"];
    assert_eq!(dirs, want.map(PathBuf::from), "{found:?}");
    assert_eq!(recorded(&root), t.live);
    // A directory the scan armed keeps the key its snapshot entry has.
    for (p, _) in root.dirs.iter().skip(1) {
        let key = found.key(p).unwrap();
        assert!(std::ptr::eq(key.as_os_str(), p.as_os_str()), "{p:?}");
    }

    // A new directory, once known: recorded beside the others.
    root.snapshot = found;
    fs::create_dir_all(tmp.join("c/new/x")).unwrap();
    let entry = Entry::lstat(&tmp.join("c/new")).unwrap();
    root.snapshot.insert(Path::new("c/new"), entry.clone());
    let mut out = Vec::new();
    root.scan_in(
        &mut t,
        &config,
        Path::new("c/new"),
        entry,
        &mut Emit::new(&mut out),
    );
    assert!(
        root.dirs.contains_key(Path::new("c/new/x")),
        "{:?}",
        root.dirs
    );
    assert_eq!(recorded(&root), t.live);
    assert_eq!(root.dirs.len(), want.len() + 2);

    // A subtree larger than what is recorded (rescanned after the rest
    // was dropped): recorded with what was there.
    root.drop_subtree(&mut t, Path::new("a"));
    root.drop_subtree(&mut t, Path::new("b"));
    root.drop_subtree(&mut t, Path::new("c"));
    for i in 0..20 {
        fs::create_dir_all(tmp.join(format!("b/many/{i:02}"))).unwrap();
    }
    let entry = Entry::lstat(&tmp.join("b")).unwrap();
    root.snapshot.insert(Path::new("b"), entry.clone());
    root.scan_in(
        &mut t,
        &config,
        Path::new("b"),
        entry,
        &mut Emit::new(&mut out),
    );
    assert_eq!(recorded(&root), t.live);
    assert_eq!(root.dirs.len(), 2 + 2 + 2 + 20, "{:?}", root.dirs);
    assert!(root.dirs.contains_key(Path::new("e")));
    assert!(root.dirs.contains_key(Path::new("b/many/19")));
}

#[test]
fn a_rescan_leaves_a_path_hidden_by_a_rename_above_unverified() {
    let tmp = TempDir::new("tree-resync");
    fs::create_dir_all(tmp.join("g/p/b")).unwrap();
    fs::write(tmp.join("g/p/b/f"), b"").unwrap();
    let mut t = Table {
        base: tmp.path().to_path_buf(),
        ..Table::default()
    };
    let config = Config::default();
    let (mut root, found) = scanned_root(&mut t, tmp.path());
    root.snapshot = found;
    // `b` unverified, as after its creation event came when it had moved
    // already; then, right before the rescan looks at it, a rename above
    // it (whose events are still queued).
    root.snapshot
        .insert(Path::new("g/p/b"), Entry::placeholder(true));
    let (from, to) = (tmp.join("g"), tmp.join("h"));
    super::super::refresh::BEFORE_LOOK.set(Some(Box::new(move || fs::rename(from, to).unwrap())));
    let mut out = Vec::new();
    root.resync(
        &mut t,
        &config,
        Path::new("g/p/b"),
        &mut Emit::new(&mut out),
    );
    assert!(out.is_empty(), "nothing is known to be gone: {out:?}");
    assert!(
        root.snapshot
            .get(Path::new("g/p/b"))
            .is_some_and(|e| e.ino == 0),
        "still unverified"
    );
    // The rename read: rescanned where it is now, with what is below it.
    root.move_tree(&mut t, Path::new("g"), Path::new("h"));
    root.resync(
        &mut t,
        &config,
        Path::new("h/p/b"),
        &mut Emit::new(&mut out),
    );
    assert!(
        out.iter().all(|e| e.kind != crate::EventKind::Removed),
        "{out:?}"
    );
    assert!(
        root.snapshot
            .get(Path::new("h/p/b"))
            .is_some_and(|e| e.ino != 0),
        "verified where it is"
    );
    assert!(root.snapshot.get(Path::new("h/p/b/f")).is_some());
    assert_eq!(recorded(&root), t.live);
}
