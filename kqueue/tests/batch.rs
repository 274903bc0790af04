//! One kevent call for a batch of registrations, with per-change receipts.
#![cfg(has_kqueue)]

mod common;

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::time::Instant;

use common::PATIENCE;
use kqueue::{
    Change, Changes, ErrorKind, EventFlags, Filter, Kqueue, RawEvent, Token, VnodeEvents,
    VnodeOptions, VnodeWatch,
};
use test_support::TempDir;

const N: usize = 1000;
const BAD: usize = 500;

/// Every `VNODE_EVERY`-th change is a vnode registration on its own file.
/// With libkqueue on Linux each vnode registration holds an inotify
/// instance, limited per user (fs.inotify.max_user_instances, 128 by
/// default, shared by all of the user's processes), so there the other
/// changes of the batch register user events instead.
#[cfg(kernel_kqueue)]
const VNODE_EVERY: usize = 1;
#[cfg(not(kernel_kqueue))]
const VNODE_EVERY: usize = 16;

enum Slot {
    Vnode(VnodeWatch),
    User,
    Bad,
}

fn file_name(i: usize) -> String {
    format!("f{i}")
}

#[test]
fn a_bad_descriptor_fails_alone_and_every_other_change_applies() {
    let dir = TempDir::new("batch");
    let kq = Kqueue::new().unwrap();

    let slots: Vec<Slot> = (0..N)
        .map(|i| {
            if i == BAD {
                Slot::Bad
            } else if i % VNODE_EVERY == 0 {
                let path = dir.join(file_name(i));
                fs::write(&path, b"").unwrap();
                Slot::Vnode(VnodeWatch::open(&kq, &path, VnodeOptions::new()).unwrap())
            } else {
                Slot::User
            }
        })
        .collect();

    // A descriptor number that is certainly not open.
    let bad_fd = usize::try_from(i32::MAX - 7).unwrap();
    let bad_change = Change::new(
        bad_fd,
        Filter::Vnode,
        EventFlags::ADD | EventFlags::CLEAR,
        VnodeEvents::WRITE.bits(),
        0,
        Token(BAD),
    );
    let mut changes = Changes::with_capacity(N);
    for (i, slot) in slots.iter().enumerate() {
        let index = match slot {
            Slot::Vnode(w) => w.register(&mut changes, VnodeEvents::WRITE, Token(i)),
            Slot::User => changes.push(Change::user(i, Token(i))),
            Slot::Bad => changes.push(bad_change),
        };
        assert_eq!(index, i);
    }

    let applied = kq.apply(&mut changes).unwrap();
    assert_eq!(applied.len(), N);
    let failures: Vec<_> = applied.failures().collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].index, BAD);
    assert_eq!(failures[0].token, Token(BAD));
    assert_eq!(failures[0].ident, bad_fd);
    assert_eq!(failures[0].filter, Filter::Vnode);
    assert_eq!(
        failures[0].error.kind(),
        ErrorKind::BadDescriptor,
        "{}",
        failures[0].error
    );
    drop(applied);
    assert!(
        changes.is_empty(),
        "the batch is cleared once its outcome is dropped"
    );

    // Every other registration is live: each file write and each user
    // trigger is reported with its token.
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            Slot::Vnode(_) => {
                let path = dir.join(file_name(i));
                let mut f = OpenOptions::new().append(true).open(path).unwrap();
                f.write_all(b"x").unwrap();
            }
            Slot::User => {
                changes.push(Change::trigger(i, Token(i)));
            }
            Slot::Bad => {}
        }
    }
    let applied = kq.apply(&mut changes).unwrap();
    assert!(
        applied.is_ok(),
        "{:?}",
        applied.failures().collect::<Vec<_>>()
    );
    drop(applied);

    let mut seen = HashSet::new();
    let deadline = Instant::now() + PATIENCE;
    let mut buf: Vec<RawEvent> = Vec::with_capacity(256);
    while seen.len() < N - 1 {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {} registrations reported",
            seen.len(),
            N - 1
        );
        buf.clear();
        kq.wait(&mut buf, Some(left)).unwrap();
        for ev in buf.iter().map(RawEvent::decode) {
            let i = ev.token().0;
            match slots[i] {
                Slot::Vnode(_) => {
                    assert_eq!(ev.filter(), Filter::Vnode);
                    assert!(ev.vnode().unwrap().contains(VnodeEvents::WRITE));
                }
                Slot::User => assert_eq!(ev.filter(), Filter::User),
                Slot::Bad => panic!("event for the failed registration: {ev:?}"),
            }
            seen.insert(i);
        }
    }

    // Deleting them all in one batch succeeds for exactly those.
    for (i, slot) in slots.iter().enumerate() {
        match slot {
            Slot::Vnode(w) => changes.push(w.change(VnodeEvents::WRITE, Token(i)).to_delete()),
            Slot::User => changes.push(Change::user(i, Token(i)).to_delete()),
            Slot::Bad => changes.push(bad_change.to_delete()),
        };
    }
    let applied = kq.apply(&mut changes).unwrap();
    let failed: Vec<usize> = applied.failures().map(|f| f.index).collect();
    assert_eq!(failed, vec![BAD]);
}

#[test]
fn an_empty_batch_is_a_no_op() {
    let kq = Kqueue::new().unwrap();
    let mut changes = Changes::new();
    let applied = kq.apply(&mut changes).unwrap();
    assert!(applied.is_ok());
    assert!(applied.is_empty());
}

#[test]
fn deleting_what_was_never_added_reports_not_found() {
    let kq = Kqueue::new().unwrap();
    let err = kq
        .apply_one(Change::user(99, Token(1)).to_delete())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
