//! Raw FFI bindings to kqueue.
#![no_std]
#![deny(missing_docs)]
