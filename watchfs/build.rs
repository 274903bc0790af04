//! Records the commit watchfs is built from, for `--version` and the
//! `watchfs_build_info` metric: `WATCHFS_REVISION` from the environment if
//! set (for builds from a source archive), else `git rev-parse`, else
//! `unknown` (not a git checkout, or no git).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=WATCHFS_REVISION");
    let from_env = std::env::var("WATCHFS_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty());
    let revision = from_env
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // Build again when HEAD moves: HEAD itself (a branch switch or a
    // detached checkout) and the branch it points to (a commit).
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!(
            "cargo:rerun-if-changed={}",
            Path::new(&git_dir).join("HEAD").display()
        );
        if let (Some(common), Some(reference)) = (
            git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]),
            git(&["symbolic-ref", "-q", "HEAD"]),
        ) {
            let common = Path::new(&common);
            println!(
                "cargo:rerun-if-changed={}",
                common.join(&reference).display()
            );
            println!(
                "cargo:rerun-if-changed={}",
                common.join("packed-refs").display()
            );
        }
    }
    println!("cargo:rustc-env=WATCHFS_REVISION={revision}");
}
