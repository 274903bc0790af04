//! The tracer (`--trace`): a watcher and a debouncer in this process,
//! each batch checked against the raw events it came from.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Result;
use crate::tree::{self, Rng, Tree, scan};

use super::Printed;

/// A watcher and a debouncer in this process, each batch checked against
/// the raw events it came from.
pub(super) struct Tracer {
    watcher: watch_core::Watcher,
    debouncer: watch_core::Debouncer,
    raw: Vec<watch_core::Event>,
    raw_tree: Tree,
    released: Tree,
    pub(super) root: PathBuf,
    /// Every raw event, for replays with other batch boundaries.
    log: Vec<watch_core::Event>,
    start: Tree,
    pub(super) replays: u64,
    /// Creations the watcher reported of a path below which it had
    /// reported paths and not removed them. A created object holds
    /// nothing yet (a rename can replace only an empty directory), so such
    /// a creation is a directory's creation told again (as a creation
    /// record read late can be, see scenario 25), with all below it: the
    /// stream still folds, but it costs the reader a second report, so
    /// the trace says how many there were, and shows the first.
    repeated: usize,
    first_repeated: Option<watch_core::Event>,
}

impl Tracer {
    pub(super) fn new(root: &Path, replays: u64) -> Result<Tracer> {
        let mut watcher = watch_core::Watcher::new()?;
        watcher.watch(root, watch_core::RecursiveMode::Recursive)?;
        let tree = scan(root);
        Ok(Tracer {
            watcher,
            debouncer: watch_core::Debouncer::new(Duration::from_millis(100)),
            raw: Vec::new(),
            raw_tree: tree.clone(),
            released: tree.clone(),
            root: root.to_path_buf(),
            log: Vec::new(),
            start: tree,
            replays,
            repeated: 0,
            first_repeated: None,
        })
    }

    pub(super) fn printed(e: &watch_core::Event) -> Printed {
        Printed {
            kind: e.kind.to_string(),
            path: e.path.clone(),
            from: match &e.kind {
                watch_core::EventKind::Renamed { from } => Some(from.clone()),
                _ => None,
            },
            is_dir: e.is_dir,
            batch: String::new(),
        }
    }

    /// Reads and debounces like `watchfs` does (blocking reads until the
    /// next deadline), checking each batch, until `cookie` is reported;
    /// then replays the raw log with other batch boundaries.
    pub(super) fn run(mut self, cookie: &Path) -> Result<(), String> {
        self.follow(cookie).map_err(|e| e.to_string())
    }

    fn follow(&mut self, cookie: &Path) -> Result {
        let mut events = Vec::new();
        let mut batch = Vec::new();
        loop {
            let timeout = self
                .debouncer
                .next_deadline()
                .map_or(Duration::from_millis(200), |d| {
                    d.saturating_duration_since(Instant::now())
                });
            events.clear();
            self.watcher.read(&mut events, Some(timeout))?;
            let now = Instant::now();
            let mut done = false;
            for e in events.drain(..) {
                done |= e.path == cookie;
                if e.kind == watch_core::EventKind::Created
                    && tree::holds_below(&self.raw_tree, &e.path)
                {
                    self.repeated += 1;
                    self.first_repeated.get_or_insert_with(|| e.clone());
                }
                Self::printed(&e).fold(&mut self.raw_tree);
                self.raw.push(e.clone());
                self.log.push(e.clone());
                self.debouncer.push(e, now);
            }
            batch.clear();
            if done {
                self.debouncer.flush(&mut batch);
            } else {
                self.debouncer.drain_ready(Instant::now(), &mut batch);
            }
            if !batch.is_empty() {
                self.check(&batch)?;
            }
            if done {
                break;
            }
        }
        // What the watcher reports after the cookie (a sync flushes it).
        self.watcher.sync(Duration::from_secs(120))?;
        events.clear();
        while self.watcher.read(&mut events, Some(Duration::ZERO))? > 0 {}
        let late = events.len();
        for e in &events {
            Self::printed(e).fold(&mut self.raw_tree);
        }
        let mut real = scan(&self.root);
        real.remove(cookie);
        self.raw_tree.remove(cookie);
        if self.raw_tree != real {
            let missing: Vec<&PathBuf> = real
                .keys()
                .filter(|p| !self.raw_tree.contains_key(*p))
                .collect();
            for p in missing.iter().take(3) {
                println!("  the raw stream misses {}", p.display());
                for e in self.log.iter().filter(|e| p.starts_with(&e.path)).take(12) {
                    println!("    {e}");
                }
            }
            let extra = self
                .raw_tree
                .keys()
                .filter(|p| !real.contains_key(*p))
                .count();
            return Err(format!(
                "trace: the raw events fold to a different tree: {} missing, {extra} extra \
                 ({late} events after the cookie)",
                missing.len()
            )
            .into());
        }
        if let Some(first) = &self.first_repeated {
            println!(
                "trace: {} creations were reported at a path below which the raw events held \
                 paths (a creation told again, and what is below it again); the first, with \
                 what was reported at and above its path:",
                self.repeated
            );
            let at = |e: &watch_core::Event| {
                first.path.starts_with(&e.path)
                    || matches!(&e.kind, watch_core::EventKind::Renamed { from } if first.path.starts_with(from))
            };
            for e in self.log.iter().filter(|e| at(e)).take(30) {
                println!("    {e} ({:?})", e.origin);
            }
        }
        if late > 0 {
            println!("trace: {late} raw events came after the cookie");
        }
        println!("trace: every batch folded like its raw events; the raw events fold to the tree");
        self.replay(self.replays)
    }

