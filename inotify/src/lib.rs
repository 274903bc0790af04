//! Safe wrapper over Linux inotify.
#![deny(missing_docs)]
