//! Overflow recovery: stop reading, cause more events than the kernel queue
//! holds, then read. The overflow event must appear, and the rescan events
//! after it must bring the folded view back to the real tree; watches must
//! be re-armed (also on directories created while events were lost).
#![cfg(linux_kernel)]

use std::fs;
use std::time::Duration;

use test_support::{TempDir, fold, scan};
use watch_core::{Backend, Config, EventKind, Origin, RecursiveMode, Watcher};

fn max_queued_events() -> usize {
    fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384)
}

#[test]
fn overflow_is_reported_and_the_rescan_restores_the_view() {
    let tmp = TempDir::new("overflow");
    let root = tmp.path().join("root");
    for d in 0..10 {
        fs::create_dir_all(root.join(format!("d{d}"))).unwrap();
        for f in 0..10 {
            fs::write(root.join(format!("d{d}/f{f}")), b"x").unwrap();
        }
    }
    fs::create_dir(root.join("flood")).unwrap();
    let mut w = Watcher::with_config(Config::default().backend(Backend::Inotify)).unwrap();
    w.watch(&root, RecursiveMode::Recursive).unwrap();
    let mut view = scan(&root);

    // Nothing is read from here on until the queue has overflowed.
    let limit = max_queued_events();
    let flood = limit + 512; // each create queues CREATE and CLOSE_WRITE
    for i in 0..flood {
        fs::File::create(root.join(format!("flood/{i}"))).unwrap();
    }
    let mut ops = flood;
    for d in 0..3 {
        fs::remove_dir_all(root.join(format!("d{d}"))).unwrap();
        ops += 1;
    }
    for d in 3..6 {
        fs::rename(root.join(format!("d{d}")), root.join(format!("moved{d}"))).unwrap();
        ops += 1;
    }
    for d in 6..8 {
        fs::write(root.join(format!("d{d}/f0")), b"changed content").unwrap();
        fs::remove_file(root.join(format!("d{d}/f1"))).unwrap();
        ops += 2;
    }
    // Directories (with contents) created while events are being lost.
    fs::create_dir_all(root.join("new/inner")).unwrap();
    fs::write(root.join("new/inner/file"), b"y").unwrap();
    ops += 2;

    let mut events = Vec::new();
    let t = std::time::Instant::now();
    w.sync(Duration::from_secs(120)).unwrap();
    while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
    eprintln!("recovery took {:?}", t.elapsed()); // information only
    let overflows = events
        .iter()
        .filter(|e| e.kind == EventKind::Overflow)
        .count();
    let rescanned = events.iter().filter(|e| e.origin == Origin::Rescan).count();
    println!(
        "overflow: max_queued_events={limit}, {ops} operations, {} events read, {overflows} overflow event(s), {rescanned} from the rescan",
        events.len()
    );
    assert!(
        overflows >= 1,
        "no overflow event among {} events",
        events.len()
    );
    assert_eq!(
        events
            .iter()
            .find(|e| e.kind == EventKind::Overflow)
            .map(|e| e.path.clone()),
        Some(root.clone())
    );
    assert!(rescanned > 0, "the rescan reported nothing");
    fold(&mut view, &events);
    assert_eq!(
        view,
        scan(&root),
        "the folded view differs from the tree after recovery"
    );

    // Watches were re-armed, including on the directory made while events
    // were lost and on the renamed ones.
    fs::write(root.join("new/inner/after"), b"z").unwrap();
    fs::write(root.join("moved3/after"), b"z").unwrap();
    events.clear();
    w.sync(Duration::from_secs(60)).unwrap();
    while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
    for p in [root.join("new/inner/after"), root.join("moved3/after")] {
        assert!(
            events
                .iter()
                .any(|e| e.kind == EventKind::Created && e.path == p),
            "no created event for {} after recovery: {events:?}",
            p.display()
        );
    }
    assert!(!events.iter().any(|e| e.kind == EventKind::Overflow));
}
