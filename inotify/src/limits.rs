//! Reading the kernel limits that inotify errors name.

use crate::error::Limit;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod names {
    pub const MAX_USER_WATCHES: &str = "fs.inotify.max_user_watches";
    pub const MAX_USER_INSTANCES: &str = "fs.inotify.max_user_instances";
    pub const MAX_QUEUED_EVENTS: &str = "fs.inotify.max_queued_events";
    pub const FILE_MAX: &str = "fs.file-max";
}

#[cfg(target_os = "freebsd")]
mod names {
    pub const MAX_USER_WATCHES: &str = "vfs.inotify.max_user_watches";
    pub const MAX_USER_INSTANCES: &str = "vfs.inotify.max_user_instances";
    pub const MAX_QUEUED_EVENTS: &str = "vfs.inotify.max_queued_events";
    pub const FILE_MAX: &str = "kern.maxfiles";
}

/// Reads a numeric sysctl; `None` if it cannot be read.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sysctl(name: &str) -> Option<u64> {
    let mut path = String::with_capacity(10 + name.len());
    path.push_str("/proc/sys/");
    path.extend(name.chars().map(|c| if c == '.' { '/' } else { c }));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads a numeric sysctl; `None` if it cannot be read.
#[cfg(target_os = "freebsd")]
fn sysctl(name: &str) -> Option<u64> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: `cname` is NUL-terminated, `value`/`len` describe a writable
    // c_int, and no new value is passed (null, 0).
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            (&raw mut value).cast(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    (rc == 0 && len == std::mem::size_of::<libc::c_int>())
        .then(|| u64::try_from(value).ok())
        .flatten()
}

/// Current per-user watch limit (`fs.inotify.max_user_watches` on Linux,
/// `vfs.inotify.max_user_watches` on FreeBSD), if readable.
pub fn max_user_watches() -> Option<u64> {
    sysctl(names::MAX_USER_WATCHES)
}

/// Current per-user instance limit (`fs.inotify.max_user_instances` on Linux,
/// `vfs.inotify.max_user_instances` on FreeBSD), if readable.
pub fn max_user_instances() -> Option<u64> {
    sysctl(names::MAX_USER_INSTANCES)
}

/// Current per-instance event queue length (`fs.inotify.max_queued_events`
/// on Linux, `vfs.inotify.max_queued_events` on FreeBSD), if readable. When
/// the queue is full, one [`Event::Overflow`](crate::Event::Overflow) is
/// queued and further events are dropped.
pub fn max_queued_events() -> Option<u64> {
    sysctl(names::MAX_QUEUED_EVENTS)
}

pub(crate) fn watch_limit() -> Limit {
    Limit {
        name: names::MAX_USER_WATCHES,
        value: max_user_watches(),
        hint: "raise it with `sysctl -w <name>=<n>` (and persist it in sysctl.conf), \
               or watch fewer directories",
    }
}

pub(crate) fn instance_limit() -> Limit {
    Limit {
        name: names::MAX_USER_INSTANCES,
        value: max_user_instances(),
        hint: "raise it with `sysctl -w <name>=<n>`, or close unused inotify instances \
               (each watcher process holds at least one)",
    }
}

pub(crate) fn process_fd_limit() -> Limit {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    // rlim_t is unsigned on Linux but signed on FreeBSD.
    #[allow(clippy::useless_conversion)]
    let value = (rc == 0).then(|| u64::try_from(rl.rlim_cur).ok()).flatten();
    Limit {
        name: "RLIMIT_NOFILE",
        value,
        hint: "raise the soft limit (`ulimit -n <n>`, setrlimit) or close unused descriptors",
    }
}

pub(crate) fn system_fd_limit() -> Limit {
    Limit {
        name: names::FILE_MAX,
        value: sysctl(names::FILE_MAX),
        hint: "the system-wide open file table is full; raise it with `sysctl -w <name>=<n>`",
    }
}
