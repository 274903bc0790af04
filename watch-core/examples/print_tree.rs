//! Watches a directory tree and prints every change as it happens.
//!
//! ```text
//! cargo run -p watch-core --example print_tree -- DIR [--exclude NAME]...
//! ```
//!
//! Directories named by `--exclude` (say `target` or `.git`) are never
//! entered. Lines look like `created DIR/src/new.rs` or
//! `renamed DIR/a -> DIR/b`. The example ends when its standard input
//! closes (Ctrl-D): a thread waiting for that wakes the blocked read.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use watch_core::{Config, RecursiveMode, Watcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let root = PathBuf::from(
        args.next()
            .ok_or("usage: print_tree DIR [--exclude NAME]...")?,
    );
    let mut excluded: Vec<OsString> = Vec::new();
    while let Some(arg) = args.next() {
        if arg != "--exclude" {
            return Err(format!("unexpected argument {arg:?}").into());
        }
        excluded.push(args.next().ok_or("--exclude needs a name")?);
    }

    let config = Config::default().exclude(move |path: &Path| {
        path.file_name()
            .is_some_and(|name| excluded.iter().any(|e| e == name))
    });
    let mut watcher = Watcher::with_config(config)?;
    watcher.watch(&root, RecursiveMode::Recursive)?;

    let waker = watcher.waker();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        waker.wake().expect("wake the watcher");
    });

    eprintln!("watching {}", root.display());
    // Ends when a read returns nothing, which only a wake-up makes happen.
    for event in watcher.events(None) {
        println!("{}", event?);
    }
    Ok(())
}
