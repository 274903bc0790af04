//! Dropping a watch closes its descriptor (alone in its process, so that
//! no other test can reuse the descriptor number meanwhile).
#![cfg(has_kqueue)]

use std::fs;
use std::os::fd::AsRawFd;

use kqueue::{Kqueue, Token, VnodeEvents, VnodeOptions};
use test_support::TempDir;

fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads descriptor flags; on a closed descriptor it
    // fails with EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[test]
fn dropping_a_watch_deletes_its_registration_and_closes_its_descriptor() {
    let dir = TempDir::new("drop");
    let path = dir.join("file");
    fs::write(&path, b"x").unwrap();
    let kq = Kqueue::new().unwrap();
    let watch = kq
        .watch_vnode(&path, VnodeOptions::new(), VnodeEvents::classic(), Token(1))
        .unwrap();
    let fd = watch.as_raw_fd();
    let change = watch.change(VnodeEvents::classic(), Token(1));
    assert!(is_open(fd));
    assert_eq!(watch.link_count().unwrap(), 1);
    fs::hard_link(&path, dir.join("second")).unwrap();
    assert_eq!(watch.link_count().unwrap(), 2);
    fs::remove_file(dir.join("second")).unwrap();
    fs::remove_file(&path).unwrap();
    assert_eq!(watch.link_count().unwrap(), 0, "deleted, but still open");
    fs::write(&path, b"y").unwrap();

    drop(watch);
    assert!(!is_open(fd), "descriptor {fd} is still open");
    // The registration is gone too: deleting it again finds nothing (the
    // descriptor is closed, so the kernel reports EBADF or ENOENT).
    let err = kq.apply_one(change.to_delete()).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            kqueue::ErrorKind::NotFound | kqueue::ErrorKind::BadDescriptor
        ),
        "{err}"
    );

    // A watch that outlives its kqueue still closes its descriptor.
    let watch = kq
        .watch_vnode(&path, VnodeOptions::new(), VnodeEvents::classic(), Token(2))
        .unwrap();
    let fd = watch.as_raw_fd();
    drop(kq);
    drop(watch);
    assert!(!is_open(fd));
}
