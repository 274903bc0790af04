//! The mount table, for noticing a mount placed over or removed from a
//! directory along a watched path: no inotify event says so (the watches
//! stay on the covered directories), but `/proc/self/mountinfo` polls with
//! `POLLPRI` whenever this mount namespace's table changes
//! ([proc_pid_mountinfo(5)](https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html)).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use super::InotifyDriver;
use crate::root_layer::Emit;

/// `/proc/self/mountinfo`, open for polling, and the mounts last read.
pub(super) struct MountTable {
    file: File,
    /// (mount id, mount point): a volume remounted at the same point gets
    /// a new id, so it counts as a change too.
    mounts: BTreeSet<(u64, PathBuf)>,
}

impl MountTable {
    /// `None` where the table cannot be read (no `/proc`): mounts are then
    /// noticed only through `IN_UNMOUNT`.
    pub(super) fn open() -> Option<MountTable> {
        let mut table = MountTable {
            file: File::open("/proc/self/mountinfo").ok()?,
            mounts: BTreeSet::new(),
        };
        table.mounts = table.read()?;
        Some(table)
    }

    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Reads the table again; returns the mount points of the mounts that
    /// appeared or went away since the last read.
    pub(super) fn changes(&mut self) -> Vec<PathBuf> {
        let Some(now) = self.read() else {
            return Vec::new();
        };
        let changed: BTreeSet<&Path> = self
            .mounts
            .symmetric_difference(&now)
            .map(|(_, point)| point.as_path())
            .collect();
        let changed = changed.into_iter().map(Path::to_path_buf).collect();
        self.mounts = now;
        changed
    }

    fn read(&mut self) -> Option<BTreeSet<(u64, PathBuf)>> {
        let mut text = Vec::new();
        self.file.seek(SeekFrom::Start(0)).ok()?;
        self.file.read_to_end(&mut text).ok()?;
        Some(parse(&text))
    }
}

/// (mount id, mount point) of every line: the first and fifth fields.
fn parse(text: &[u8]) -> BTreeSet<(u64, PathBuf)> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let mut fields = line.split(|&b| b == b' ');
            let id = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
            let point = fields.nth(3)?;
            Some((id, unescape(point)))
        })
        .collect()
}

/// The kernel writes a space, tab, newline and backslash in a path as
/// `\040`, `\011`, `\012` and `\134`.
fn unescape(field: &[u8]) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// Whether a mount placed at or removed from `point` can change what
/// `path` (canonical) names: `point` is `path`, above it, or below it.
pub(super) fn affects(point: &Path, path: &Path) -> bool {
    path.starts_with(point) || point.starts_with(path)
}

impl InotifyDriver {
    /// The mount table changed: every root whose path, or a directory along
    /// it or inside its tree, had a mount placed on it or removed is
    /// rescanned from its path (its watches are on what the path led to
    /// before), and the differences are reported with origin Rescan.
    pub(super) fn remounted(&mut self, out: &mut Emit<'_>) {
        self.remount_pending = false;
        let Some(table) = self.mounts.as_mut() else {
            return;
        };
        let points = table.changes();
        if points.is_empty() {
            return;
        }
        for root in self.roots.iter_mut() {
            // Where the path leads now, by physical path (mount points are
            // physical): the path itself, or the directory that would hold it.
            let here = std::fs::canonicalize(&root.path).ok().or_else(|| {
                let (dir, _) = root.resolved.last()?;
                std::fs::canonicalize(dir).ok()
            });
            let hit = here.is_none_or(|here| points.iter().any(|p| affects(p, &here)));
            if hit {
                super::rescan(root, &mut self.kernel, &self.config, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_read_and_unescaped() {
        let text = b"22 27 0:21 / /proc rw,relatime - proc proc rw\n\
            36 35 98:0 /mnt1 /mnt/with\\040space\\134x rw - ext3 /dev/root rw\n\
            bad line\n\n";
        let mounts = parse(text);
        assert_eq!(
            mounts.into_iter().collect::<Vec<_>>(),
            [
                (22, PathBuf::from("/proc")),
                (36, PathBuf::from("/mnt/with space\\x"))
            ]
        );
        assert_eq!(unescape(b"a\\0"), PathBuf::from("a\\0"));
        assert_eq!(unescape(b"\\011\\012"), PathBuf::from("\t\n"));
    }

    #[test]
    fn a_mount_affects_paths_at_above_and_below_it() {
        let p = Path::new("/srv/app/conf");
        assert!(affects(Path::new("/srv/app"), p));
        assert!(affects(Path::new("/srv/app/conf"), p));
        assert!(affects(Path::new("/srv/app/conf/sub"), p));
        assert!(!affects(Path::new("/srv/application"), p));
        assert!(!affects(Path::new("/srv/other"), p));
    }

    #[test]
    fn the_table_of_this_process_reads_and_is_unchanged_when_read_again() {
        let Some(mut table) = MountTable::open() else {
            return; // no /proc here
        };
        assert!(!table.mounts.is_empty());
        assert!(table.changes().is_empty());
    }
}
