//! A fast hash for the watcher's own tables (roots by path, watches by
//! descriptor, followed directories by path): keys the process chose or
//! the kernel numbered, never names found in a watched tree, so the
//! flooding resistance of the standard hasher buys nothing there, while
//! its cost showed in every `watch` and `unwatch` (a path hashed with it
//! took several hundred instructions).

use std::hash::{BuildHasher, Hasher};

/// Builds [`FastHasher`]s; the `S` of a `HashMap` / `HashSet`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// A multiply-rotate hash of eight bytes at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastHasher(u64);

/// An odd constant with well-spread bits.
const K: u64 = 0xf135_7aea_2e62_a9c5;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(K).rotate_left(26);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The bytes as a little-endian word, zero-padded; gathered one
            // by one (a copy of a length not known here is a call).
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, &b| (word << 8) | u64::from(b));
            // The length keeps "a" and "a\0" apart.
            self.add(word ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_i32(&mut self, n: i32) {
        self.add(u64::from(n as u32));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // hashbrown takes its control byte from the top bits: mix the last
        // word's bits up there too.
        self.0.wrapping_mul(K) ^ (self.0 >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    #[test]
    fn paths_and_numbers_spread_over_the_top_and_bottom_bits() {
        let hash = |p: &PathBuf| FastHash.hash_one(p);
        let paths: Vec<PathBuf> = (0..10_000)
            .map(|i| PathBuf::from(format!("/tmp/dir/d{i:06}")))
            .collect();
        let low: HashSet<u64> = paths.iter().map(|p| hash(p) & 0xffff).collect();
        let high: HashSet<u64> = paths.iter().map(|p| hash(p) >> 57).collect();
        assert!(low.len() > 5_000, "{}", low.len());
        assert_eq!(high.len(), 128);
        assert_ne!(FastHash.hash_one(1u64), FastHash.hash_one(2u64));
        assert_ne!(
            FastHash.hash_one(b"a".as_slice()),
            FastHash.hash_one(b"a\0".as_slice())
        );
    }

    #[test]
    fn a_short_tail_hashes_as_its_zero_padded_little_endian_word() {
        let bytes = b"0123456789abcdef";
        for len in 0..=bytes.len() {
            let mut h = FastHasher(7);
            h.write(&bytes[..len]);
            let mut want = FastHasher(7);
            let (whole, tail) = bytes[..len].split_at(len / 8 * 8);
            for chunk in whole.chunks(8) {
                want.add(u64::from_le_bytes(chunk.try_into().unwrap()));
            }
            if !tail.is_empty() {
                let mut word = [0u8; 8];
                word[..tail.len()].copy_from_slice(tail);
                want.add(u64::from_le_bytes(word) ^ ((tail.len() as u64) << 56));
            }
            assert_eq!(h.0, want.0, "{len} bytes");
        }
    }
}
