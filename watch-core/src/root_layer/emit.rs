//! The sink events are translated into.

use crate::{Event, EventKind};

/// Appends events, collapsing an immediate repeat of the same
/// modification (one write is often MODIFY + CLOSE_WRITE) or close notice.
pub(crate) struct Emit<'a> {
    pub(crate) out: &'a mut Vec<Event>,
    pub(crate) start: usize,
}

impl<'a> Emit<'a> {
    /// A sink appending to `out`; only what it appends may be collapsed.
    pub(crate) fn new(out: &'a mut Vec<Event>) -> Emit<'a> {
        let start = out.len();
        Emit { out, start }
    }

    pub(crate) fn push(&mut self, event: Event) {
        let repeat = matches!(
            event.kind,
            EventKind::Modified | EventKind::Metadata | EventKind::Closed
        ) && self.out.len() > self.start
            && self.out.last() == Some(&event);
        if !repeat {
            self.out.push(event);
        }
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
            out: &mut out,
            start: 1,
        };
        emit.push(old.clone());
        emit.push(old.clone());
        emit.push(Event::new(EventKind::Created, "b", false, Origin::Kernel));
        emit.push(Event::new(EventKind::Created, "b", false, Origin::Kernel));
        assert_eq!(out.len(), 4);
    }
}
