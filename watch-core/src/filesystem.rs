//! Which filesystem a path lives on, and whether kernel notifications see
//! every change made to it.
//!
//! inotify and kqueue report what the local kernel does to a file. On a
//! network filesystem (NFS, SMB/CIFS), a 9p or virtiofs share, or a FUSE
//! filesystem, changes made by another machine, by the host of a virtual
//! machine or by the FUSE daemon itself never pass through the local
//! kernel's VFS, so no notification is ever queued for them. Such roots are
//! watched by polling when [`RootBackend::Auto`](crate::RootBackend::Auto)
//! is asked for.
//!
//! On Linux the mount table is read from `/proc/self/mountinfo`
//! ([proc_pid_mountinfo(5)](https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html));
//! on macOS and the BSDs it comes from `statfs(2)` (`statvfs(2)` on NetBSD),
//! through the `kqueue` crate.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The filesystem holding a path: its type and where it is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    fs_type: String,
    mount_point: PathBuf,
}

impl Filesystem {
    /// A filesystem of type `fs_type` (as the mount table names it, e.g.
    /// `nfs4`, `fuse.sshfs`, `ext4`) mounted at `mount_point`.
    pub fn new(fs_type: impl Into<String>, mount_point: impl Into<PathBuf>) -> Filesystem {
        Filesystem {
            fs_type: fs_type.into(),
            mount_point: mount_point.into(),
        }
    }

    /// The type, as the mount table names it (`ext4`, `nfs4`, `fuse.sshfs`).
    pub fn fs_type(&self) -> &str {
        &self.fs_type
    }

    /// Where it is mounted.
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    /// Whether changes can happen that the local kernel's notifications
    /// never report: network filesystems (NFS, SMB/CIFS, Ceph, AFS), shares
    /// from a host (9p, virtiofs) and FUSE filesystems (`fuse`, `fuse.*`;
    /// `fusefs` on FreeBSD, macFUSE on macOS). `fuseblk` (a local block
    /// device behind FUSE, e.g. NTFS) is local and not on this list.
    pub fn misses_remote_changes(&self) -> bool {
        let t = self.fs_type.as_str();
        REMOTE_TYPES.contains(&t)
            || t.starts_with("fuse.")
            || t.starts_with("fusefs.")
            || t.starts_with("nfs")
            || t.starts_with("macfuse")
            || t.starts_with("osxfuse")
    }
}

/// Filesystem types (Linux and BSD names) whose changes can bypass the
/// local kernel; see [`Filesystem::misses_remote_changes`].
const REMOTE_TYPES: &[&str] = &[
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "virtiofs", "ceph", "afs", "fuse", "fusefs",
    "webdav", "afpfs",
];

impl fmt::Display for Filesystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} filesystem at {}",
            self.fs_type,
            self.mount_point.display()
        )
    }
}

/// A line of a mount table that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountTableError {
    /// Where the table came from (`/proc/self/mountinfo`).
    pub source: String,
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for MountTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.source, self.line, self.reason)
    }
}

impl std::error::Error for MountTableError {}

/// The mounts of a Linux mount namespace, as `/proc/self/mountinfo` lists
/// them, in mount order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountTable {
    mounts: Vec<Filesystem>,
}

/// Where Linux publishes the calling process's mount table.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";

impl MountTable {
    /// Parses the text of a `mountinfo` file. `source` names it in errors.
    ///
    /// Each line is
    /// `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`;
    /// spaces, tabs, newlines and backslashes in paths are written as octal
    /// escapes (`\040`). Blank lines are skipped; any other line without
    /// those fields is an error naming its number.
    pub fn parse(text: &[u8], source: &str) -> Result<MountTable, MountTableError> {
        let mut mounts = Vec::new();
        for (index, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let error = |reason| MountTableError {
                source: source.to_string(),
                line: index + 1,
                reason,
            };
            let mut fields = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|f| !f.is_empty());
            // ID, parent ID, major:minor, root within the filesystem.
            for _ in 0..4 {
                fields.next().ok_or_else(|| error("fewer than 10 fields"))?;
            }
            let mount_point = fields.next().ok_or_else(|| error("fewer than 10 fields"))?;
            if !mount_point.starts_with(b"/") {
                return Err(error("the mount point (field 5) is not an absolute path"));
            }
            // Mount options, then optional fields up to the "-" separator.
            fields.next().ok_or_else(|| error("fewer than 10 fields"))?;
            if !fields.by_ref().any(|f| f == b"-") {
                return Err(error("no \" - \" separator before the filesystem type"));
            }
            let fs_type = fields
                .next()
                .ok_or_else(|| error("no filesystem type after the \" - \" separator"))?;
            let fs_type = std::str::from_utf8(&unescape(fs_type))
                .map_err(|_| error("the filesystem type is not UTF-8"))?
                .to_string();
            mounts.push(Filesystem {
                fs_type,
                mount_point: PathBuf::from(bytes_to_os(unescape(mount_point))),
            });
        }
        Ok(MountTable { mounts })
    }

    /// Reads and parses [`MOUNTINFO`].
    pub fn read() -> Result<MountTable, String> {
        let text = std::fs::read(MOUNTINFO).map_err(|e| format!("cannot read {MOUNTINFO}: {e}"))?;
        MountTable::parse(&text, MOUNTINFO).map_err(|e| e.to_string())
    }

    /// The mounts, in the order of the table.
    pub fn mounts(&self) -> &[Filesystem] {
        &self.mounts
    }

    /// The filesystem holding `path`, which must be absolute and free of
    /// symlinks (canonical): the mount with the longest mount point that
    /// contains it, the last one listed when several share that mount
    /// point (a later mount hides an earlier one).
    pub fn filesystem_of(&self, path: &Path) -> Option<&Filesystem> {
        let mut best: Option<&Filesystem> = None;
        for mount in &self.mounts {
            if !path.starts_with(&mount.mount_point) {
                continue;
            }
            let depth = mount.mount_point.components().count();
            if best.is_none_or(|b| depth >= b.mount_point.components().count()) {
                best = Some(mount);
            }
        }
        best
    }
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash). A backslash not followed by three octal
/// digits is kept as it is.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

