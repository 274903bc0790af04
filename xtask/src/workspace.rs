//! Shared helpers: where the workspace is, what its members are, and how to
//! run a command with a clear message when it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Result;

/// The workspace root (the directory above `xtask/`).
pub fn root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// One workspace member, as `cargo metadata` describes it.
#[derive(Clone, Debug)]
pub struct Member {
    /// The package name, e.g. `inotify-sys`.
    pub name: String,
    /// The package id: a package spec that stays unambiguous when a
    /// dependency of the same name is also in the graph.
    pub id: String,
    /// The directory holding the member's `Cargo.toml`.
    pub dir: PathBuf,
}

/// Lists the members of the workspace rooted at `root`, in manifest order.
pub fn members(root: &Path) -> Result<Vec<Member>> {
    let output = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run `cargo metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` failed in {}:\n{}",
            root.display(),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    parse_members(&output.stdout)
}

fn parse_members(json: &[u8]) -> Result<Vec<Member>> {
    let metadata: serde_json::Value = serde_json::from_slice(json)?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("`cargo metadata` output has no `packages` array")?;
    let mut members = Vec::new();
    for package in packages {
        let field = |key: &str| {
            package[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`cargo metadata`: a package has no string `{key}`"))
        };
        let manifest = PathBuf::from(field("manifest_path")?);
        let dir = manifest
            .parent()
            .ok_or("`cargo metadata`: manifest path has no parent")?
            .to_path_buf();
        members.push(Member {
            name: field("name")?,
            id: field("id")?,
            dir,
        });
    }
    Ok(members)
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/` below `root`).
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("target"),
    }
}

/// A `cargo` command: the cargo that runs us (so the toolchain stays the same).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command` with inherited stdio; fails with the command line and its
/// exit status when it does not succeed.
pub fn run(command: &mut Command) -> Result {
    let status = command
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", display(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", display(command)).into())
    }
}

/// A command line as a user would type it (program name without its directory).
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// `path` relative to `base` when it is inside it, for short messages.
pub fn relative<'p>(path: &'p Path, base: &Path) -> &'p Path {
    path.strip_prefix(base).unwrap_or(path)
}

/// Seconds with one decimal, e.g. `41.3s`.
pub fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_of_this_workspace_include_every_layer() {
        let members = members(&root()).expect("cargo metadata");
        let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        for expected in [
            "inotify-sys",
            "kqueue-sys",
            "inotify",
            "kqueue",
            "watch-core",
            "xtask",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let xtask = members.iter().find(|m| m.name == "xtask").expect("xtask");
        assert_eq!(xtask.dir, root().join("xtask"));
    }

    #[test]
    fn display_shows_program_name_and_args() {
        let mut command = Command::new("/usr/bin/cargo");
        command.args(["check", "-p", "x"]);
        assert_eq!(display(&command), "cargo check -p x");
    }
}
