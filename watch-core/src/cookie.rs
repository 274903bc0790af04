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

#[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Whether `name` is a sync cookie.
pub(crate) fn is_cookie(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(PREFIX.as_bytes())
}

#[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
/// A fresh cookie name, unique in this process and across processes.
pub(crate) fn fresh_name() -> OsString {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    OsString::from(format!("{PREFIX}{}.{n}", std::process::id()))
}

#[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
/// Creates then removes the cookie `name` in `dir`: the kernel queues the
/// create event before the call returns. A directory, so that no file
/// descriptor is needed (a sync must work with the descriptor table full).
#[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
pub(crate) fn touch(dir: &Path, name: &OsStr) -> io::Result<PathBuf> {
    let path = dir.join(name);
    fs::create_dir(&path)?;
    fs::remove_dir(&path)?;
    Ok(path)
}

/// Errors meaning "no cookie can be written here": read-only mount, no
/// write permission, directory gone meanwhile, or a pseudo filesystem that
/// has no mkdir (EINVAL on /proc, sysfs).
#[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
pub(crate) fn is_unwritable(err: &io::Error) -> bool {
    const EINVAL: i32 = 22; // the same value on Linux, the BSDs and macOS
    matches!(
        err.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::ReadOnlyFilesystem
            | io::ErrorKind::NotFound
    ) || err.raw_os_error() == Some(EINVAL)
}
