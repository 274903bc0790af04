//! latency benchmark (filled in once the measured crates land).
#![forbid(unsafe_code)]

fn main() {}
