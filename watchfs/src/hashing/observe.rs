//! Reading what a path holds now: a bounded hash of a regular file, the
//! type of anything else, never a blocking open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{Stamp, State};

/// Reads what `path` holds now (through symlinks), reading at most `cap`
/// bytes of a regular file and nothing of anything else.
pub fn observe(path: &Path, cap: u64) -> State {
    match fs::metadata(path) {
        Err(e) if is_absent(&e) => State::Missing,
        Err(e) => State::Unreadable(format!("{:?}", e.kind())),
        Ok(meta) if meta.is_dir() => State::Dir,
        Ok(meta) if !meta.is_file() => State::Special(special_kind(&meta).into()),
        Ok(_) => match read_file(path, cap) {
            Ok(state) => state,
            Err(e) if is_absent(&e) => State::Missing,
            Err(e) => State::Unreadable(format!("{:?}", e.kind())),
        },
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn special_kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "char device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "other"
    }
}

/// Opens `path` without blocking (a FIFO swapped in after the type check
/// must not hang us), checks on the descriptor that it is a regular file,
/// and hashes at most `cap` bytes.
pub(super) fn read_file(path: &Path, cap: u64) -> io::Result<State> {
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY;
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(State::Special(special_kind(&meta).into()));
    }
    let stamp = Stamp::of(&meta);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    let mut limited = file.take(cap.saturating_add(1));
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += n as u64;
        if len > cap {
            return Ok(State::File {
                len: meta.len().max(len),
                digest: None,
                stamp,
            });
        }
        hasher.update(&buf[..n]);
    }
    Ok(State::File {
        len,
        digest: Some(hasher.finalize().into()),
        stamp,
    })
}
