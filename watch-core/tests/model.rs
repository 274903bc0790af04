//! Model test: random filesystem operations under a recursive watch. After
//! `sync`, folding the event stream onto the starting tree must equal a
//! fresh scan of the real tree, on every backend.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use test_support::{TempDir, Tree, fold, scan};
use watch_core::{Backend, Config, Event, EventKind, RecursiveMode, Watcher};

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Clone, Debug)]
enum Op {
    Mkdir {
        parent: usize,
        name: usize,
    },
    Create {
        parent: usize,
        name: usize,
    },
    Append {
        target: usize,
    },
    Remove {
        target: usize,
    },
    Rename {
        target: usize,
        parent: usize,
        name: usize,
    },
    MoveOut {
        target: usize,
    },
    MoveIn {
        parent: usize,
        name: usize,
        with_dir: bool,
    },
    Symlink {
        parent: usize,
        name: usize,
    },
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0usize..64;
    let n = 0usize..NAMES.len();
    prop_oneof![
        3 => (i.clone(), n.clone()).prop_map(|(parent, name)| Op::Mkdir { parent, name }),
        4 => (i.clone(), n.clone()).prop_map(|(parent, name)| Op::Create { parent, name }),
        2 => i.clone().prop_map(|target| Op::Append { target }),
        2 => i.clone().prop_map(|target| Op::Remove { target }),
        3 => (i.clone(), i.clone(), n.clone()).prop_map(|(target, parent, name)| Op::Rename { target, parent, name }),
        1 => i.clone().prop_map(|target| Op::MoveOut { target }),
        1 => (i.clone(), n.clone(), any::<bool>()).prop_map(|(parent, name, with_dir)| Op::MoveIn { parent, name, with_dir }),
        1 => (i, n).prop_map(|(parent, name)| Op::Symlink { parent, name }),
        1 => Just(Op::Sync),
    ]
}

/// Entries of the real tree, in a stable order, for picking operands.
fn entries(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let tree = scan(root);
    let all: Vec<PathBuf> = tree.keys().cloned().collect();
    let mut dirs = vec![root.to_path_buf()];
    dirs.extend(tree.iter().filter(|(_, d)| **d).map(|(p, _)| p.clone()));
    (all, dirs)
}

static OUTSIDE: AtomicUsize = AtomicUsize::new(0);

/// Applies one operation; failures (e.g. a name already taken, moving a
/// directory into itself) just leave the tree unchanged. Returns the path
/// and inode of a file whose content it changed.
fn apply(root: &Path, outside: &Path, op: &Op) -> Option<(PathBuf, u64)> {
    let (all, dirs) = entries(root);
    let pick = |v: &Vec<PathBuf>, i: usize| v.get(i % v.len().max(1)).cloned();
    let in_dir = |parent: usize, name: usize| pick(&dirs, parent).map(|d| d.join(NAMES[name]));
    let trace = std::env::var_os("MODEL_TRACE").is_some();
    let result = match op {
        Op::Mkdir { parent, name } => in_dir(*parent, *name).map(fs::create_dir),
        Op::Create { parent, name } => in_dir(*parent, *name).map(|p| fs::write(p, b"x")),
        Op::Append { target } => pick(&all, *target).map(|p| {
            fs::OpenOptions::new()
                .append(true)
                .open(p)
                .and_then(|mut f| f.write_all(b"more"))
        }),
        Op::Remove { target } => pick(&all, *target).map(|p| {
            if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                fs::remove_dir_all(p)
            } else {
                fs::remove_file(p)
            }
        }),
        Op::Rename {
            target,
            parent,
            name,
        } => match (pick(&all, *target), in_dir(*parent, *name)) {
            (Some(from), Some(to)) => Some(fs::rename(from, to)),
            _ => None,
        },
        Op::MoveOut { target } => pick(&all, *target).map(|p| {
            let n = OUTSIDE.fetch_add(1, Ordering::Relaxed);
            fs::rename(p, outside.join(format!("out{n}")))
        }),
        Op::MoveIn {
            parent,
            name,
            with_dir,
        } => in_dir(*parent, *name).map(|to| {
            let n = OUTSIDE.fetch_add(1, Ordering::Relaxed);
            let staged = outside.join(format!("in{n}"));
            if *with_dir {
                fs::create_dir_all(staged.join("inner/deeper"))?;
                fs::write(staged.join("inner/file"), b"y")?;
            } else {
                fs::write(&staged, b"z")?;
            }
            fs::rename(staged, to)
        }),
        Op::Symlink { parent, name } => {
            in_dir(*parent, *name).map(|p| std::os::unix::fs::symlink("..", p))
        }
        Op::Sync => None,
    };
    if trace {
        let tree: Vec<String> = scan(root)
            .keys()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect();
        eprintln!(
            "{op:?} -> {:?}; tree now {tree:?}",
            result.as_ref().map(|r| r.is_ok())
        );
    }
    match (op, result) {
        (Op::Append { target }, Some(Ok(()))) => {
            let p = pick(&all, *target)?;
            fs::symlink_metadata(&p)
                .ok()
                .map(|m| (p, std::os::unix::fs::MetadataExt::ino(&m)))
        }
        _ => None,
    }
}

