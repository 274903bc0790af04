//! [`EventBuf`]: a reusable buffer [`Watcher::read`](crate::Watcher::read)
//! can append to, which lends each event's path instead of handing over an
//! owned one.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::{Event, EventKind, Origin};

/// Events read into one buffer that keeps its memory from one read to the
/// next: every path is stored in one byte arena, and the buffer lends it.
/// On the inotify backend the events of a burst of created files are
/// written into the arena directly, without an allocation each once the
/// buffer has grown to the size of a read (a read into a `Vec<Event>`
/// allocates every event's path); other events are still built with an
/// owned path, which is copied in.
///
/// [`Watcher::read`](crate::Watcher::read) appends to it as it appends to
/// a `Vec<Event>`, and the events are the same, in the same order. Iterate
/// them as [`EventRef`]s, which borrow their path from the buffer;
/// [`EventRef::to_event`] makes an owned [`Event`] of the ones to keep.
/// [`clear`](EventBuf::clear) empties the buffer, keeping its memory.
///
/// ```no_run
/// use std::time::Duration;
/// use watch_core::{EventBuf, RecursiveMode, Watcher};
///
/// let mut watcher = Watcher::new()?;
/// watcher.watch(".", RecursiveMode::Recursive)?;
/// let mut events = EventBuf::new();
/// loop {
///     events.clear();
///     watcher.read(&mut events, None)?;
///     for event in &events {
///         println!("{} {}", event.kind, event.path.display());
///     }
/// }
/// # #[allow(unreachable_code)]
/// # Ok::<(), watch_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct EventBuf {
    records: Vec<Record>,
    /// Every record's path, back to back.
    paths: Vec<u8>,
    /// The kinds that carry data (a rename's old path, a skip's reason),
    /// each with its record's position, in order.
    carried: Vec<(usize, EventKind)>,
}

/// One event but its path, which is `paths[previous end..end]`: 16 bytes,
/// the data few kinds carry kept aside.
#[derive(Clone)]
struct Record {
    end: usize,
    kind: Kind,
    is_dir: bool,
    origin: Origin,
}

const _: () = assert!(std::mem::size_of::<Record>() <= 16);

/// An [`EventKind`] without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Created,
    Modified,
    Metadata,
    Removed,
    Overflow,
    Closed,
    /// Kept in `carried`.
    Carried,
}

impl Kind {
    fn of(kind: &EventKind) -> Kind {
        match kind {
            EventKind::Created => Kind::Created,
            EventKind::Modified => Kind::Modified,
            EventKind::Metadata => Kind::Metadata,
            EventKind::Removed => Kind::Removed,
            EventKind::Overflow => Kind::Overflow,
            EventKind::Closed => Kind::Closed,
            EventKind::Renamed { .. } | EventKind::Skipped { .. } => Kind::Carried,
        }
    }
}

/// The kinds without data, lent by every buffer.
static CREATED: EventKind = EventKind::Created;
static MODIFIED: EventKind = EventKind::Modified;
static METADATA: EventKind = EventKind::Metadata;
static REMOVED: EventKind = EventKind::Removed;
static OVERFLOW: EventKind = EventKind::Overflow;
static CLOSED: EventKind = EventKind::Closed;

/// One event in an [`EventBuf`], its path borrowed from the buffer. The
/// fields mean what [`Event`]'s do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// What happened.
    pub kind: &'a EventKind,
    /// The path as the user named it: the watched path joined with the names
    /// below it.
    pub path: &'a Path,
    /// Whether `path` is (or, for `Removed`, was) a directory.
    pub is_dir: bool,
    /// Kernel notification or rescan.
    pub origin: Origin,
}

impl EventRef<'_> {
    /// An owned copy of this event.
    pub fn to_event(&self) -> Event {
        Event {
            kind: self.kind.clone(),
            path: self.path.to_path_buf(),
            is_dir: self.is_dir,
            origin: self.origin,
        }
    }
}

impl PartialEq<Event> for EventRef<'_> {
    fn eq(&self, other: &Event) -> bool {
        *self.kind == other.kind
            && self.path == other.path
            && self.is_dir == other.is_dir
            && self.origin == other.origin
    }
}

impl EventBuf {
    /// An empty buffer; it allocates when the first event arrives.
    pub fn new() -> EventBuf {
        EventBuf::default()
    }

