//! Cross-platform file watcher.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
