//! Turning a `Path` into a C string without touching the heap.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::Error;

/// Paths shorter than this are built on the stack. Longer ones cannot be
/// resolved by the kernel anyway (`ENAMETOOLONG`); they take a heap copy so
/// that the kernel still gives its own answer.
const STACK_LEN: usize = libc::PATH_MAX as usize;

/// Calls `f` with `path` as a NUL-terminated C string. A path containing a
/// NUL byte is rejected here, before any system call.
pub(crate) fn with_c_path<R>(path: &Path, f: impl FnOnce(&CStr) -> R) -> Result<R, Error> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.contains(&0) {
        return Err(Error::path_contains_nul(path));
    }
    if bytes.len() < STACK_LEN {
        let mut buf = [const { MaybeUninit::<u8>::uninit() }; STACK_LEN];
        let dst = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `bytes.len() + 1 <= STACK_LEN`, so both writes stay inside
        // `buf`; source and destination do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
            dst.add(bytes.len()).write(0);
        }
        // SAFETY: the first `bytes.len() + 1` bytes were initialised above;
        // they hold no interior NUL (checked) and end with one NUL.
        let c = unsafe {
            CStr::from_bytes_with_nul_unchecked(std::slice::from_raw_parts(dst, bytes.len() + 1))
        };
        Ok(f(c))
    } else {
        let c = CString::new(bytes).map_err(|_| Error::path_contains_nul(path))?;
        Ok(f(&c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn short_path_round_trips() {
        let out = with_c_path(Path::new("a/b c"), |c| c.to_bytes().to_vec()).unwrap();
        assert_eq!(out, b"a/b c");
    }

    #[test]
    fn long_path_round_trips() {
        let long = "x".repeat(STACK_LEN + 10);
        let out = with_c_path(Path::new(&long), |c| c.to_bytes().len()).unwrap();
        assert_eq!(out, long.len());
        let exact = "y".repeat(STACK_LEN - 1);
        let out = with_c_path(Path::new(&exact), |c| c.to_bytes().len()).unwrap();
        assert_eq!(out, exact.len());
    }

    #[test]
    fn nul_is_rejected_before_calling() {
        let p = Path::new(OsStr::from_bytes(b"a\0b"));
        let mut called = false;
        let err = with_c_path(p, |_| called = true).unwrap_err();
        assert!(!called);
        assert_eq!(err.kind(), crate::ErrorKind::PathContainsNul);
        assert_eq!(err.path(), Some(p));
    }
}
