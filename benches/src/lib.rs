//! Benchmarks of the watchfs stack live in `benches/`.
#![forbid(unsafe_code)]
