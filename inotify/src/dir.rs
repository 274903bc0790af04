//! Listing a directory with `getdents64(2)` into a buffer kept across
//! listings: what a watcher does right after adding a watch on a directory
//! (so that nothing created before the watch is missed).
//!
//! Compared with [`std::fs::read_dir`], a listing costs no `fstat` and no
//! buffer allocation (the C library's `opendir` takes both for every
//! directory), and entries are handed out as names borrowed from the
//! buffer, without an allocation each.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The size of a fresh [`DirBuffer`]: what the C library's `opendir` uses.
const DEFAULT_SIZE: usize = 32 * 1024;

/// The fixed part of a `linux_dirent64` record: inode (8 bytes), offset
/// (8), record length (2), type (1); the NUL-terminated name follows.
const HEADER: usize = 19;

/// What the listing says about an entry's type (`d_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirEntryType {
    /// A regular file (`DT_REG`).
    File,
    /// A directory (`DT_DIR`).
    Dir,
    /// A symbolic link (`DT_LNK`).
    Symlink,
    /// A device, FIFO or socket.
    Other,
    /// The filesystem does not say (`DT_UNKNOWN`): `lstat` the entry.
    Unknown,
}

impl DirEntryType {
    fn from_d_type(d_type: u8) -> DirEntryType {
        match d_type {
            libc::DT_REG => DirEntryType::File,
            libc::DT_DIR => DirEntryType::Dir,
            libc::DT_LNK => DirEntryType::Symlink,
            libc::DT_UNKNOWN => DirEntryType::Unknown,
            _ => DirEntryType::Other,
        }
    }
}

/// One entry of a listing, borrowed from the [`DirBuffer`].
#[derive(Clone, Copy, Debug)]
pub struct DirEntryRef<'a> {
    /// The entry's name (never `.` or `..`).
    pub name: &'a OsStr,
    /// The entry's inode number.
    pub ino: u64,
    /// The entry's type as the listing gives it.
    pub kind: DirEntryType,
}

/// A buffer for [`DirBuffer::list`], kept and reused across listings.
#[derive(Debug)]
pub struct DirBuffer {
    buf: Vec<u8>,
}

impl Default for DirBuffer {
    fn default() -> Self {
        DirBuffer::with_size(DEFAULT_SIZE)
    }
}

impl DirBuffer {
    /// A buffer of `size` bytes (at least room for one longest entry).
    pub fn with_size(size: usize) -> DirBuffer {
        DirBuffer {
            buf: vec![0; size.max(HEADER + 256 + 8)],
        }
    }

