//! The platform matrix, as one table: which kernel interfaces each target
//! has, turned into short `cfg` aliases for the crate being built.
//!
//! This file is the only place outside the `-sys` crates that names the
//! kqueue systems one by one. Each crate that branches on the platform has a
//! `platform.rs` link to it, which its build script loads with
//! `#[path = "platform.rs"] mod platform;`, so a packaged crate carries its
//! own copy and builds on its own.
//!
//! Aliases (each also declared to `check-cfg`, so a typo is a warning):
//!
//! | alias | holds when |
//! |---|---|
//! | `linux_kernel` | the target runs a Linux kernel (Linux, Android): inotify |
//! | `kernel_kqueue` | the target's kernel has kqueue (Apple, FreeBSD, OpenBSD, NetBSD, DragonFly) |
//! | `userspace_kqueue` | the `libkqueue` feature is on and the kernel has no kqueue: kqueue comes from the libkqueue library |
//! | `has_kqueue` | `kernel_kqueue` or `userspace_kqueue`: the kqueue API (and watch-core's kqueue backend) is compiled in |
//! | `kqueue_impl = "..."` | with `has_kqueue`, whose kqueue it is: `"apple"`, `"freebsd"`, `"openbsd"`, `"netbsd"`, `"dragonfly"` or `"libkqueue"` |

use std::env;

/// Vendors all of whose systems have a kernel kqueue.
const KQUEUE_VENDORS: &[&str] = &["apple"];

/// Other operating systems whose kernel has kqueue.
const KQUEUE_OSES: &[&str] = &["freebsd", "openbsd", "netbsd", "dragonfly"];

/// Operating systems running a Linux kernel (and so inotify).
const LINUX_KERNEL_OSES: &[&str] = &["linux", "android"];

/// Every alias this file may emit.
const ALIASES: &[&str] = &[
    "linux_kernel",
    "kernel_kqueue",
    "userspace_kqueue",
    "has_kqueue",
];

/// The values of `kqueue_impl`: each kernel kqueue, then the library.
const KQUEUE_IMPLS: &[&str] = &[
    "apple",
    "freebsd",
    "openbsd",
    "netbsd",
    "dragonfly",
    "libkqueue",
];

/// The platform facts of the target being built for.
#[allow(dead_code)] // each build script reads the facts it needs
pub struct Platform {
    /// The target runs a Linux kernel.
    pub linux_kernel: bool,
    /// The target's kernel has kqueue.
    pub kernel_kqueue: bool,
    /// The `libkqueue` feature is on and the kernel has no kqueue.
    pub userspace_kqueue: bool,
    /// Whose kqueue the kqueue API talks to (one of [`KQUEUE_IMPLS`]), if any.
    pub kqueue_impl: Option<String>,
}

impl Platform {
    /// Reads the target from the variables cargo gives a build script, and
    /// the crate's `libkqueue` feature.
    pub fn detect() -> Platform {
        let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
        let vendor = env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
        let libkqueue = env::var_os("CARGO_FEATURE_LIBKQUEUE").is_some();
        let kernel_kqueue =
            KQUEUE_VENDORS.contains(&vendor.as_str()) || KQUEUE_OSES.contains(&os.as_str());
        let userspace_kqueue = libkqueue && !kernel_kqueue;
        let kqueue_impl = if KQUEUE_VENDORS.contains(&vendor.as_str()) {
            Some(vendor)
        } else if kernel_kqueue {
            Some(os.clone())
        } else if userspace_kqueue {
            Some("libkqueue".to_string())
        } else {
            None
        };
        Platform {
            linux_kernel: LINUX_KERNEL_OSES.contains(&os.as_str()),
            kernel_kqueue,
            userspace_kqueue,
            kqueue_impl,
        }
    }

    /// Prints the aliases that hold (`cargo::rustc-cfg`) and declares all of
    /// them (`cargo::rustc-check-cfg`).
    #[allow(dead_code)] // not every build script sets aliases
    pub fn emit_aliases(&self) {
        println!("cargo::rerun-if-changed=platform.rs");
        for alias in ALIASES {
            println!("cargo::rustc-check-cfg=cfg({alias})");
        }
        let impls: Vec<String> = KQUEUE_IMPLS.iter().map(|i| format!("\"{i}\"")).collect();
        println!(
            "cargo::rustc-check-cfg=cfg(kqueue_impl, values({}))",
            impls.join(", ")
        );
        if let Some(imp) = &self.kqueue_impl {
            println!("cargo::rustc-cfg=kqueue_impl=\"{imp}\"");
        }
        let holds = [
            ("linux_kernel", self.linux_kernel),
            ("kernel_kqueue", self.kernel_kqueue),
            ("userspace_kqueue", self.userspace_kqueue),
            ("has_kqueue", self.kernel_kqueue || self.userspace_kqueue),
        ];
        for (alias, on) in holds {
            if on {
                println!("cargo::rustc-cfg={alias}");
            }
        }
    }
}