    /// An empty buffer with room for `events` events whose paths take
    /// `path_bytes` bytes in all.
    pub fn with_capacity(events: usize, path_bytes: usize) -> EventBuf {
        EventBuf {
            records: Vec::with_capacity(events),
            paths: Vec::with_capacity(path_bytes),
            carried: Vec::new(),
        }
    }

    /// How many events the buffer holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the buffer holds no event.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Removes every event, keeping the memory for the next read.
    pub fn clear(&mut self) {
        self.records.clear();
        self.paths.clear();
        self.carried.clear();
    }

    /// The event at `index` (in the order they were read).
    pub fn get(&self, index: usize) -> Option<EventRef<'_>> {
        let record = self.records.get(index)?;
        let start = match index {
            0 => 0,
            i => self.records[i - 1].end,
        };
        let carried = match record.kind {
            Kind::Carried => self.carried.binary_search_by_key(&index, |(i, _)| *i).ok(),
            _ => None,
        };
        let carried = carried.map(|at| &self.carried[at].1);
        Some(event_ref(record, &self.paths[start..record.end], carried))
    }

    /// The events, in the order they were read.
    pub fn iter(&self) -> EventBufIter<'_> {
        EventBufIter {
            records: self.records.iter(),
            paths: &self.paths,
            carried: self.carried.iter(),
            start: 0,
        }
    }

    /// Appends `event`, its path copied into the buffer.
    pub(crate) fn push(&mut self, event: Event) {
        self.paths
            .extend_from_slice(event.path.as_os_str().as_bytes());
        self.push_record(event.kind, event.is_dir, event.origin);
    }

    /// Appends the record of an event whose path ends the arena.
    fn push_record(&mut self, kind: EventKind, is_dir: bool, origin: Origin) {
        let tag = Kind::of(&kind);
        if tag == Kind::Carried {
            self.carried.push((self.records.len(), kind));
        }
        self.records.push(Record {
            end: self.paths.len(),
            kind: tag,
            is_dir,
            origin,
        });
    }

    /// The kind of the last record.
    fn last_kind(&self) -> Option<&EventKind> {
        let last = self.records.last()?;
        Some(kind_of(last, self.carried.last().map(|(_, k)| k)))
    }

    /// Appends `event`, its path joined in place (see [`join_into`]);
    /// or, if it would repeat the last event of the buffer and
    /// `may_collapse`, nothing.
    #[inline]
    pub(crate) fn push_joined(&mut self, event: Joined<'_>, may_collapse: bool) {
        let Joined {
            kind,
            parts,
            is_dir,
            origin,
        } = event;
        let start = self.paths.len();
        join_into(&mut self.paths, parts);
        if may_collapse
            && let Some(last) = self.records.last()
            && self.last_kind() == Some(&kind)
            && last.is_dir == is_dir
            && last.origin == origin
        {
            let last_start = match self.records.len() {
                1 => 0,
                n => self.records[n - 2].end,
            };
            // Compared as paths are (component by component), as a
            // `Vec<Event>` compares its events.
            let path = |bytes| Path::new(OsStr::from_bytes(bytes));
            if path(&self.paths[last_start..start]) == path(&self.paths[start..]) {
                self.paths.truncate(start);
                return;
            }
        }
        self.push_record(kind, is_dir, origin);
    }

    /// Whether the last event of the buffer is `event`.
    pub(crate) fn last_is(&self, event: &Event) -> bool {
        self.records
            .len()
            .checked_sub(1)
            .and_then(|i| self.get(i))
            .is_some_and(|last| last == *event)
    }
}

/// Appends to `buf` the path made of `parts`: the first as it is, each
/// further non-empty one after a `/` unless what is there ends in one.
#[inline]
pub(crate) fn join_into(buf: &mut Vec<u8>, parts: [&OsStr; 3]) {
    let [first, rest @ ..] = parts;
    let start = buf.len();
    buf.extend_from_slice(first.as_bytes());
    for part in rest {
        if part.is_empty() {
            continue;
        }
        if buf.len() > start && buf.last() != Some(&b'/') {
            buf.push(b'/');
        }
        buf.extend_from_slice(part.as_bytes());
    }
}

/// An event whose path is `parts` joined (see [`join_into`]): the root's
/// path, a directory below it and a name, empty ones left out.
pub(crate) struct Joined<'p> {
    pub(crate) kind: EventKind,
    pub(crate) parts: [&'p OsStr; 3],
    pub(crate) is_dir: bool,
    pub(crate) origin: Origin,
}

