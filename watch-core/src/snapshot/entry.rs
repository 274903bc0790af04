//! What a scan records about one path: [`Entry`], its kind and the
//! timestamps and thresholds of the listed-file rule.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The type of a filesystem object, as `lstat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl EntryKind {
    /// The kind of an object from its file type's tests, a symlink first
    /// (`lstat` never reports one as anything else).
    fn of(is_symlink: bool, is_dir: bool, is_file: bool) -> EntryKind {
        if is_symlink {
            EntryKind::Symlink
        } else if is_dir {
            EntryKind::Dir
        } else if is_file {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }
}

/// What a scan records about one path. A [`Snapshot`](super::Snapshot)
/// does not keep a directory's `size`, `mtime` and `ctime` (every diff
/// ignores them): it gives them back as 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: EntryKind,
    /// Only listed, never examined (see [`Entry::listed`]).
    pub(crate) listed: bool,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    /// Modification time, as a [`stamp`].
    pub(crate) mtime: i64,
    /// Status change time, as a [`stamp`]. The kernel sets it to the current
    /// time on every write, truncation, rename, link count or attribute
    /// change, and user space cannot set it: a rewrite whose size stays and
    /// whose mtime was put back (`cp -p`, `tar x`, `rsync -t`, `touch -r`)
    /// still moves it. For a listed entry: when it was listed, less
    /// [`LISTED_MARGIN_NS`].
    pub(crate) ctime: i64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// A symlink's target (boxed: rare, and one pointer wide when absent).
    pub(crate) target: Option<Box<PathBuf>>,
}

// Many are kept, so size matters.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() <= 64);

/// A timestamp as one number, so that an entry keeps both times and still
/// packs into 64 bytes: nanoseconds since the epoch, wrapping. Exact and
/// ordered from 1678 to 2262; beyond that two times give the same stamp
/// only when they are a multiple of about 584 years apart.
pub(crate) fn stamp(secs: i64, nsecs: i64) -> i64 {
    // `nsecs` is in [0, 10^9) by definition; clamp rather than trust it.
    secs.wrapping_mul(1_000_000_000)
        .wrapping_add(nsecs.clamp(0, 999_999_999))
}

/// How far before the moment a directory is listed its listed files' ctimes
/// may lie and still count as "maybe changed since". The kernel stamps a
/// change with a coarse clock that lags the one we read by up to a timer
/// tick (10 ms at the lowest tick rate), and some filesystems keep whole
/// seconds (ext3 without large inodes, HFS+, many NFS servers), truncating
/// a change made after the listing to up to a second before it. Two seconds
/// covers both with room; the price is an extra `Modified` after an overflow
/// for a file changed in the two seconds before it was listed.
pub(crate) const LISTED_MARGIN_NS: i64 = 2_000_000_000;

/// The inode of a file known from its creation event only
/// ([`Snapshot::announce`](super::Snapshot::announce)): not read. No real inode has
/// this number (and 0 marks a placeholder).
pub(crate) const UNKNOWN_INO: u64 = u64::MAX;

/// The threshold for files listed now: the current time (the clock the
/// kernel stamps ctimes with) less [`LISTED_MARGIN_NS`].
pub(crate) fn listed_since() -> i64 {
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => stamp(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            i64::from(d.subsec_nanos()),
        ),
        // A clock before 1970: every listed file then counts as changed.
        Err(_) => i64::MIN,
    };
    now.saturating_sub(LISTED_MARGIN_NS)
}

