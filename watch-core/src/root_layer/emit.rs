//! The sink events are translated into.

use crate::event_buf::Joined;
use crate::event_buf::sink::Sink;
use crate::{Event, EventKind};

/// Appends events, collapsing an immediate repeat of the same
/// modification (one write is often MODIFY + CLOSE_WRITE) or close notice.
pub(crate) struct Emit<'a> {
    pub(crate) out: Sink<'a>,
    pub(crate) start: usize,
}

impl<'a> Emit<'a> {
    /// A sink appending to `out`; only what it appends may be collapsed.
    pub(crate) fn new(out: impl Into<Sink<'a>>) -> Emit<'a> {
        let out = out.into();
        let start = out.len();
        Emit { out, start }
    }

    /// Whether an event of `kind` repeating the last one is dropped.
    fn may_collapse(&self, kind: &EventKind) -> bool {
        matches!(
            kind,
            EventKind::Modified | EventKind::Metadata | EventKind::Closed
        ) && self.out.len() > self.start
    }

    pub(crate) fn push(&mut self, event: Event) {
        if !(self.may_collapse(&event.kind) && self.out.last_is(&event)) {
            self.out.push(event);
        }
    }

    /// Pushes `event`, its path joined in place: into a `Vec` as one
    /// allocation, into an [`EventBuf`](crate::EventBuf) as bytes copied
    /// into its arena (no allocation).
    pub(crate) fn push_joined(&mut self, event: Joined<'_>) {
        let may_collapse = self.may_collapse(&event.kind);
        match &mut self.out {
            Sink::Vec(v) => {
                let event = event.to_event();
                if !(may_collapse && v.last() == Some(&event)) {
                    v.push(event);
                }
            }
            Sink::Buf(b) => b.push_joined(event, may_collapse),
        }
    }

    /// Whether events were appended since this `Emit` was made.
    pub(crate) fn appended(&self) -> bool {
        self.out.len() > self.start
    }

    pub(crate) fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Origin;

    #[test]
    fn emit_collapses_only_repeated_modifications_of_this_call() {
        let old = Event::new(EventKind::Modified, "a", false, Origin::Kernel);
        let mut out = vec![old.clone()];
        let mut emit = Emit {
            out: Sink::Vec(&mut out),
            start: 1,
        };
        emit.push(old.clone());
        emit.push(old.clone());
        emit.push(Event::new(EventKind::Created, "b", false, Origin::Kernel));
        emit.push(Event::new(EventKind::Created, "b", false, Origin::Kernel));
        assert_eq!(out.len(), 4);
    }
}
