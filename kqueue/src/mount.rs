//! The filesystem holding a path, from `statfs(2)` (`statvfs(2)` on NetBSD).
//!
//! Manual pages:
//! [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=statfs&sektion=2),
//! [OpenBSD](https://man.openbsd.org/statfs.2),
//! [NetBSD](https://man.netbsd.org/statvfs.2),
//! [DragonFly](https://man.dragonflybsd.org/?command=statfs&section=2),
//! [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/statfs.2.html).

use std::ffi::{CString, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The type and mount point of a mounted filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The type as the kernel names it (`apfs`, `ufs`, `zfs`, `nfs`,
    /// `smbfs`, `fusefs.sshfs`, ...): `f_fstypename`.
    pub fs_type: OsString,
    /// Where it is mounted: `f_mntonname`.
    pub mount_point: PathBuf,
}

/// The filesystem holding `path` (symlinks followed): one `statfs(2)` call
/// (`statvfs(2)` on NetBSD). Errors are the call's `errno`; a path holding a
/// NUL byte is `InvalidInput`.
pub fn mount_of(path: &Path) -> io::Result<Mount> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte")
    })?;
    let info = stat_fs(&c_path)?;
    Ok(Mount {
        fs_type: c_chars(&info.f_fstypename),
        mount_point: PathBuf::from(c_chars(&info.f_mntonname)),
    })
}

#[cfg(not(target_os = "netbsd"))]
fn stat_fs(path: &CString) -> io::Result<libc::statfs> {
    let mut info = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `info` is
    // writable storage of exactly the type statfs(2) fills.
    let rc = unsafe { libc::statfs(path.as_ptr(), info.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs(2) returned 0, so it filled the whole structure.
    Ok(unsafe { info.assume_init() })
}

#[cfg(target_os = "netbsd")]
fn stat_fs(path: &CString) -> io::Result<libc::statvfs> {
    let mut info = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and outlives the call; `info` is
    // writable storage of exactly the type statvfs(2) fills.
    let rc = unsafe { libc::statvfs(path.as_ptr(), info.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs(2) returned 0, so it filled the whole structure.
    Ok(unsafe { info.assume_init() })
}

/// A NUL-terminated (or full) `char` array as bytes, without the NUL.
fn c_chars(field: &[libc::c_char]) -> OsString {
    OsString::from_vec(
        field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect(),
    )
}
