//! `cargo xtask check-targets`: type-check the platform crates for every
//! target we claim, from a Linux x86_64 host.
//!
//! The host toolchain ships only its own std, so this uses Debian's
//! `rustc-web`/`cargo-web`/`rust-web-src` (a rustc with std's sources) and
//! `-Zbuild-std`. `cargo check` evaluates constants, so the `-sys` crates'
//! compile-time layout assertions against libc run for each target here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::Result;
use crate::workspace::{self, Member, relative, seconds};

/// A set of targets and the packages checked for each.
struct Group {
    targets: &'static [&'static str],
    packages: &'static [&'static str],
}

const GROUPS: &[Group] = &[
    Group {
        targets: &[
            "x86_64-apple-darwin",
            "aarch64-apple-darwin",
            "x86_64-unknown-freebsd",
            "x86_64-unknown-openbsd",
            "x86_64-unknown-netbsd",
            "x86_64-unknown-dragonfly",
        ],
        packages: &["kqueue-sys", "kqueue", "watch-core"],
    },
    Group {
        // The 32-bit target catches layout mistakes hidden by 64-bit padding.
        targets: &[
            "i686-unknown-linux-gnu",
            "aarch64-unknown-linux-gnu",
            "x86_64-unknown-linux-musl",
        ],
        packages: &["inotify-sys", "inotify", "watch-core"],
    },
];

/// Debian's toolchain with std sources, and the packages that provide it.
const CROSS_CARGO: &str = "/usr/bin/cargo";
const CROSS_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src"];

const USAGE: &str = "usage: cargo xtask check-targets [--list] [--target TRIPLE]...";

/// Entry point of `cargo xtask check-targets`.
pub fn main(args: &[String]) -> Result {
    let mut only: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => {
                for group in GROUPS {
                    for target in group.targets {
                        println!("{target}: {}", group.packages.join(", "));
                    }
                }
                return Ok(());
            }
            "--target" => {
                let target = args.next().ok_or(USAGE)?;
                if !GROUPS.iter().any(|g| g.targets.contains(&target.as_str())) {
                    return Err(format!("`{target}` is not a target we check (see --list)").into());
                }
                only.push(target);
            }
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}").into()),
        }
    }

    ensure_cross_toolchain()?;
    let root = workspace::root();
    let members = workspace::members(&root)?;
    let target_dir = root.join("target").join("check-targets");
    let log_dir = target_dir.join("logs");
    std::fs::create_dir_all(&log_dir)
        .map_err(|e| format!("cannot create {}: {e}", log_dir.display()))?;

    let mut failed = 0;
    let mut checked = 0;
    for group in GROUPS {
        let specs = package_specs(&members, group.packages)?;
        for &target in group.targets {
            if !only.is_empty() && !only.contains(&target) {
                continue;
            }
            checked += 1;
            let log = log_dir.join(format!("{target}.log"));
            let start = Instant::now();
            let outcome = check(&root, &target_dir, target, &specs, &log)?;
            let elapsed = seconds(start.elapsed());
            match outcome {
                None => println!(
                    "{target:<26} ok      {elapsed:>7}  ({})",
                    group.packages.join(", ")
                ),
                Some(error) => {
                    failed += 1;
                    println!("{target:<26} FAILED  {elapsed:>7}  {error}");
                }
            }
        }
    }
    if failed > 0 {
        return Err(format!(
            "{failed} of {checked} targets failed; full output in {}",
            relative(&log_dir, &root).display()
        )
        .into());
    }
    Ok(())
}

