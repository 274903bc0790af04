//! Shared fixtures for the behaviour tests: waiting for kqueue events.
//! Temp dirs come from `test-support`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kqueue::{Event, Kqueue, RawEvent, Token, VnodeEvents};

/// Waits that normally finish in milliseconds; never a pass criterion.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Reads events until the vnode notes seen for `token` contain `want`, or
/// until [`PATIENCE`] runs out. Returns every note seen per token.
pub fn wait_for_notes(kq: &Kqueue, token: Token, want: VnodeEvents) -> HashMap<Token, VnodeEvents> {
    let mut seen: HashMap<Token, VnodeEvents> = HashMap::new();
    let deadline = Instant::now() + PATIENCE;
    let mut buf: Vec<RawEvent> = Vec::with_capacity(64);
    while !seen.get(&token).is_some_and(|got| got.contains(want)) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        buf.clear();
        kq.wait(&mut buf, Some(left)).expect("kevent wait");
        for ev in buf.iter().map(RawEvent::decode) {
            if let Some(notes) = ev.vnode() {
                *seen.entry(ev.token()).or_insert(VnodeEvents::empty()) |= notes;
            }
        }
    }
    seen
}

/// Reads events until one with `token` arrives (or [`PATIENCE`] runs out).
pub fn wait_for_token(kq: &Kqueue, token: Token) -> Option<Event> {
    let deadline = Instant::now() + PATIENCE;
    let mut buf: Vec<RawEvent> = Vec::with_capacity(16);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        buf.clear();
        kq.wait(&mut buf, Some(left)).expect("kevent wait");
        if let Some(ev) = buf
            .iter()
            .map(RawEvent::decode)
            .find(|e| e.token() == token)
        {
            return Some(ev);
        }
    }
}
