//! Figures that criterion does not record (percentiles, lost changes,
//! memory), written where `cargo xtask bench` reads them.
//!
//! One file per bench binary, `<target>/criterion/watchfs/<bench>.tsv`, one
//! line per figure: `group<TAB>implementation<TAB>parameter<TAB>metric<TAB>value`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

/// Where [`Results`] files go, relative to the cargo target directory.
pub const RESULTS_DIR: &str = "criterion/watchfs";

/// The result file of one bench binary, truncated when created.
#[derive(Debug)]
pub struct Results {
    file: File,
}

impl Results {
    /// Creates (or truncates) the result file of the bench named `bench`.
    pub fn create(bench: &str) -> io::Result<Results> {
        let dir = target_dir().join(RESULTS_DIR);
        fs::create_dir_all(&dir)?;
        let file = File::create(dir.join(format!("{bench}.tsv")))?;
        Ok(Results { file })
    }

    /// Appends one figure and flushes it, so a later crash keeps it.
    pub fn record(
        &mut self,
        group: &str,
        implementation: &str,
        parameter: &str,
        metric: &str,
        value: f64,
    ) -> io::Result<()> {
        writeln!(
            self.file,
            "{group}\t{implementation}\t{parameter}\t{metric}\t{value}"
        )?;
        self.file.flush()
    }

    /// Records a ratio timed side by side against `reference`: its median
    /// as `paired_ratio_vs_<reference>`, its quartiles (the noise) as
    /// `paired_q1_vs_<reference>` and `paired_q3_vs_<reference>`.
    pub fn record_paired(
        &mut self,
        group: &str,
        implementation: &str,
        parameter: &str,
        reference: &str,
        [q1, median, q3]: [f64; 3],
    ) -> io::Result<()> {
        for (metric, value) in [("ratio", median), ("q1", q1), ("q3", q3)] {
            let metric = format!("paired_{metric}_vs_{reference}");
            self.record(group, implementation, parameter, &metric, value)?;
        }
        Ok(())
    }
}

/// The cargo target directory: `CARGO_TARGET_DIR` if set (`cargo xtask
/// bench` sets it), else the nearest ancestor of this executable that holds
/// cargo's `CACHEDIR.TAG` or `.rustc_info.json` (a target directory copied
/// without the tag still has the latter), else `target` in the current
/// directory.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|dir| {
                    dir.join("CACHEDIR.TAG").is_file() || dir.join(".rustc_info.json").is_file()
                })
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}
