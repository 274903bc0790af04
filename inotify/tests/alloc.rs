//! Zero heap allocations on the hot paths: `add_watch` (short paths),
//! `rm_watch`, `read` plus decoding, and the `WouldBlock` error. Uses a
//! counting global allocator, so it has its own test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs::{self, File};
use std::sync::atomic::{AtomicUsize, Ordering};

use inotify::{Event, EventBuffer, Events, Inotify, WatchMask};
use test_support::TempDir;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is a side effect that allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr` came from `System` with `layout`; forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed) - before
}

#[test]
fn hot_paths_do_not_allocate() {
    // The counter works at all.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);

    let dir = TempDir::new("inotify-test");
    let dirs: Vec<_> = (0..50).map(|i| dir.join(format!("d{i}"))).collect();
    for d in &dirs {
        fs::create_dir(d).unwrap();
    }
    let ino = Inotify::init_nonblocking().unwrap();
    let mut buf = EventBuffer::default();
    let mut wds = Vec::with_capacity(dirs.len());

    let n = allocations(|| {
        for d in &dirs {
            wds.push(
                ino.add_watch(d, WatchMask::CREATE | WatchMask::DELETE)
                    .unwrap(),
            );
        }
    });
    assert_eq!(n, 0, "add_watch allocated");

    for d in &dirs {
        File::create(d.join("some-file-name")).unwrap();
    }
    let mut seen = 0usize;
    let mut name_bytes = 0usize;
    let n = allocations(|| {
        loop {
            match ino.read(&mut buf) {
                Ok(events) => {
                    for e in events {
                        if let Ok(Event::Watch(w)) = e {
                            seen += 1;
                            name_bytes += w.name.map_or(0, |n| n.len());
                        }
                    }
                }
                Err(e) => {
                    assert!(e.is_would_block());
                    break;
                }
            }
        }
    });
    assert_eq!(n, 0, "read, decoding or WouldBlock allocated");
    assert_eq!(seen, dirs.len());
    assert_eq!(name_bytes, dirs.len() * "some-file-name".len());

    let n = allocations(|| {
        for wd in wds.drain(..) {
            ino.rm_watch(wd).unwrap();
        }
    });
    assert_eq!(n, 0, "rm_watch allocated");

    let mut bytes = vec![0u8; 64];
    bytes[12..16].copy_from_slice(&48u32.to_ne_bytes());
    bytes[16] = b'x';
    let n = allocations(|| {
        let count = Events::from_bytes(&bytes).filter(|e| e.is_ok()).count();
        assert_eq!(count, 1);
    });
    assert_eq!(n, 0, "from_bytes decoding allocated");
}