    pub(super) fn check(&mut self, batch: &[watch_core::Event]) -> Result {
        let before = self.released.clone();
        for e in batch {
            Self::printed(e).fold(&mut self.released);
        }
        let result = if self.released == self.raw_tree {
            Ok(())
        } else {
            let root = self.root.display().to_string();
            let short = |e: &watch_core::Event| e.to_string().replace(&root, "");
            println!("trace: a batch does not fold like its raw events");
            // The part of the tree before the batch that its raw events
            // can reach: enough to replay the batch as a test case.
            let named: Vec<&Path> = self
                .raw
                .iter()
                .flat_map(|e| {
                    let from = match &e.kind {
                        watch_core::EventKind::Renamed { from } => Some(from.as_path()),
                        _ => None,
                    };
                    std::iter::once(e.path.as_path()).chain(from)
                })
                .collect();
            for (p, d) in &before {
                if named.iter().any(|n| n.starts_with(p) || p.starts_with(n)) {
                    let p = p.display().to_string().replace(&root, "");
                    println!("  base  {p}{}", if *d { " (dir)" } else { "" });
                }
            }
            for e in &self.raw {
                println!(
                    "  raw   {}{}",
                    short(e),
                    if e.is_dir { " (dir)" } else { "" }
                );
            }
            for e in batch {
                println!(
                    "  batch {}{}",
                    short(e),
                    if e.is_dir { " (dir)" } else { "" }
                );
            }
            Err("the in-process debouncer lost or invented a path".into())
        };
        self.released = self.raw_tree.clone();
        self.raw.clear();
        result
    }

    /// Pushes the whole raw log again `times` times, with random gaps (so
    /// batches end elsewhere), checking every batch.
    pub(super) fn replay(&mut self, times: u64) -> Result {
        let quiet = Duration::from_millis(100);
        for round in 1..=times {
            let mut rng = Rng(round.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let mut debouncer = watch_core::Debouncer::new(quiet);
            let mut now = Instant::now();
            self.raw_tree = self.start.clone();
            self.released = self.start.clone();
            self.raw.clear();
            let log = std::mem::take(&mut self.log);
            let mut batch = Vec::new();
            for e in &log {
                // Rounds differ in how often a batch ends early: some
                // batches are a few events, some hundreds.
                let odds = [100, 400, 1000][(round % 3) as usize];
                now += Duration::from_millis(match rng.below(odds) {
                    0 => 150,
                    1..10 => 30,
                    _ => 0,
                });
                batch.clear();
                if debouncer.drain_ready(now, &mut batch) > 0 {
                    self.check(&batch)
                        .map_err(|e| format!("replay {round}: {e}"))?;
                }
                Self::printed(e).fold(&mut self.raw_tree);
                self.raw.push(e.clone());
                debouncer.push(e.clone(), now);
            }
            batch.clear();
            debouncer.flush(&mut batch);
            self.check(&batch)
                .map_err(|e| format!("replay {round}: {e}"))?;
            self.log = log;
        }
        println!("trace: {times} replays with other batch boundaries folded like the raw events");
        Ok(())
    }
}