/// Runs the check for one target; `Ok(None)` when it passes, `Ok(Some(first
/// error line))` when it fails. The full output goes to `log`.
fn check(
    root: &Path,
    target_dir: &Path,
    target: &str,
    specs: &[String],
    log: &Path,
) -> Result<Option<String>> {
    let mut command = Command::new(CROSS_CARGO);
    command
        .current_dir(root)
        .env("RUSTC", CROSS_RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        // Whatever toolchain runs xtask must not leak into Debian's cargo.
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .args([
            "check",
            "-Zbuild-std=core,alloc,std",
            "--message-format=short",
        ])
        .args(["--target", target])
        .arg("--target-dir")
        .arg(target_dir);
    for spec in specs {
        command.args(["-p", spec]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", workspace::display(&command)))?;
    let mut text = format!("$ {}\n", workspace::display(&command));
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    std::fs::write(log, &text).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    if output.status.success() {
        return Ok(None);
    }
    Ok(Some(first_error(&text, root).unwrap_or_else(|| {
        format!("cargo check failed ({}) with no error line", output.status)
    })))
}

/// The first error line of cargo's short-format output, with paths made
/// relative to the workspace.
fn first_error(output: &str, root: &Path) -> Option<String> {
    let root = format!("{}/", root.display());
    output
        .lines()
        .find(|line| line.starts_with("error") || line.contains(": error"))
        .map(|line| line.replace(&root, ""))
}

/// Package specs for `names`: the members' package ids, which stay
/// unambiguous when a published crate of the same name (e.g. `inotify` as a
/// renamed dev-dependency of `benches`) is also in the dependency graph.
fn package_specs(members: &[Member], names: &[&str]) -> Result<Vec<String>> {
    names
        .iter()
        .map(|name| {
            members
                .iter()
                .find(|m| m.name == *name)
                .map(|m| m.id.clone())
                .ok_or_else(|| format!("workspace has no member `{name}`").into())
        })
        .collect()
}

/// Installs Debian's toolchain with std sources when any part is missing.
fn ensure_cross_toolchain() -> Result {
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if !missing.is_empty() {
        println!("check-targets: installing {}", missing.join(" "));
        let hint = format!(
            "install them as root: apt-get update && apt-get install -y {}",
            missing.join(" ")
        );
        workspace::run(Command::new("apt-get").args(["update", "-q"]))
            .map_err(|e| format!("{e}; {hint}"))?;
        workspace::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-q"])
                .args(&missing),
        )
        .map_err(|e| format!("{e}; {hint}"))?;
    }
    for tool in [CROSS_CARGO, CROSS_RUSTC] {
        if !PathBuf::from(tool).is_file() {
            return Err(format!(
                "{tool} is missing although {} are installed",
                DEBIAN_PACKAGES.join(", ")
            )
            .into());
        }
    }
    Ok(())
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.ends_with(b"install ok installed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TempDir;

    #[test]
    fn every_claimed_target_checks_watch_core() {
        let targets: Vec<&str> = GROUPS
            .iter()
            .flat_map(|g| g.targets.iter().copied())
            .collect();
        assert_eq!(targets.len(), 9);
        assert!(GROUPS.iter().all(|g| g.packages.contains(&"watch-core")));
    }

    #[test]
    fn first_error_skips_warnings_and_strips_the_root() {
        let output = "   Compiling libc v0.2.177\n\
            /ws/kqueue-sys/src/lib.rs:3:1: warning: unused import\n\
            /ws/kqueue-sys/src/lib.rs:9:1: error[E0080]: evaluation panicked\n\
            error: could not compile `kqueue-sys`\n";
        assert_eq!(
            first_error(output, Path::new("/ws")).as_deref(),
            Some("kqueue-sys/src/lib.rs:9:1: error[E0080]: evaluation panicked")
        );
        assert_eq!(first_error("Finished\n", Path::new("/ws")), None);
    }

    #[test]
    fn unknown_member_is_an_error() {
        let error = package_specs(&[], &["kqueue"]).unwrap_err();
        assert!(error.to_string().contains("no member `kqueue`"));
    }

    /// The name `inotify` becomes ambiguous once a published `inotify` is a
    /// (renamed) dependency; the specs we pass must still pick our member.
    #[test]
    fn package_specs_stay_unambiguous_beside_a_same_named_dependency() {
        let dir = TempDir::new("specs");
        let package = |name: &str, version: &str, extra: &str| {
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2024\"\n{extra}"
            )
        };
        dir.write(
            "ws/Cargo.toml",
            "[workspace]\nresolver = \"3\"\nmembers = [\"inotify\", \"benches\"]\n",
        );
        dir.write("ws/inotify/Cargo.toml", &package("inotify", "0.1.0", ""));
        dir.write("ws/inotify/src/lib.rs", "");
        dir.write(
            "ws/benches/Cargo.toml",
            &package(
                "benches",
                "0.1.0",
                "[dev-dependencies]\npeer-inotify = { package = \"inotify\", path = \"../../peer\" }\n",
            ),
        );
        dir.write("ws/benches/src/lib.rs", "");
        dir.write("peer/Cargo.toml", &package("inotify", "0.11.5", ""));
        dir.write("peer/src/lib.rs", "");
        let ws = dir.path().join("ws");
        let cargo = |args: &[&str]| {
            workspace::cargo()
                .args(args)
                .arg("--offline")
                .env("CARGO_TARGET_DIR", dir.path().join("target"))
                .current_dir(&ws)
                .output()
                .expect("run cargo")
        };

        assert!(cargo(&["generate-lockfile"]).status.success());
        let plain = cargo(&["pkgid", "inotify"]);
        assert!(
            !plain.status.success(),
            "the fixture must make the name ambiguous"
        );
        assert!(String::from_utf8_lossy(&plain.stderr).contains("ambiguous"));

        let members = workspace::members(&ws).expect("cargo metadata");
        let specs = package_specs(&members, &["inotify"]).expect("specs");
        let pkgid = cargo(&["pkgid", &specs[0]]);
        assert!(
            pkgid.status.success(),
            "{}",
            String::from_utf8_lossy(&pkgid.stderr)
        );
        let id = String::from_utf8_lossy(&pkgid.stdout);
        assert!(id.contains("0.1.0") && !id.contains("0.11.5"), "{id}");
        let check = cargo(&["check", "-p", &specs[0]]);
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(check.status.success(), "{stderr}");
        assert!(stderr.contains("Checking inotify v0.1.0"), "{stderr}");
        assert!(!stderr.contains("v0.11.5"), "{stderr}");
    }
}
