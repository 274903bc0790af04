//! `Inotify::wait_for` with a descriptor watched for priority data: a TCP
//! socket that received urgent (out-of-band) data reports `POLLPRI`, the
//! same readiness `/proc/self/mountinfo` reports after a mount change.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use inotify::{Inotify, Readiness};

/// A connected pair of loopback sockets.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

#[test]
fn priority_data_ends_the_wait_and_ordinary_data_does_not() {
    let ino = Inotify::init().unwrap();
    let (mut client, server) = pair();
    // Nothing yet: a timeout, every flag false.
    let ready = ino
        .wait_for(None, Some(server.as_fd()), Some(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(ready, Readiness::default());
    // Ordinary data makes the socket readable, which is not asked for.
    client.write_all(b"plain").unwrap();
    let ready = ino
        .wait_for(None, Some(server.as_fd()), Some(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(ready, Readiness::default());
    // Urgent data: POLLPRI.
    // SAFETY: a connected socket we own, and a one-byte buffer that lives
    // for the call.
    let sent = unsafe { libc::send(client.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(sent, 1, "{}", std::io::Error::last_os_error());
    let ready = ino
        .wait_for(None, Some(server.as_fd()), Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(
        ready,
        Readiness {
            events: false,
            woken: false,
            priority: true
        }
    );
}

#[test]
fn the_mount_table_is_a_priority_descriptor_that_starts_quiet() {
    let ino = Inotify::init().unwrap();
    let Ok(mounts) = std::fs::File::open("/proc/self/mountinfo") else {
        println!("SKIP: /proc/self/mountinfo cannot be opened here");
        return;
    };
    // No change since it was opened: only the instance counts.
    let ready = ino
        .wait_for(None, Some(mounts.as_fd()), Some(Duration::ZERO))
        .unwrap();
    assert!(!ready.priority, "{ready:?}");
}
