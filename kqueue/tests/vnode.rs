//! EVFILT_VNODE behaviour on a real kqueue (BSD, macOS, or libkqueue).
#![cfg(has_kqueue)]

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use common::wait_for_notes;
use kqueue::{ErrorKind, Kqueue, Token, VnodeEvents, VnodeOptions};
use test_support::TempDir;

const T: Token = Token(7);

fn watched_file(tag: &str) -> (TempDir, std::path::PathBuf, Kqueue, kqueue::VnodeWatch) {
    let dir = TempDir::new(tag);
    let path = dir.join("file");
    fs::write(&path, b"hello").unwrap();
    let kq = Kqueue::new().unwrap();
    let watch = kq
        .watch_vnode(&path, VnodeOptions::new(), VnodeEvents::classic(), T)
        .unwrap();
    (dir, path, kq, watch)
}

#[test]
fn overwrite_reports_write() {
    let (_dir, path, kq, _watch) = watched_file("write");
    let mut f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all(b"HELLO").unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::WRITE);
    assert!(seen[&T].contains(VnodeEvents::WRITE), "{seen:?}");
}

#[test]
fn append_reports_extend() {
    let (_dir, path, kq, _watch) = watched_file("extend");
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b" world").unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::EXTEND);
    assert!(seen[&T].contains(VnodeEvents::EXTEND), "{seen:?}");
}

#[test]
fn chmod_reports_attrib() {
    let (_dir, path, kq, _watch) = watched_file("attrib");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::ATTRIB);
    assert!(seen[&T].contains(VnodeEvents::ATTRIB), "{seen:?}");
}

#[test]
fn rename_reports_rename() {
    let (dir, path, kq, _watch) = watched_file("rename");
    fs::rename(&path, dir.join("moved")).unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::RENAME);
    assert!(seen[&T].contains(VnodeEvents::RENAME), "{seen:?}");
}

#[test]
fn unlink_reports_delete() {
    let (_dir, path, kq, _watch) = watched_file("delete");
    fs::remove_file(&path).unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::DELETE);
    assert!(seen[&T].contains(VnodeEvents::DELETE), "{seen:?}");
}

#[test]
fn hard_link_reports_link() {
    let (dir, path, kq, _watch) = watched_file("link");
    fs::hard_link(&path, dir.join("second-name")).unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::LINK);
    assert!(seen[&T].contains(VnodeEvents::LINK), "{seen:?}");
}

#[test]
fn directory_reports_write_when_an_entry_is_added_and_removed() {
    let dir = TempDir::new("dir");
    let kq = Kqueue::new().unwrap();
    let _watch = kq
        .watch_vnode(
            dir.path(),
            VnodeOptions::new().directory(true),
            VnodeEvents::classic(),
            T,
        )
        .unwrap();

    fs::write(dir.join("new-entry"), b"x").unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::WRITE);
    assert!(
        seen[&T].contains(VnodeEvents::WRITE),
        "after create: {seen:?}"
    );

    fs::remove_file(dir.join("new-entry")).unwrap();
    let seen = wait_for_notes(&kq, T, VnodeEvents::WRITE);
    assert!(
        seen[&T].contains(VnodeEvents::WRITE),
        "after remove: {seen:?}"
    );
}

#[test]
fn opening_a_missing_path_names_it() {
    let dir = TempDir::new("missing");
    let kq = Kqueue::new().unwrap();
    let missing = dir.join("nope");
    let err = kq
        .watch_vnode(&missing, VnodeOptions::new(), VnodeEvents::classic(), T)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.path(), Some(missing.as_path()));
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn no_follow_refuses_a_symlink() {
    let dir = TempDir::new("nofollow");
    fs::write(dir.join("target"), b"x").unwrap();
    std::os::unix::fs::symlink(dir.join("target"), dir.join("link")).unwrap();
    let kq = Kqueue::new().unwrap();
    let err = kqueue::VnodeWatch::open(&kq, dir.join("link"), VnodeOptions::new().no_follow(true))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IsSymlink, "{err}");
    // Following is the default.
    assert!(kqueue::VnodeWatch::open(&kq, dir.join("link"), VnodeOptions::new()).is_ok());
}

#[test]
fn directory_option_refuses_a_file() {
    let dir = TempDir::new("notdir");
    fs::write(dir.join("file"), b"x").unwrap();
    let kq = Kqueue::new().unwrap();
    let err = kqueue::VnodeWatch::open(&kq, dir.join("file"), VnodeOptions::new().directory(true))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotADirectory, "{err}");
}

#[test]
fn a_fifo_opens_without_blocking() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let kq = Kqueue::new().unwrap();
    // Would block forever without O_NONBLOCK (no writer).
    let watch = kqueue::VnodeWatch::open(&kq, &fifo, VnodeOptions::new());
    assert!(watch.is_ok(), "{watch:?}");
}
