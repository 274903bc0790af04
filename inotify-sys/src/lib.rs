//! Raw FFI bindings to Linux inotify.
#![no_std]
#![deny(missing_docs)]
