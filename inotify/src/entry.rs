//! Examining what a directory listing names, relative to the open
//! directory it was listed from (never by a path from `/`): a rename of a
//! directory above, made while a watcher reads the tree, then cannot send
//! the lookup into another directory than the one listed.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The longest name a directory entry can have (`NAME_MAX`), plus its NUL.
const NAME_BUF: usize = 256;

/// What [`stat_at`] says about an entry: the fields of `struct stat` a
/// watcher keeps, as plain integers (the type and permission bits in
/// [`EntryStat::mode`], as `st_mode` holds them).
///
/// Man page: [stat(3type)](https://man7.org/linux/man-pages/man3/stat.3type.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryStat {
    /// The device the entry is on (`st_dev`).
    pub dev: u64,
    /// The inode number (`st_ino`).
    pub ino: u64,
    /// File type and mode (`st_mode`).
    pub mode: u32,
    /// The number of hard links (`st_nlink`).
    pub nlink: u64,
    /// The owner's user id (`st_uid`).
    pub uid: u32,
    /// The owner's group id (`st_gid`).
    pub gid: u32,
    /// The size in bytes (`st_size`; for a symlink, its target's length).
    pub size: u64,
    /// Last modification, seconds since the epoch (`st_mtime`).
    pub mtime: i64,
    /// Nanoseconds of [`EntryStat::mtime`] (`st_mtime_nsec`).
    pub mtime_nsec: i64,
    /// Last status change, seconds since the epoch (`st_ctime`).
    pub ctime: i64,
    /// Nanoseconds of [`EntryStat::ctime`] (`st_ctime_nsec`).
    pub ctime_nsec: i64,
}

impl EntryStat {
    fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// A directory (`S_IFDIR`).
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// A regular file (`S_IFREG`).
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// A symbolic link (`S_IFLNK`; [`stat_at`] does not follow one).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    // `st_*` field types differ between targets (32-bit `time_t`, `u32`
    // `st_nlink`); the conversions are no-ops on some of them.
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    fn from_stat(st: &libc::stat) -> EntryStat {
        EntryStat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            mode: st.st_mode as u32,
            nlink: st.st_nlink as u64,
            uid: st.st_uid,
            gid: st.st_gid,
            // Never negative for an object the kernel describes.
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: i64::from(st.st_mtime),
            mtime_nsec: i64::from(st.st_mtime_nsec),
            ctime: i64::from(st.st_ctime),
            ctime_nsec: i64::from(st.st_ctime_nsec),
        }
    }
}

