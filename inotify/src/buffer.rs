//! The aligned, large-enough buffer that events are read into.

use crate::error::Error;

/// Storage for one [`Inotify::read`](crate::Inotify::read).
///
/// It is 8-byte aligned (the kernel writes naturally aligned records, and
/// the decoder can then read headers in place) and at least
/// [`EventBuffer::MIN_LEN`] bytes long, the size of the largest single event,
/// so a read never fails with `EINVAL` for lack of room. Its bytes are
/// initialised once at construction and reused across reads.
pub struct EventBuffer {
    words: Box<[u64]>,
}

impl EventBuffer {
    /// Smallest length that can hold any one event:
    /// `size_of::<inotify_event>() + NAME_MAX + 1` = 272 bytes.
    pub const MIN_LEN: usize = inotify_sys::INOTIFY_MIN_BUFFER_SIZE;

    /// Length of [`EventBuffer::default`]: 64 KiB, room for about 2000
    /// events with short names in one system call.
    pub const DEFAULT_LEN: usize = 64 * 1024;

    /// Allocates a zeroed buffer of at least `len` bytes (rounded up to a
    /// multiple of 8).
    ///
    /// Fails with [`ErrorKind::BufferTooSmall`](crate::ErrorKind::BufferTooSmall)
    /// if `len < MIN_LEN` or the memory cannot be allocated.
    pub fn new(len: usize) -> Result<EventBuffer, Error> {
        if len < Self::MIN_LEN {
            return Err(Error::buffer(len));
        }
        let words = len.div_ceil(8);
        let mut v: Vec<u64> = Vec::new();
        v.try_reserve_exact(words).map_err(|_| Error::buffer(len))?;
        v.resize(words, 0);
        Ok(EventBuffer {
            words: v.into_boxed_slice(),
        })
    }

    /// Usable length in bytes.
    pub fn capacity(&self) -> usize {
        self.words.len() * 8
    }

    /// The whole buffer as writable bytes, for `read(2)`.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }

    /// The first `n` bytes (clamped to the capacity).
    pub(crate) fn filled(&self, n: usize) -> &[u8] {
        let n = n.min(self.capacity());
        // SAFETY: the allocation holds `capacity()` initialised bytes (zeroed
        // at construction, later overwritten by the kernel), `n` is clamped
        // to it, `u8` needs no alignment, and the slice borrows `self`.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), n) }
    }
}

impl Default for EventBuffer {
    /// A [`EventBuffer::DEFAULT_LEN`] (64 KiB) buffer.
    fn default() -> Self {
        EventBuffer {
            words: vec![0u64; Self::DEFAULT_LEN / 8].into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for EventBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBuffer")
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn too_small_is_rejected_at_construction() {
        for len in [0, 1, 16, 271] {
            let err = EventBuffer::new(len).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
            assert!(err.to_string().contains("272"), "{err}");
        }
        assert_eq!(EventBuffer::new(272).unwrap().capacity(), 272);
        assert_eq!(EventBuffer::new(273).unwrap().capacity(), 280);
    }

    #[test]
    fn impossible_size_is_an_error_not_a_panic() {
        let err = EventBuffer::new(usize::MAX).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BufferTooSmall);
    }

    #[test]
    fn aligned_and_default_sized() {
        let mut b = EventBuffer::default();
        assert_eq!(b.capacity(), EventBuffer::DEFAULT_LEN);
        assert_eq!(b.as_mut_ptr() as usize % 8, 0);
    }
}
