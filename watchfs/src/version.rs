//! The version and the commit this binary was built from (see `build.rs`).

/// The commit (12 hex digits), or `unknown` outside a git checkout.
pub const REVISION: &str = env!("WATCHFS_REVISION");

/// What `--version` prints after the name: `0.1.0 (commit 0123456789ab)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("WATCHFS_REVISION"),
    ")"
);