fn bytes_to_os(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

/// The filesystem holding `path` (which need not exist: its nearest
/// existing ancestor is asked), or why it cannot be told.
pub fn filesystem_of(path: &Path) -> Result<Filesystem, String> {
    let existing = nearest_existing(path)?;
    platform::filesystem_of(&existing)
}

/// `path` canonicalized, or its nearest ancestor that exists, canonicalized.
fn nearest_existing(path: &Path) -> Result<PathBuf, String> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?
            .join(path)
    };
    let mut candidate = absolute.as_path();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(candidate) {
            return Ok(canonical);
        }
        candidate = candidate
            .parent()
            .ok_or_else(|| format!("no part of {} exists", path.display()))?;
    }
}

#[cfg(linux_kernel)]
mod platform {
    use super::*;

    pub(super) fn filesystem_of(path: &Path) -> Result<Filesystem, String> {
        let table = MountTable::read()?;
        table
            .filesystem_of(path)
            .cloned()
            .ok_or_else(|| format!("{MOUNTINFO} lists no mount holding {}", path.display()))
    }
}

#[cfg(kernel_kqueue)]
mod platform {
    use super::*;

    pub(super) fn filesystem_of(path: &Path) -> Result<Filesystem, String> {
        let mount =
            kqueue::mount_of(path).map_err(|e| format!("statfs {}: {e}", path.display()))?;
        Ok(Filesystem::new(
            mount.fs_type.to_string_lossy().into_owned(),
            mount.mount_point,
        ))
    }
}

#[cfg(not(any(linux_kernel, kernel_kqueue)))]
mod platform {
    use super::*;