impl Joined<'_> {
    /// The event, its path built in one allocation.
    pub(crate) fn to_event(&self) -> Event {
        let mut bytes = Vec::with_capacity(joined_len(self.parts));
        join_into(&mut bytes, self.parts);
        let path = PathBuf::from(OsString::from_vec(bytes));
        Event::new(self.kind.clone(), path, self.is_dir, self.origin)
    }
}

/// How many bytes [`join_into`] appends for `parts` at most.
pub(crate) fn joined_len(parts: [&OsStr; 3]) -> usize {
    parts.iter().map(|p| p.len() + 1).sum()
}

impl fmt::Debug for EventBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The events of an [`EventBuf`], in order; from [`EventBuf::iter`].
#[derive(Clone, Debug)]
pub struct EventBufIter<'a> {
    records: std::slice::Iter<'a, Record>,
    paths: &'a [u8],
    carried: std::slice::Iter<'a, (usize, EventKind)>,
    start: usize,
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.kind)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// The kind of `record`; `carried` is its kind if it carries data.
fn kind_of<'a>(record: &Record, carried: Option<&'a EventKind>) -> &'a EventKind {
    match record.kind {
        Kind::Created => &CREATED,
        Kind::Modified => &MODIFIED,
        Kind::Metadata => &METADATA,
        Kind::Removed => &REMOVED,
        Kind::Overflow => &OVERFLOW,
        Kind::Closed => &CLOSED,
        // Every record of this kind has its entry in `carried`; only a
        // buffer broken some other way could fail to pass it.
        Kind::Carried => carried.unwrap_or(&OVERFLOW),
    }
}

/// The event of `record`, whose path is `path`.
fn event_ref<'a>(record: &Record, path: &'a [u8], carried: Option<&'a EventKind>) -> EventRef<'a> {
    EventRef {
        kind: kind_of(record, carried),
        path: Path::new(OsStr::from_bytes(path)),
        is_dir: record.is_dir,
        origin: record.origin,
    }
}

impl<'a> Iterator for EventBufIter<'a> {
    type Item = EventRef<'a>;

    fn next(&mut self) -> Option<EventRef<'a>> {
        let record = self.records.next()?;
        let path = &self.paths[self.start..record.end];
        self.start = record.end;
        let carried = match record.kind {
            Kind::Carried => self.carried.next().map(|(_, k)| k),
            _ => None,
        };
        Some(event_ref(record, path, carried))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.records.size_hint()
    }
}

impl ExactSizeIterator for EventBufIter<'_> {}

impl<'a> IntoIterator for &'a EventBuf {
    type Item = EventRef<'a>;
    type IntoIter = EventBufIter<'a>;

    fn into_iter(self) -> EventBufIter<'a> {
        self.iter()
    }
}

/// Where [`Watcher::read`](crate::Watcher::read) appends events: a
/// `Vec<Event>` (each event owned) or an [`EventBuf`] (paths lent from one
/// reused buffer). Sealed: these two are the only ones.
pub trait EventSink: sink::Sealed {}

impl EventSink for Vec<Event> {}

impl EventSink for EventBuf {}

pub(crate) mod sink {
    use super::EventBuf;
    use crate::Event;

    /// What an [`EventSink`](super::EventSink) is, inside the crate.
    pub trait Sealed {
        /// The sink this is.
        fn sink(&mut self) -> Sink<'_>;
    }

