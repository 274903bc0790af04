//! Runs a command each time a file is saved: the way a service picks up
//! its edited configuration.
//!
//! ```text
//! cargo run -p watch-core --example reload_on_change -- FILE COMMAND [ARG]...
//! ```
//!
//! The file is followed by name, so atomic saves (write a temporary file,
//! rename it over), deletion and re-creation and symlink swaps (Kubernetes
//! ConfigMaps) all count; it need not exist yet. The several steps of one
//! save are coalesced (100 ms of quiet) so the command runs once per save.
//! The example ends when its standard input closes.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use watch_core::{RecursiveMode, Watcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let usage = "usage: reload_on_change FILE COMMAND [ARG]...";
    let file = PathBuf::from(args.next().ok_or(usage)?);
    let program = args.next().ok_or(usage)?;
    let rest: Vec<_> = args.collect();

    let mut watcher = Watcher::new()?.debounced(Duration::from_millis(100));
    watcher.watch(&file, RecursiveMode::NonRecursive)?;

    let waker = watcher.waker();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        waker.wake().expect("wake the watcher");
    });

    eprintln!("watching {}", file.display());
    for batch in watcher.batches(None) {
        for event in batch? {
            eprintln!("  {event}");
        }
        let status = Command::new(&program).args(&rest).status()?;
        println!("ran {}: {status}", program.to_string_lossy());
    }
    Ok(())
}
