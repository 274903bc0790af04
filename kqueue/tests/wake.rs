//! EVFILT_USER, timers, waiting and descriptor ownership.
#![cfg(has_kqueue)]

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use common::{PATIENCE, wait_for_token};
use kqueue::{Change, ErrorKind, Filter, Kqueue, RawEvent, Token};

#[test]
fn a_user_event_wakes_a_blocked_wait() {
    let kq = Kqueue::new().unwrap();
    kq.apply_one(Change::user(1, Token(11))).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut buf: Vec<RawEvent> = Vec::with_capacity(4);
            // Blocks until the trigger below (the timeout only stops a hang).
            let n = kq.wait(&mut buf, Some(PATIENCE)).unwrap();
            (n, buf.first().map(RawEvent::decode))
        });
        kq.trigger(1, Token(11)).unwrap();
        let (n, ev) = waiter.join().unwrap();
        assert_eq!(n, 1);
        let ev = ev.unwrap();
        assert_eq!(ev.filter(), Filter::User);
        assert_eq!(ev.token(), Token(11));
        assert_eq!(ev.ident(), 1);
    });
}

#[test]
fn a_zero_timeout_polls() {
    let kq = Kqueue::new().unwrap();
    let mut buf: Vec<RawEvent> = Vec::with_capacity(4);
    assert_eq!(kq.wait(&mut buf, Some(Duration::ZERO)).unwrap(), 0);
    assert!(buf.is_empty());
}

#[test]
fn waiting_needs_room() {
    let kq = Kqueue::new().unwrap();
    let mut buf: Vec<RawEvent> = Vec::new();
    let err = kq.wait(&mut buf, Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoEventSpace);
}

#[test]
fn events_are_appended_after_existing_ones() {
    let kq = Kqueue::new().unwrap();
    kq.apply_one(Change::user(5, Token(55))).unwrap();
    kq.trigger(5, Token(55)).unwrap();
    let mut buf: Vec<RawEvent> = Vec::with_capacity(8);
    buf.push(RawEvent::default());
    let n = kq.wait(&mut buf, Some(PATIENCE)).unwrap();
    assert_eq!(n, 1);
    assert_eq!(buf.len(), 2);
    assert_eq!(buf[1].decode().token(), Token(55));
}

#[test]
fn wait_slice_fills_the_front_of_a_slice() {
    let kq = Kqueue::new().unwrap();
    kq.apply_one(Change::user(6, Token(66))).unwrap();
    kq.trigger(6, Token(66)).unwrap();
    let mut slots = [RawEvent::default(); 4];
    let n = kq.wait_slice(&mut slots, Some(PATIENCE)).unwrap();
    assert_eq!(n, 1);
    assert_eq!(slots[0].decode().token(), Token(66));
}

#[test]
fn a_one_shot_timer_fires() {
    let kq = Kqueue::new().unwrap();
    kq.apply_one(Change::timer_once(3, Duration::from_millis(1), Token(33)))
        .unwrap();
    let ev = wait_for_token(&kq, Token(33)).expect("timer event");
    assert_eq!(ev.filter(), Filter::Timer);
    assert!(ev.data() >= 1);
}

#[test]
fn the_kqueue_descriptor_is_close_on_exec() {
    let kq = Kqueue::new().unwrap();
    // SAFETY: F_GETFD only reads the flags of an open descriptor.
    let flags = unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0);
    assert_ne!(flags & libc::FD_CLOEXEC, 0);
}

#[test]
fn the_descriptor_converts_to_and_from_owned_fd() {
    let kq = Kqueue::new().unwrap();
    let raw = kq.as_raw_fd();
    let fd = OwnedFd::from(kq);
    assert_eq!(fd.as_raw_fd(), raw);
    let kq = Kqueue::from(fd);
    kq.apply_one(Change::user(1, Token(1))).unwrap();
    kq.trigger(1, Token(1)).unwrap();
    assert!(wait_for_token(&kq, Token(1)).is_some());
}

#[test]
fn a_user_trigger_wakes_a_wait_from_another_thread() {
    let kq = Kqueue::new().unwrap();
    kq.apply_one(Change::user(7, Token(77))).unwrap();
    let trigger = kq.user_trigger(7, Token(77));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut buf: Vec<RawEvent> = Vec::with_capacity(4);
            // Blocks until the trigger fires (the timeout only stops a hang).
            kq.wait(&mut buf, Some(PATIENCE)).unwrap();
            buf.first().map(RawEvent::decode)
        });
        let handle = trigger.clone();
        s.spawn(move || assert!(handle.fire().unwrap()))
            .join()
            .unwrap();
        let ev = waiter.join().unwrap().expect("the user event");
        assert_eq!(ev.filter(), Filter::User);
        assert_eq!(ev.token(), Token(77));
    });
}

#[test]
fn a_user_trigger_does_not_keep_its_kqueue_open() {
    let kq = Kqueue::new().unwrap();
    let trigger = kq.user_trigger(8, Token(88));
    // Never registered: the kqueue says so.
    assert_eq!(trigger.fire().unwrap_err().kind(), ErrorKind::NotFound);
    drop(kq);
    assert!(!trigger.fire().unwrap());
}
