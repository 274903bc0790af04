//! Running out of descriptors is a typed error naming RLIMIT_NOFILE and its
//! value (alone in its process: it lowers the process's limit).
#![cfg(has_kqueue)]

use std::fs;

use kqueue::{ErrorKind, Kqueue, VnodeOptions, VnodeWatch};
use test_support::TempDir;

fn nofile() -> libc::rlimit {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    rl
}

fn set_nofile(rl: &libc::rlimit) {
    // SAFETY: `rl` is a valid rlimit; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, rl) }, 0);
}

#[test]
fn emfile_names_the_limit_and_the_path() {
    let dir = TempDir::new("emfile");
    let path = dir.join("file");
    fs::write(&path, b"x").unwrap();
    let kq = Kqueue::new().unwrap();

    let saved = nofile();
    let mut low = saved;
    low.rlim_cur = 64;
    set_nofile(&low);
    assert_eq!(kqueue::fd_limit(), Some(64));

    let mut watches = Vec::new();
    let err = loop {
        match VnodeWatch::open(&kq, &path, VnodeOptions::new()) {
            Ok(w) => watches.push(w),
            Err(err) => break err,
        }
        assert!(
            watches.len() <= 64,
            "the limit of 64 descriptors was not enforced"
        );
    };
    let kq_err = Kqueue::new().unwrap_err();
    drop(watches);
    set_nofile(&saved);

    assert_eq!(err.kind(), ErrorKind::FdLimit, "{err}");
    assert_eq!(err.fd_limit(), Some(64));
    assert_eq!(err.path(), Some(path.as_path()));
    let msg = err.to_string();
    assert!(msg.contains("RLIMIT_NOFILE") && msg.contains("64"), "{msg}");
    assert_eq!(kq_err.kind(), ErrorKind::FdLimit, "{kq_err}");
}
