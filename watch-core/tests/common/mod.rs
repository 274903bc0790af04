//! Fixtures of watch-core's behaviour tests: the backends this build runs
//! and a privilege probe. Temp dirs, tree scans, folding events onto a tree
//! model and draining a watcher come from `test-support`.
#![allow(dead_code)] // each test binary uses a different part

use std::fs;
use std::path::Path;

use watch_core::Backend;

/// The backends this build can run.
pub fn backends() -> Vec<Backend> {
    [Backend::Inotify, Backend::Kqueue, Backend::Poll]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
}

/// Whether permission bits fail to deny us (root, or CAP_DAC_OVERRIDE).
pub fn privileged(scratch: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = scratch.join(".privilege-probe");
    let _ = fs::create_dir(&probe);
    let _ = fs::set_permissions(&probe, fs::Permissions::from_mode(0o000));
    let readable = fs::read_dir(&probe).is_ok();
    let _ = fs::set_permissions(&probe, fs::Permissions::from_mode(0o755));
    let _ = fs::remove_dir(&probe);
    readable
}
