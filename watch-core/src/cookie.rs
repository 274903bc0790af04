//! Sync cookies: uniquely named hidden files whose creation events prove that
//! everything before them has been delivered.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every cookie name starts with this; scans and event translation drop such
/// names, so cookies are never reported (nor are other watchers' cookies).
pub(crate) const PREFIX: &str = ".watchfs-cookie.";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Whether `name` is a sync cookie.
pub(crate) fn is_cookie(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(PREFIX.as_bytes())
}

/// A fresh cookie name, unique in this process and across processes.
pub(crate) fn fresh_name() -> OsString {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!("{PREFIX}{}.{n}", std::process::id()))
}

/// Creates then removes the cookie `name` in `dir`: the kernel queues the
/// create event before the call returns. Returns the cookie's path.
pub(crate) fn touch(dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    let path = dir.join(name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    fs::remove_file(&path)?;
    Ok(path)
}
