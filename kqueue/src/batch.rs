//! Batches of changes ([`Changes`]) and what became of them ([`Applied`]),
//! in the kernel's own `struct kevent` layout ([`RawEvent`]).

use crate::abi::{Abi, Native};
use crate::change::Change;
use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::flags::{EventFlags, Filter, Token};

use kqueue_sys as sys;

/// A `struct kevent` of the target system, as stored in an event list.
///
/// Kernel storage for [`Kqueue::wait`]; decode it with [`RawEvent::decode`],
/// which copies its fields out.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct RawEvent(pub(crate) sys::kevent);

// SAFETY: a kevent is plain data; its `udata` pointer is an opaque token
// that this crate never dereferences.
unsafe impl Send for RawEvent {}
// SAFETY: as above; shared access only reads plain fields.
unsafe impl Sync for RawEvent {}

impl RawEvent {
    /// Decodes the event (copying each field; every bit is kept).
    pub fn decode(&self) -> Event {
        Native::decode(&self.0)
    }

    /// The event's token.
    pub fn token(&self) -> Token {
        self.decode().token()
    }
}

impl Default for RawEvent {
    fn default() -> RawEvent {
        RawEvent(Native::encode(&Change::new(
            0,
            Filter::Unknown(0),
            EventFlags::empty(),
            0,
            0,
            Token(0),
        )))
    }
}

impl std::fmt::Debug for RawEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.decode().fmt(f)
    }
}

/// A batch of changes to submit with one `kevent()` call ([`Kqueue::apply`]).
///
/// Changes are encoded as they are pushed, with `EV_RECEIPT` added; the
/// receipts are read back into the same storage.
#[derive(Debug, Default)]
pub struct Changes {
    pub(crate) raw: Vec<RawEvent>,
}

impl Changes {
    /// An empty batch.
    pub fn new() -> Changes {
        Changes::default()
    }

    /// An empty batch with room for `capacity` changes.
    pub fn with_capacity(capacity: usize) -> Changes {
        Changes { raw: Vec::with_capacity(capacity) }
    }

    /// Adds a change; returns its index in the batch (the index a failure
    /// is reported with).
    pub fn push(&mut self, change: Change) -> usize {
        let change = change.with_flags(change.flags().union(EventFlags::RECEIPT));
        self.raw.push(RawEvent(Native::encode(&change)));
        self.raw.len() - 1
    }

    /// The number of changes in the batch.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Removes every change, keeping the capacity.
    pub fn clear(&mut self) {
        self.raw.clear();
    }

    /// Reserves room for `additional` more changes.
    pub fn reserve(&mut self, additional: usize) {
        self.raw.reserve(additional);
    }

    /// The change at `index`, decoded (before [`Kqueue::apply`]).
    pub fn get(&self, index: usize) -> Option<Event> {
        self.raw.get(index).map(RawEvent::decode)
    }
}

/// The outcome of [`Kqueue::apply`]: which changes failed. Dropping it
/// clears the batch.
#[must_use = "failed changes are only reported here"]
#[derive(Debug)]
pub struct Applied<'c> {
    pub(crate) changes: &'c mut Changes,
    /// Changes `..receipts` have receipts; later ones failed or were not
    /// submitted.
    pub(crate) receipts: usize,
    /// Why the changes after `receipts` were not confirmed, if known.
    pub(crate) tail_errno: Option<i32>,
}

impl Applied<'_> {
    /// The number of changes submitted.
    pub fn len(&self) -> usize {
        self.changes.raw.len()
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.changes.raw.is_empty()
    }

    /// Whether every change was applied.
    pub fn is_ok(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The changes that failed, in batch order. Every other change was
    /// applied.
    pub fn failures(&self) -> impl Iterator<Item = ChangeFailure> + '_ {
        let raw = &self.changes.raw;
        raw.iter().enumerate().filter_map(move |(index, r)| {
            if index >= self.receipts {
                // No receipt: the caller must not assume success.
                let ev = r.decode();
                let error = match self.tail_errno {
                    Some(errno) => Error::from_errno("kevent", errno),
                    None => Error::new(ErrorKind::Other, "kevent (no receipt)"),
                };
                return Some(ChangeFailure {
                    index,
                    ident: ev.ident(),
                    filter: ev.filter(),
                    token: ev.token(),
                    error,
                });
            }
            let ev = r.decode();
            let errno = ev.error()?;
            Some(ChangeFailure {
                index,
                ident: ev.ident(),
                filter: ev.filter(),
                token: ev.token(),
                error: Error::from_errno("kevent", errno),
            })
        })
    }
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        self.changes.raw.clear();
    }
}

/// A change of a batch that the kernel rejected.
#[derive(Debug)]
pub struct ChangeFailure {
    /// Index of the change in its batch (as returned by [`Changes::push`]).
    pub index: usize,
    /// The change's identifier (descriptor, timer or user event number).
    pub ident: usize,
    /// The change's filter.
    pub filter: Filter,
    /// The change's token.
    pub token: Token,
    /// Why it failed (for example [`ErrorKind::BadDescriptor`]).
    pub error: Error,
}
