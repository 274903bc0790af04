//! Safe wrapper over kqueue.
#![deny(missing_docs)]