    pub(super) fn filesystem_of(_path: &Path) -> Result<Filesystem, String> {
        Err("this platform has no supported way to tell a path's filesystem".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw
27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
40 27 0:45 / /mnt/share rw,relatime shared:30 - nfs4 server:/export rw,vers=4.2
41 40 8:2 / /mnt/share/local rw,relatime - xfs /dev/sdb1 rw
42 27 0:46 / /mnt/remote rw,nosuid,nodev,relatime master:7 propagate_from:2 - fuse.sshfs me@host: rw,user_id=0
43 27 0:47 / /srv/with\\040space rw - cifs //nas/share rw
44 27 0:48 / /srv/tab\\011and\\012newline\\134back rw - 9p hostshare rw,trans=virtio
45 27 0:49 / /mnt/share rw - tmpfs tmpfs rw
";

    fn table() -> MountTable {
        MountTable::parse(SAMPLE.as_bytes(), "test").unwrap()
    }

    fn fs_at(path: &str) -> Filesystem {
        table().filesystem_of(Path::new(path)).unwrap().clone()
    }

    #[test]
    fn longest_mount_point_wins() {
        assert_eq!(fs_at("/etc/app.conf").fs_type(), "ext4");
        assert_eq!(fs_at("/").fs_type(), "ext4");
        assert_eq!(fs_at("/mnt/share/local/x").fs_type(), "xfs");
        assert_eq!(fs_at("/mnt/remote/a/b").fs_type(), "fuse.sshfs");
        // A path component match, not a string prefix.
        assert_eq!(fs_at("/mnt/remote2").fs_type(), "ext4");
    }

    #[test]
    fn a_later_mount_over_the_same_point_hides_the_earlier_one() {
        assert_eq!(fs_at("/mnt/share/x").fs_type(), "tmpfs");
    }

    #[test]
    fn escaped_paths_are_decoded() {
        let with_space = fs_at("/srv/with space/conf");
        assert_eq!(with_space.fs_type(), "cifs");
        assert_eq!(with_space.mount_point(), Path::new("/srv/with space"));
        let odd = fs_at("/srv/tab\tand\nnewline\\back");
        assert_eq!(odd.fs_type(), "9p");
        // The escaped form itself is not a mount point.
        assert_eq!(fs_at("/srv/with\\040space").fs_type(), "ext4");
    }

    #[test]
    fn non_utf8_mount_points_are_kept_byte_for_byte() {
        let text = b"50 27 0:50 / /mnt/caf\\351 rw - nfs h:/x rw\n\
                     51 27 0:51 / /mnt/raw\xff rw - ext4 /dev/x rw\n";
        let table = MountTable::parse(text, "test").unwrap();
        assert_eq!(
            table.mounts()[0].mount_point().as_os_str().as_bytes(),
            b"/mnt/caf\xe9"
        );
        assert_eq!(
            table.mounts()[1].mount_point().as_os_str().as_bytes(),
            b"/mnt/raw\xff"
        );
    }

    #[test]
    fn remote_and_virtual_types_need_polling() {
        for remote in [
            "nfs",
            "nfs4",
            "cifs",
            "smb3",
            "9p",
            "fuse",
            "fuse.sshfs",
            "fuse.rclone",
            "virtiofs",
            "fusefs.sshfs",
        ] {
            assert!(
                Filesystem::new(remote, "/").misses_remote_changes(),
                "{remote}"
            );
        }
        for local in [
            "ext4", "xfs", "btrfs", "tmpfs", "overlay", "fuseblk", "proc", "apfs", "ufs", "zfs",
        ] {
            assert!(
                !Filesystem::new(local, "/").misses_remote_changes(),
                "{local}"
            );
        }
    }

    #[test]
    fn odd_lines_are_errors_naming_the_line() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"27 1 8:1 / / rw - ext4 /dev/sda1 rw\ngarbage\n",
                "fewer than 10 fields",
            ),
            (b"27 1 8:1 / / rw shared:1 ext4 /dev/sda1 rw\n", "separator"),
            (b"27 1 8:1 / / rw -\n", "no filesystem type"),
            (b"27 1 8:1 / relative rw - ext4 x rw\n", "absolute"),
            (b"27 1 8:1 / / rw - ext\xff4 x rw\n", "UTF-8"),
        ];
        for (text, reason) in cases {
            let err = MountTable::parse(text, "fake-mountinfo").unwrap_err();
            assert!(err.reason.contains(reason), "{err} for {text:?}");
            assert!(err.to_string().starts_with("fake-mountinfo line "), "{err}");
        }
        let err = MountTable::parse(b"27 1 8:1 / / rw - ext4 a rw\ngarbage", "m").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn blank_lines_tabs_and_bad_escapes_are_tolerated() {
        let text = b"\n  \n27\t1 8:1 / /  rw - ext4 /dev/sda1 rw\n28 27 0:1 / /a\\9x rw - nfs h:/ rw\n29 27 0:1 / /b\\777 rw - nfs h:/ rw";
        let table = MountTable::parse(text, "m").unwrap();
        assert_eq!(table.mounts().len(), 3);
        assert_eq!(table.mounts()[1].mount_point(), Path::new("/a\\9x"));
        // \777 is 511, not a byte: kept literally.
        assert_eq!(table.mounts()[2].mount_point(), Path::new("/b\\777"));
        assert!(MountTable::parse(b"", "m").unwrap().mounts().is_empty());
    }

    #[test]
    fn the_real_table_holds_the_temp_dir() {
        let fs = filesystem_of(&std::env::temp_dir().join("does/not/exist/yet")).unwrap();
        assert!(!fs.fs_type().is_empty());
        assert!(fs.mount_point().is_absolute());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = MountTable::parse(&text, "fuzz");
        }

        #[test]
        fn escaped_mount_points_round_trip(name in proptest::collection::vec(1u8..=255, 1..40)) {
            let name: Vec<u8> = name.into_iter().filter(|&b| b != b'/').collect();
            proptest::prop_assume!(!name.is_empty());
            let mut escaped = Vec::new();
            for &b in &name {
                if matches!(b, b' ' | b'\t' | b'\n' | b'\\') {
                    escaped.extend(format!("\\{b:03o}").bytes());
                } else {
                    escaped.push(b);
                }
            }
            let mut line = b"1 0 0:1 / /m/".to_vec();
            line.extend(&escaped);
            line.extend(b" rw - nfs h:/ rw\n");
            let table = MountTable::parse(&line, "p").unwrap();
            let mut expected = b"/m/".to_vec();
            expected.extend(&name);
            proptest::prop_assert_eq!(table.mounts()[0].mount_point().as_os_str().as_bytes(), &expected[..]);
        }
    }
}
