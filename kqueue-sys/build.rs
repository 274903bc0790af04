//! Links libkqueue when the `libkqueue` feature is on and the target has no
//! kernel kqueue. The library is located with the `pkg-config` command (honouring
//! `PKG_CONFIG` and `PKG_CONFIG_PATH`); without it, a plain `-lkqueue` is emitted.

use std::env;
use std::process::Command;

#[path = "platform.rs"]
mod platform;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_SYSROOT_DIR");

    println!("cargo::rerun-if-changed=platform.rs");
    if !platform::Platform::detect().userspace_kqueue {
        return;
    }

    let pkg_config = env::var_os("PKG_CONFIG").unwrap_or_else(|| "pkg-config".into());
    let output = Command::new(&pkg_config)
        .args(["--libs", "libkqueue"])
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let libs = String::from_utf8_lossy(&out.stdout);
            let mut linked = false;
            for token in libs.split_whitespace() {
                if let Some(dir) = token.strip_prefix("-L") {
                    println!("cargo::rustc-link-search=native={dir}");
                } else if let Some(lib) = token.strip_prefix("-l") {
                    println!("cargo::rustc-link-lib={lib}");
                    linked |= lib == "kqueue";
                }
            }
            if !linked {
                println!("cargo::rustc-link-lib=kqueue");
            }
        }
        Ok(_) | Err(_) => {
            println!(
                "cargo::warning=pkg-config does not know libkqueue; linking with a plain -lkqueue \
                 (set PKG_CONFIG_PATH to the directory holding libkqueue.pc to use a private install)"
            );
            println!("cargo::rustc-link-lib=kqueue");
        }
    }
}
