//! Prints the changes below a directory from a tokio task, through the
//! `Stream` that `AsyncWatcher` is (feature `tokio`).
//!
//! ```text
//! cargo run -p watch-core --features tokio --example tokio_stream -- DIR [COUNT]
//! ```
//!
//! Stops after COUNT events if given; dropping the stream closes the
//! watcher. No thread is started: the stream is driven by the runtime's
//! reactor, here a current-thread runtime.

use std::path::PathBuf;

use watch_core::{AsyncWatcher, RecursiveMode, Watcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let root = PathBuf::from(args.next().ok_or("usage: tokio_stream DIR [COUNT]")?);
    let count: Option<usize> = match args.next() {
        Some(n) => Some(
            n.to_str()
                .and_then(|n| n.parse().ok())
                .ok_or("COUNT is a number")?,
        ),
        None => None,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut watcher = Watcher::new()?;
        watcher.watch(&root, RecursiveMode::Recursive)?;
        let mut events = AsyncWatcher::new(watcher)?;
        eprintln!("watching {}", root.display());
        let mut seen = 0;
        while let Some(event) = events.next_event().await {
            println!("{}", event?);
            seen += 1;
            if Some(seen) == count {
                break;
            }
        }
        Ok(())
    })
}