    /// Calls `each` for every entry of the directory `dir` (from
    /// [`open_dir`]) but `.` and `..`, in the order the filesystem gives
    /// them, until the end. Returns the error of a read, or of a record
    /// that does not decode; entries read before it have been handed to
    /// `each`. Reads from the directory's current position: list a
    /// directory once per opening.
    ///
    /// Man page: [getdents64(2)](https://man7.org/linux/man-pages/man2/getdents64.2.html).
    pub fn list(&mut self, dir: &File, each: &mut dyn FnMut(DirEntryRef<'_>)) -> io::Result<()> {
        loop {
            let n = getdents64(dir, &mut self.buf)?;
            if n == 0 {
                return Ok(());
            }
            decode(&self.buf[..n], each)?;
        }
    }
}

/// Opens the directory at `path` for [`DirBuffer::list`], following a
/// symlink there as `opendir` does (close-on-exec). Fails as `opendir`
/// does: not found, not a directory, no permission.
pub fn open_dir(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
}

/// One `getdents64(2)` into `buf`; the number of bytes filled (0 at the
/// end). `EINTR` is retried.
fn getdents64(dir: &File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the
        // duration of the call, and the kernel writes at most that many;
        // the descriptor is open (borrowed from `dir`).
        let rc = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if rc >= 0 {
            // Never more than asked for; anything else is not a count.
            return usize::try_from(rc)
                .ok()
                .filter(|&n| n <= buf.len())
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Hands out the records in `bytes` (what one `getdents64` filled).
fn decode(bytes: &[u8], each: &mut dyn FnMut(DirEntryRef<'_>)) -> io::Result<()> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "malformed directory record");
    let mut rest = bytes;
    while !rest.is_empty() {
        let header = rest.get(..HEADER).ok_or_else(bad)?;
        let ino = u64::from_ne_bytes(header[0..8].try_into().map_err(|_| bad())?);
        let reclen = usize::from(u16::from_ne_bytes(
            header[16..18].try_into().map_err(|_| bad())?,
        ));
        let d_type = header[18];
        let record = rest
            .get(..reclen)
            .filter(|_| reclen > HEADER)
            .ok_or_else(bad)?;
        let name = &record[HEADER..];
        let len = name.iter().position(|&b| b == 0).ok_or_else(bad)?;
        let name = &name[..len];
        if name != b"." && name != b".." {
            each(DirEntryRef {
                name: OsStr::from_bytes(name),
                ino,
                kind: DirEntryType::from_d_type(d_type),
            });
        }
        rest = &rest[reclen..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{DirEntryExt, symlink};
    use test_support::TempDir;

    fn listing(
        buf: &mut DirBuffer,
        dir: &Path,
    ) -> io::Result<BTreeMap<String, (u64, DirEntryType)>> {
        let mut out = BTreeMap::new();
        buf.list(&open_dir(dir)?, &mut |e| {
            out.insert(e.name.to_string_lossy().into_owned(), (e.ino, e.kind));
        })?;
        Ok(out)
    }

    #[test]
    fn lists_what_read_dir_lists_across_several_reads() {
        let t = TempDir::new("dirbuf");
        std::fs::create_dir(t.join("sub")).unwrap();
        symlink("sub", t.join("link")).unwrap();
        for i in 0..300 {
            std::fs::write(t.join(format!("file-with-a-longish-name-{i:04}")), b"").unwrap();
        }
        // A small buffer: many reads per listing, reused for a second one.
        let mut buf = DirBuffer::with_size(1024);
        for _ in 0..2 {
            let got = listing(&mut buf, t.path()).unwrap();
            let want: BTreeMap<String, u64> = std::fs::read_dir(t.path())
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name().to_string_lossy().into_owned(), e.ino())
                })
                .collect();
            assert_eq!(got.len(), want.len());
            for (name, ino) in &want {
                assert_eq!(got.get(name).map(|g| g.0), Some(*ino), "{name}");
            }
            assert_eq!(got["sub"].1, DirEntryType::Dir);
            assert_eq!(got["link"].1, DirEntryType::Symlink);
            assert_eq!(got["file-with-a-longish-name-0000"].1, DirEntryType::File);
        }
    }

    #[test]
    fn an_empty_directory_lists_nothing_and_errors_keep_their_kind() {
        let t = TempDir::new("dirbuf-err");
        let mut buf = DirBuffer::default();
        assert!(listing(&mut buf, t.path()).unwrap().is_empty());
        let missing = listing(&mut buf, &t.join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        std::fs::write(t.join("f"), b"").unwrap();
        let not_dir = listing(&mut buf, &t.join("f")).unwrap_err();
        assert_eq!(not_dir.kind(), io::ErrorKind::NotADirectory);
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        let mut seen = 0;
        let mut count = |_: DirEntryRef<'_>| seen += 1;
        // Too short for a header.
        assert!(decode(&[0; 5], &mut count).is_err());
        // A record length of zero, and one past the end.
        let mut rec = vec![0u8; 24];
        assert!(decode(&rec, &mut count).is_err());
        rec[16..18].copy_from_slice(&64u16.to_ne_bytes());
        assert!(decode(&rec, &mut count).is_err());
        // No NUL in the name.
        rec[16..18].copy_from_slice(&24u16.to_ne_bytes());
        rec[19..24].copy_from_slice(b"abcde");
        assert!(decode(&rec, &mut count).is_err());
        // A good one.
        rec[23] = 0;
        decode(&rec, &mut count).unwrap();
        assert_eq!(seen, 1);
    }
}