/// `lstat` of the entry `name` of the open directory `dir`: one
/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`, looked up in that directory
/// wherever it is now, never through a path from `/`. `name` is one
/// entry's name, as [`DirBuffer::list`](crate::DirBuffer::list) gives it:
/// one with a `/` or a NUL is refused (`InvalidInput`) before any system
/// call, one longer than `NAME_MAX` is `ENAMETOOLONG`. `EINTR` is retried.
///
/// Man page: [fstatat(2)](https://man7.org/linux/man-pages/man2/fstatat.2.html).
pub fn stat_at(dir: &impl AsFd, name: &OsStr) -> io::Result<EntryStat> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not the name of a directory entry",
        ));
    }
    if bytes.len() >= NAME_BUF {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    let mut c_name = [0u8; NAME_BUF];
    c_name[..bytes.len()].copy_from_slice(bytes);
    let fd = dir.as_fd().as_raw_fd();
    loop {
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `c_name` is NUL-terminated (its tail past the name is
        // zeros; the name holds no NUL) and lives across the call; `st`
        // is valid for writes of one `struct stat`, which the kernel fills
        // on success; the descriptor is open for as long as `dir` is
        // borrowed.
        let rc = unsafe {
            libc::fstatat(
                fd,
                c_name.as_ptr().cast(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc == 0 {
            // SAFETY: `fstatat` returned 0, so it initialised `st`.
            let st = unsafe { st.assume_init() };
            return Ok(EntryStat::from_stat(&st));
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Opens the directory at `path` for [`DirBuffer::list`](crate::DirBuffer::list)
/// and [`stat_at`] without following a symlink there (`O_DIRECTORY |
/// O_NOFOLLOW`, close-on-exec): the opening is also the check that the
/// name is a real directory, and `File::metadata` on the result (an
/// `fstat`) then describes the directory that will be listed. Fails with
/// `ELOOP` or `ENOTDIR` (both `io::ErrorKind`s of their own) for a symlink
/// or another non-directory, and as `open` does otherwise (not found, no
/// permission).
///
/// Man page: [open(2)](https://man7.org/linux/man-pages/man2/open.2.html).
pub fn open_dir_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use test_support::TempDir;

    fn same_as_lstat(st: &EntryStat, path: &Path) {
        let m = std::fs::symlink_metadata(path).unwrap();
        assert_eq!(
            (st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid, st.size),
            (
                m.dev(),
                m.ino(),
                m.mode(),
                m.nlink(),
                m.uid(),
                m.gid(),
                m.size()
            ),
            "{}",
            path.display()
        );
        assert_eq!((st.mtime, st.mtime_nsec), (m.mtime(), m.mtime_nsec()));
        assert_eq!((st.ctime, st.ctime_nsec), (m.ctime(), m.ctime_nsec()));
    }

    #[test]
    fn stat_at_is_lstat_of_the_entry_in_that_directory() {
        let t = TempDir::new("stat-at");
        std::fs::create_dir(t.join("sub")).unwrap();
        std::fs::write(t.join("f"), b"hello").unwrap();
        std::fs::set_permissions(t.join("f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        symlink("sub", t.join("link")).unwrap();
        let dir = open_dir_nofollow(t.path()).unwrap();
        let sub = stat_at(&dir, OsStr::new("sub")).unwrap();
        assert!(sub.is_dir() && !sub.is_file() && !sub.is_symlink());
        same_as_lstat(&sub, &t.join("sub"));
        let f = stat_at(&dir, OsStr::new("f")).unwrap();
        assert!(f.is_file());
        assert_eq!(f.size, 5);
        same_as_lstat(&f, &t.join("f"));
        // Not followed.
        let link = stat_at(&dir, OsStr::new("link")).unwrap();
        assert!(link.is_symlink());
        same_as_lstat(&link, &t.join("link"));
        let missing = stat_at(&dir, OsStr::new("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn stat_at_follows_the_directory_not_its_old_path() {
        // The directory is renamed after it was opened: the entry is
        // found in it, and a new directory at the old path is not looked at.
        let t = TempDir::new("stat-at-moved");
        std::fs::create_dir(t.join("a")).unwrap();
        std::fs::write(t.join("a/f"), b"x").unwrap();
        let dir = open_dir_nofollow(&t.join("a")).unwrap();
        std::fs::rename(t.join("a"), t.join("b")).unwrap();
        std::fs::create_dir(t.join("a")).unwrap();
        let f = stat_at(&dir, OsStr::new("f")).unwrap();
        same_as_lstat(&f, &t.join("b/f"));
        let meta = dir.metadata().unwrap();
        assert_eq!(meta.ino(), std::fs::metadata(t.join("b")).unwrap().ino());
    }

    #[test]
    fn stat_at_refuses_what_is_not_one_name() {
        let t = TempDir::new("stat-at-names");
        std::fs::create_dir(t.join("sub")).unwrap();
        std::fs::write(t.join("sub/f"), b"").unwrap();
        let dir = open_dir_nofollow(t.path()).unwrap();
        for bad in [&b""[..], b"sub/f", b"/etc", b"a\0b"] {
            let err = stat_at(&dir, OsStr::from_bytes(bad)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        let long = "x".repeat(NAME_BUF);
        let err = stat_at(&dir, OsStr::new(&long)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
        // The longest name a filesystem allows fits.
        let longest = "y".repeat(NAME_BUF - 1);
        std::fs::write(t.join(&longest), b"").unwrap();
        assert!(stat_at(&dir, OsStr::new(&longest)).unwrap().is_file());
    }

    #[test]
    fn open_dir_nofollow_opens_only_a_real_directory() {
        let t = TempDir::new("open-nofollow");
        std::fs::create_dir(t.join("sub")).unwrap();
        std::fs::write(t.join("f"), b"").unwrap();
        symlink("sub", t.join("link")).unwrap();
        let dir = open_dir_nofollow(&t.join("sub")).unwrap();
        assert!(dir.metadata().unwrap().is_dir());
        let link = open_dir_nofollow(&t.join("link")).unwrap_err();
        assert!(
            matches!(link.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{link:?}"
        );
        let file = open_dir_nofollow(&t.join("f")).unwrap_err();
        assert_eq!(file.kind(), io::ErrorKind::NotADirectory);
        let missing = open_dir_nofollow(&t.join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