    impl Sealed for Vec<Event> {
        fn sink(&mut self) -> Sink<'_> {
            Sink::Vec(self)
        }
    }

    impl Sealed for EventBuf {
        fn sink(&mut self) -> Sink<'_> {
            Sink::Buf(self)
        }
    }

    /// Events appended to a `Vec<Event>` or an [`EventBuf`].
    pub enum Sink<'a> {
        /// Owned events.
        Vec(&'a mut Vec<Event>),
        /// Paths lent from one buffer.
        Buf(&'a mut EventBuf),
    }

    impl<'a> From<&'a mut Vec<Event>> for Sink<'a> {
        fn from(out: &'a mut Vec<Event>) -> Sink<'a> {
            Sink::Vec(out)
        }
    }

    impl Sink<'_> {
        /// How many events are there.
        pub fn len(&self) -> usize {
            match self {
                Sink::Vec(v) => v.len(),
                Sink::Buf(b) => b.len(),
            }
        }

        /// Appends `event`.
        pub fn push(&mut self, event: Event) {
            match self {
                Sink::Vec(v) => v.push(event),
                Sink::Buf(b) => b.push(event),
            }
        }

        /// Whether the last event is `event`.
        pub fn last_is(&self, event: &Event) -> bool {
            match self {
                Sink::Vec(v) => v.last() == Some(event),
                Sink::Buf(b) => b.last_is(event),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sink::Sink;
    use super::*;
    use crate::root_layer::Emit;
    use proptest::prelude::*;

    fn any_kind() -> impl Strategy<Value = EventKind> {
        prop_oneof![
            Just(EventKind::Created),
            Just(EventKind::Modified),
            Just(EventKind::Metadata),
            Just(EventKind::Removed),
            Just(EventKind::Closed),
            Just(EventKind::Overflow),
            "[ab]{0,2}".prop_map(|from| EventKind::Renamed { from: from.into() }),
        ]
    }

    /// One part of a path: empty, a slash, or a short name (possibly
    /// ending in a slash).
    fn any_part() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), Just("/".to_string()), "[ab]{1,2}/?"]
    }

    #[derive(Clone, Debug)]
    enum Step {
        Push(EventKind, String, bool),
        Joined(EventKind, [String; 3], bool),
        Clear,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (any_kind(), any_part(), any::<bool>()).prop_map(|(k, p, d)| Step::Push(k, p, d)),
            6 => (any_kind(), [any_part(), any_part(), any_part()], any::<bool>())
                .prop_map(|(k, p, d)| Step::Joined(k, p, d)),
            1 => Just(Step::Clear),
        ]
    }

    proptest! {
        /// A buffer lends the events a `Vec<Event>` owns, after any
        /// sequence of appends (an event joined in place collapsed into a
        /// repeated modification or notice, as `Emit` does) and clears.
        #[test]
        fn a_buffer_holds_what_a_vec_holds(steps in proptest::collection::vec(step(), 0..40)) {
            let mut owned: Vec<Event> = Vec::new();
            let mut lent = EventBuf::new();
            for step in steps {
                for sink in [Sink::Vec(&mut owned), Sink::Buf(&mut lent)] {
                    let mut sink = sink;
                    match step.clone() {
                        Step::Push(kind, path, is_dir) => {
                            sink.push(Event::new(kind, path, is_dir, Origin::Kernel));
                        }
                        Step::Joined(kind, parts, is_dir) => {
                            // Any event here may be collapsed into the last.
                            let mut emit = Emit { out: sink, start: 0 };
                            emit.push_joined(Joined {
                                kind,
                                parts: parts.each_ref().map(|p| OsStr::new(p.as_str())),
                                is_dir,
                                origin: Origin::Rescan,
                            });
                        }
                        Step::Clear => match sink {
                            Sink::Vec(v) => v.clear(),
                            Sink::Buf(b) => b.clear(),
                        },
                    }
                }
                prop_assert_eq!(lent.len(), owned.len());
                prop_assert_eq!(lent.iter().len(), owned.len());
                for (i, (got, want)) in lent.iter().zip(&owned).enumerate() {
                    prop_assert!(got == *want, "{got:?} != {want:?}");
                    prop_assert_eq!(lent.get(i), Some(got));
                    prop_assert_eq!(&got.to_event(), want);
                }
                prop_assert_eq!(lent.get(owned.len()), None);
                if let Some(last) = owned.last() {
                    prop_assert!(Sink::Buf(&mut lent).last_is(last));
                }
            }
        }
    }

    #[test]
    fn parts_join_as_paths_do() {
        let join = |parts: [&str; 3]| {
            let mut buf = b"x".to_vec();
            join_into(&mut buf, parts.map(OsStr::new));
            assert!(buf.len() - 1 <= joined_len(parts.map(OsStr::new)));
            String::from_utf8(buf[1..].to_vec()).unwrap()
        };
        assert_eq!(join(["/w", "", "f"]), "/w/f");
        assert_eq!(join(["/w/", "d", "f"]), "/w/d/f");
        assert_eq!(join(["/", "", "f"]), "/f");
        assert_eq!(join(["w", "d/", "f"]), "w/d/f");
        assert_eq!(join(["", "", "f"]), "f");
        assert_eq!(join(["/w", "", ""]), "/w");
    }
}