/// Every file written since the last sync that is still there (same inode,
/// same path) must have an event at that path in this sync's events.
fn check_writes(written: &mut Vec<(PathBuf, u64)>, events: &[Event]) -> Result<(), TestCaseError> {
    for (p, ino) in written.drain(..) {
        let same =
            fs::symlink_metadata(&p).is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) == ino);
        if same {
            prop_assert!(
                events.iter().any(|e| e.path == p
                    && matches!(
                        e.kind,
                        EventKind::Modified | EventKind::Created | EventKind::Renamed { .. }
                    )),
                "a write to {} was not reported: {events:?}",
                p.display()
            );
        }
    }
    Ok(())
}

fn drain(w: &mut Watcher, sink: &mut Vec<Event>) {
    sink.extend(test_support::sync_and_drain(w, Duration::from_secs(60)));
}

fn check(backend: Backend, ops: &[Op]) -> Result<(), TestCaseError> {
    let tmp = TempDir::new("model");
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::create_dir(root.join("a")).unwrap();
    fs::write(root.join("a/f"), b"0").unwrap();
    let config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_secs(3600));
    let mut w = Watcher::with_config(config).expect("watcher");
    w.watch(&root, RecursiveMode::Recursive).expect("watch");
    let mut view: Tree = scan(&root);
    let mut events = Vec::new();
    let mut written = Vec::new();
    for op in ops {
        if matches!(
            op,
            Op::Remove { .. } | Op::Rename { .. } | Op::MoveOut { .. } | Op::MoveIn { .. }
        ) {
            // The written file may be gone and its inode number reused by a
            // new file at the same path: only check writes nothing followed.
            written.clear();
        }
        written.extend(apply(&root, &outside, op));
        if matches!(op, Op::Sync) {
            let from = events.len();
            drain(&mut w, &mut events);
            check_writes(&mut written, &events[from..])?;
        }
    }
    let from = events.len();
    drain(&mut w, &mut events);
    check_writes(&mut written, &events[from..])?;
    fold(&mut view, &events);
    if std::env::var_os("MODEL_FIGURES").is_some() {
        eprintln!(
            "model-case {backend} ops={} events={}",
            ops.len(),
            events.len()
        );
    }
    let real = scan(&root);
    prop_assert!(
        !events.iter().any(|e| e.path.starts_with(&outside)
            || matches!(&e.kind, EventKind::Renamed { from } if from.starts_with(&outside))),
        "an event names a path outside the watched root: {events:#?}"
    );
    let brief: Vec<String> = events
        .iter()
        .map(|e| {
            let rel = |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
            let from = match &e.kind {
                EventKind::Renamed { from } => format!(" from {}", rel(from)),
                _ => String::new(),
            };
            format!(
                "{:?} {}{}{from} ({:?})",
                e.kind,
                rel(&e.path),
                if e.is_dir { "/" } else { "" },
                e.origin
            )
        })
        .collect();
    prop_assert_eq!(
        view,
        real,
        "folded events differ from the tree; events: {:#?}",
        brief
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

#[cfg(linux_kernel)]
proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
    #[test]
    fn folded_events_match_the_tree_on_inotify(ops in proptest::collection::vec(op(), 1..40)) {
        check(Backend::Inotify, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
    #[test]
    fn folded_events_match_the_tree_on_poll(ops in proptest::collection::vec(op(), 1..40)) {
        check(Backend::Poll, &ops)?;
    }
}

#[cfg(has_kqueue)]
proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]
    #[test]
    fn folded_events_match_the_tree_on_kqueue(ops in proptest::collection::vec(op(), 1..40)) {
        check(Backend::Kqueue, &ops)?;
    }
}