impl Entry {
    /// An entry from (l)stat metadata; `target` for symlinks.
    pub(crate) fn from_metadata(meta: &Metadata, target: Option<PathBuf>) -> Entry {
        let ft = meta.file_type();
        Entry {
            kind: EntryKind::of(ft.is_symlink(), ft.is_dir(), ft.is_file()),
            listed: false,
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: stamp(meta.mtime(), meta.mtime_nsec()),
            ctime: stamp(meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            target: target.map(Box::new),
        }
    }

    /// An entry from an `lstat` made relative to the directory listed
    /// (its target, for a symlink, not read yet).
    #[cfg(linux_kernel)]
    pub(crate) fn from_stat(st: &inotify::EntryStat) -> Entry {
        Entry {
            kind: EntryKind::of(st.is_symlink(), st.is_dir(), st.is_file()),
            listed: false,
            dev: st.dev,
            ino: st.ino,
            size: st.size,
            mtime: stamp(st.mtime, st.mtime_nsec),
            ctime: stamp(st.ctime, st.ctime_nsec),
            mode: st.mode,
            uid: st.uid,
            gid: st.gid,
            target: None,
        }
    }

    /// A regular file known only from its directory's listing: device (its
    /// directory's), inode (`d_ino`), and `since`, a [`listed_since`]
    /// taken before the directory was read. Size, times and permissions
    /// are unknown: a rescan reports the file as modified (content and
    /// metadata) if its ctime is at or after `since`.
    pub(crate) fn listed(dev: u64, ino: u64, since: i64) -> Entry {
        Entry {
            kind: EntryKind::File,
            listed: true,
            dev,
            ino,
            size: 0,
            mtime: 0,
            ctime: since,
            mode: 0,
            uid: 0,
            gid: 0,
            target: None,
        }
    }

    /// Known only from its creation event ([`Snapshot::announce`](super::Snapshot::announce)).
    pub(crate) fn is_announced(&self) -> bool {
        self.listed && self.ino == UNKNOWN_INO
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// `lstat` of `path`, with the target read for a symlink.
    pub(crate) fn lstat(path: &Path) -> io::Result<Entry> {
        let meta = fs::symlink_metadata(path)?;
        let target = if meta.file_type().is_symlink() {
            Some(fs::read_link(path)?)
        } else {
            None
        };
        Ok(Entry::from_metadata(&meta, target))
    }

    /// An entry for a path reported as created that was gone before it
    /// could be examined. Inode 0 never matches a real object.
    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    pub(crate) fn placeholder(is_dir: bool) -> Entry {
        Entry {
            kind: if is_dir {
                EntryKind::Dir
            } else {
                EntryKind::File
            },
            listed: false,
            dev: 0,
            ino: 0,
            size: 0,
            mtime: 0,
            ctime: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            target: None,
        }
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Same filesystem object (type, device, inode). Never true for an
    /// [`Snapshot::announce`](super::Snapshot::announce) one, whose inode is unknown: see
    /// [`Entry::may_be`].
    pub(crate) fn same_object(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.dev == other.dev
            && self.ino == other.ino
            && self.ino != UNKNOWN_INO
    }

    /// Whether `other`, seen later at the same path, is taken for the
    /// object `self` recorded: the same object, or any non-directory for an
    /// [`Snapshot::announce`](super::Snapshot::announce) one (whatever replaced it since moved the ctime
    /// past its `since`, so it is reported as changed).
    pub(crate) fn may_be(&self, other: &Entry) -> bool {
        self.same_object(other) || (self.is_announced() && !other.is_dir())
    }

    /// Whether `new`, found at another path after `self` (the same
    /// device and inode) went away, can be the same object renamed rather
    /// than a new one that reused the freed inode. A rename keeps a file's
    /// size, mtime and (symlink) target, and moves its ctime past its
    /// mtime; a new object's ctime and mtime are those of its last write
    /// (equal, unless something else, such as a `chmod`, came later). So:
    /// the same content (for a listed `self`, whose size and times are
    /// unknown: written before the listing), or a ctime past the mtime.
    /// A file written and renamed within one clock tick, or renamed and
    /// then written, between two scans is then reported as removed and
    /// created, which folds to the same tree.
    pub(crate) fn may_have_moved_to(&self, new: &Entry) -> bool {
        if self.is_announced() {
            return false;
        }
        if new.listed {
            return true;
        }
        let same_content = if self.listed {
            new.mtime < self.ctime
        } else {
            self.size == new.size && self.mtime == new.mtime && self.target == new.target
        };
        same_content || new.ctime > new.mtime
    }

    /// Whether `new`, seen later at the same path, may differ from a listed
    /// `self` in anything but its name: its ctime is not older than the
    /// listing (less the margin). Unknown (so yes) when `new` is listed too.
    pub(super) fn listed_changed(&self, new: &Entry) -> bool {
        new.listed || new.ctime >= self.ctime
    }

    /// Content changed: size or mtime of a non-directory, or a symlink target.
    /// (A directory's mtime changes with every entry; its entries report that.)
    /// For a listed entry (on either side): see [`Entry::listed`].
    pub(crate) fn content_differs(&self, other: &Entry) -> bool {
        if self.listed {
            return self.listed_changed(other);
        }
        if other.listed {
            return true;
        }
        self.kind != EntryKind::Dir
            && (self.size != other.size || self.mtime != other.mtime || self.target != other.target)
    }

    /// The status change time of a file (not a directory or a symlink)
    /// moved. Unless something else explains it (a rename, a link added or
    /// removed, a permission change), the content was rewritten with its
    /// size and mtime kept or put back: see [`crate::diff`]. Listed
    /// entries are judged by [`Entry::content_differs`] instead.
    pub(crate) fn ctime_differs(&self, other: &Entry) -> bool {
        !self.listed
            && !other.listed
            && !matches!(self.kind, EntryKind::Dir | EntryKind::Symlink)
            && self.ctime != other.ctime
    }

    /// Permissions or ownership changed. For a listed entry, unknown: it
    /// may have if its ctime moved (a rescan cannot tell a `chmod` from a
    /// rewrite without the old values, so it reports both).
    pub(crate) fn metadata_differs(&self, other: &Entry) -> bool {
        if self.listed {
            return self.listed_changed(other);
        }
        if other.listed {
            return true;
        }
        self.mode != other.mode || self.uid != other.uid || self.gid != other.gid
    }
}
