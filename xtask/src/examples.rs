//! `cargo xtask examples`: what `cargo clippy/test --workspace` leave out of
//! watch-core, its `tokio` feature (lints, the stream tests), and a smoke
//! run of each example in `watch-core/examples/` against a temporary
//! directory, checking what it prints.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use crate::Result;
use test_support::TempDir;

use crate::workspace::{self, run};

/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

/// Entry point of `cargo xtask examples` (no arguments).
pub fn main(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(format!("unexpected argument `{arg}`\nusage: cargo xtask examples").into());
    }
    let root = workspace::root();
    let feature = ["-p", "watch-core", "--features", "tokio"];
    run(workspace::cargo()
        .current_dir(&root)
        .arg("clippy")
        .args(feature)
        .args(["--all-targets", "--", "-D", "warnings"]))?;
    run(workspace::cargo()
        .current_dir(&root)
        .arg("test")
        .args(feature)
        .args(["--test", "tokio_stream"]))?;
    run(workspace::cargo()
        .current_dir(&root)
        .arg("build")
        .args(feature)
        .arg("--examples"))?;
    let bin = target_dir(&root).join("debug").join("examples");
    let scratch = TempDir::try_new("xtask-examples")?;
    print_tree(&bin, &scratch.path().join("print_tree"))?;
    reload_on_change(&bin, &scratch.path().join("reload_on_change"))?;
    tokio_stream(&bin, &scratch.path().join("tokio_stream"))?;
    println!("examples: print_tree, reload_on_change and tokio_stream ran");
    Ok(())
}

/// `print_tree DIR --exclude skipped`: a creation and a rename are printed,
/// nothing below the excluded directory, and closing stdin ends it.
fn print_tree(bin: &Path, dir: &Path) -> Result {
    fs::create_dir_all(dir.join("skipped"))?;
    let mut example = Example::start(
        bin,
        "print_tree",
        &[dir.as_os_str(), "--exclude".as_ref(), "skipped".as_ref()],
    )?;
    fs::write(dir.join("skipped/hidden"), "x")?;
    fs::write(dir.join("a"), "x")?;
    example.expect_line(&format!("created {}", dir.join("a").display()))?;
    fs::rename(dir.join("a"), dir.join("b"))?;
    example.expect_line(&format!(
        "renamed {} -> {}",
        dir.join("a").display(),
        dir.join("b").display()
    ))?;
    let (status, lines) = example.finish()?;
    if let Some(line) = lines.iter().find(|l| l.contains("hidden")) {
        return Err(format!("print_tree reported an excluded path: {line}").into());
    }
    check_status("print_tree", status)
}

/// `reload_on_change FILE cat FILE`: an atomic save runs the command once,
/// with the new content.
fn reload_on_change(bin: &Path, dir: &Path) -> Result {
    fs::create_dir_all(dir)?;
    let file = dir.join("app.conf");
    fs::write(&file, "version 1\n")?;
    let mut example = Example::start(
        bin,
        "reload_on_change",
        &[file.as_os_str(), "cat".as_ref(), file.as_os_str()],
    )?;
    let tmp = dir.join(".app.conf.tmp");
    fs::write(&tmp, "version 2\n")?;
    fs::rename(&tmp, &file)?;
    example.expect_line("version 2")?;
    example.expect_line("ran cat: exit status: 0")?;
    let (status, lines) = example.finish()?;
    let runs = lines.iter().filter(|l| l.starts_with("ran ")).count();
    if runs != 1 {
        return Err(format!("reload_on_change ran {runs} times for one save: {lines:?}").into());
    }
    check_status("reload_on_change", status)
}

/// `tokio_stream DIR 1`: prints one creation and exits by itself.
fn tokio_stream(bin: &Path, dir: &Path) -> Result {
    fs::create_dir_all(dir)?;
    let mut example = Example::start(bin, "tokio_stream", &[dir.as_os_str(), "1".as_ref()])?;
    fs::write(dir.join("new"), "x")?;
    example.expect_line(&format!("created {}", dir.join("new").display()))?;
    let status = example.wait()?;
    check_status("tokio_stream", status)
}

fn check_status(name: &str, status: ExitStatus) -> Result {
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} exited with {status}").into())
    }
}

/// A running example: its stdout lines arrive on a channel.
struct Example {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Example {
    /// Starts `name ARGS` and waits for its `watching` line on stderr.
    fn start(bin: &Path, name: &'static str, args: &[&std::ffi::OsStr]) -> Result<Example> {
        let mut child = Command::new(bin.join(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start example {name}: {e}"))?;
        let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
        let mut first = String::new();
        stderr.read_line(&mut first)?;
        if !first.starts_with("watching ") {
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name} did not start watching: {first}{rest}").into());
        }
        // Keep draining stderr so the example never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Example {
            name,
            child,
            stdin,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits for a stdout line equal to `want`.
    fn expect_line(&mut self, want: &str) -> Result {
        let deadline = Instant::now() + PATIENCE;
        while !self.seen.iter().any(|l| l == want) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!(
                        "{} never printed {want:?}; it printed {:?}",
                        self.name, self.seen
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Closes stdin (which ends the example) and returns its exit status
    /// and every stdout line.
    fn finish(mut self) -> Result<(ExitStatus, Vec<String>)> {
        drop(self.stdin.take());
        let status = self.wait()?;
        self.seen.extend(self.lines.try_iter());
        Ok((status, self.seen))
    }

    /// Waits for the example to exit.
    fn wait(&mut self) -> Result<ExitStatus> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                // The reader thread sees EOF; collect what it still holds.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("{} did not exit within {PATIENCE:?}", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/`).
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
