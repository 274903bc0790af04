//! The main loop: read events, wait until a save is complete, print,
//! decide, apply, and keep a change pending until it is applied.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use watch_core::{Backend, Config, Debouncer, Event, EventKind, Origin, RecursiveMode, Watcher};

use crate::actions::command::CommandRunner;
use crate::actions::http::HttpAction;
use crate::actions::signal::SignalAction;
use crate::args::Cli;
use crate::check::Check;
use crate::filter::{Excludes, kind_selected};
use crate::hashing::{ContentTracker, Snapshot};
use crate::metrics::{self, Metrics};
use crate::output::Style;
use crate::settle::{Gate, SETTLE, Timing};
use crate::state_file;

mod apply;
mod setup;

/// Quiet period of a batch where no close events tell when a save is
/// complete, and for saves that follow an action closely.
const DEFAULT_WINDOW: Duration = Duration::from_millis(100);

/// Longest wait between retries of a pending change once `--retries` are
/// spent.
const RETRY_CAP: Duration = Duration::from_secs(30);

/// After a file changed during a check: when to check again if no event
/// brings the change first.
const RECHECK_AFTER: Duration = Duration::from_millis(100);

/// Everything the loop needs, built from the arguments.
pub struct App {
    cli: Cli,
    excludes: Excludes,
    /// `None`: events are not printed on stdout.
    style: Option<Style>,
    check: Option<Check>,
    signal: Option<SignalAction>,
    /// `--post` (and, with `--webhook-url` given more than once, one per URL).
    http: Vec<HttpAction>,
    runner: Option<CommandRunner>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    /// SIGHUP: apply the current content now.
    hup: Arc<AtomicBool>,
    /// Content states, when actions fire on content changes only.
    tracker: Option<ContentTracker>,
    /// `--config-file` rendered into `--config-envsubst-file`.
    render: Option<crate::compat::Render>,
    /// What the last passing check saw.
    checked: Option<Snapshot>,
    /// The next try of a pending change.
    retry: Option<Retry>,
    /// What the command run going on applies (when it is the only action),
    /// and what was applied before it, restored if the run fails.
    command_run: Option<(Snapshot, Snapshot)>,
    /// The same for the queued command run.
    command_queued: Option<(Snapshot, Snapshot)>,
    /// Paths of the last batch (without content checks).
    last_batch: Vec<PathBuf>,
}

/// A scheduled retry of a pending change.
#[derive(Clone, Copy, Debug)]
struct Retry {
    /// Failed attempts so far.
    failures: u32,
    at: Instant,
}

/// How the loop goes on.
enum Flow {
    Continue,
    Exit(ExitCode),
    /// SIGINT/SIGTERM: clean up and exit 0.
    Stop,
}

/// Why changes are being applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Change,
    Retry,
    Hup,
    Startup,
    /// `--watch-interval`: a periodic look at the content, events or not.
    Recheck,
}

/// What the reload actions (signal, request) did.
enum Reload {
    /// None is configured.
    Nothing,
    Done(Vec<String>),
    Failed {
        /// Worth retrying with the same content.
        transient: bool,
        message: String,
        /// What did succeed.
        done: Vec<String>,
    },
    Stopped,
}

impl App {
    fn info(&self, message: &str) {
        if !self.cli.quiet {
            eprintln!("watchfs: {message}");
        }
    }

    fn error(&self, message: &str) {
        eprintln!("watchfs: {message}");
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Watches and loops until a signal, `--once`, or a runtime error.
    pub fn run(mut self) -> Result<ExitCode, String> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&self.stop))
                .map_err(|e| format!("cannot install a signal handler: {e}"))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&self.hup))
            .map_err(|e| format!("cannot install a signal handler: {e}"))?;
        let acting = self.cli.has_action();
        let excludes = self.excludes.clone();
        let config = Config::default()
            .exclude(move |path| excludes.matches_entry(path))
            .close_notices(acting);
        let config = self.cli.backends.configure(config)?;
        let mut watcher = Watcher::with_config(config).map_err(|e| e.to_string())?;
        wake_on_signals(&watcher, Arc::clone(&self.stop))?;

        // The rendered config exists before the service is asked to reload;
        // a template that cannot be rendered stops here, naming the cause.
        if let Some(render) = &self.render {
            render.apply()?;
        }
        // Hash before watching and compare after: a change in between is
        // then seen by the comparison, one after by an event.
        self.tracker = (acting && !self.cli.no_content_check)
            .then(|| ContentTracker::baseline(&self.cli.paths, self.cli.recursive, &self.excludes));
        let mode = if self.cli.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        for path in &self.cli.paths {
            let missing = std::fs::symlink_metadata(path).is_err();
            let choice = watcher
                .watch_with(path, mode, self.cli.backends.root_backend())
                .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
            self.info(&format!(
                "watching {} with {choice}",
                crate::quote::quote(path.as_os_str())
            ));
            // Said only once the watch holds, so a path refused as
            // impossible is not first announced as awaited.
            if missing {
                self.info(&format!(
                    "{} does not exist yet; watching for it to appear",
                    crate::quote::quote(path.as_os_str())
                ));
            }
        }
        // Close notices tell when a save is complete only where every root
        // is watched by inotify; polled roots keep the quiet window.
        let close_aware = acting
            && self
                .cli
                .paths
                .iter()
                .all(|path| watcher.root_backend(path) == Backend::Inotify);
        self.metrics.set_watches(self.cli.paths.len() as u64);
        self.metrics.set_healthy(true);
        if let Some(addr) = &self.cli.metrics {
            let path = self.cli.compat.metrics_path().to_string();
            let bound = metrics::serve(addr, &path, Arc::clone(&self.metrics))?;
            self.info(&format!("serving metrics on http://{bound}{path}"));
        }
        if acting {
            self.info(&self.plan());
        }
        if let Some(flow) = self.start_tracking()? {
            return self.finish(flow);
        }

        // Scripts and tests wait for this line (documented in --help).
        let count = self.cli.paths.len();
        let plural = if count == 1 { "" } else { "s" };
        self.info(&format!("watches established ({count} path{plural})"));

        let window = self.cli.debounce.unwrap_or(DEFAULT_WINDOW);
        let mut debouncer = Debouncer::new(window);
        let mut gate = close_aware.then(|| {
            Gate::new(Timing {
                settle: self.cli.debounce.unwrap_or(SETTLE),
                window,
            })
        });
        let recheck = self.cli.compat.recheck_interval();
        let mut next_recheck = recheck.map(|every| Instant::now() + every);
        let mut raw = Vec::new();
        let mut batch = Vec::new();
        loop {
            if self.stopping() {
                return self.finish(Flow::Stop);
            }
            self.reap_command()?;
            let idle = debouncer.is_empty() && gate.as_ref().is_none_or(Gate::is_idle);
            if self.hup.swap(false, Ordering::Relaxed) {
                self.info("SIGHUP: applying the current content");
                if let flow @ (Flow::Exit(_) | Flow::Stop) = self.apply(Why::Hup)? {
                    return self.finish(flow);
                }
                continue;
            }
            // A retry waits while a save is still being collected: that
            // batch applies the change anyway, and only once it is complete.
            if idle
                && let Some(retry) = self.retry
                && Instant::now() >= retry.at
            {
                if let flow @ (Flow::Exit(_) | Flow::Stop) = self.apply(Why::Retry)? {
                    return self.finish(flow);
                }
                continue;
            }
            let batch_due = match &gate {
                Some(gate) => gate.deadline(),
                None => debouncer.next_deadline(),
            };
            let retry_due = self.retry.filter(|_| idle).map(|r| r.at);
            if idle
                && let Some(due) = next_recheck
                && Instant::now() >= due
            {
                next_recheck = recheck.map(|every| Instant::now() + every);
                if let flow @ (Flow::Exit(_) | Flow::Stop) = self.apply(Why::Recheck)? {
                    return self.finish(flow);
                }
                continue;
            }
            // Signals and finished commands wake the read (wake_on_signals).
            // Polled roots are scanned by `read`, which must be called then.
            let timeout = [batch_due, retry_due, next_recheck, watcher.next_scan()]
                .into_iter()
                .flatten()
                .min()
                .map(|due| due.saturating_duration_since(Instant::now()));
            raw.clear();
            match watcher.read(&mut raw, timeout) {
                Ok(_) => {}
                Err(watch_core::Error::Io { source, .. })
                    if source.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.metrics.set_healthy(false);
                    return Err(e.to_string());
                }
            }
            self.metrics.observe(&raw);
            let now = Instant::now();
            for event in raw.drain(..) {
                if let EventKind::Skipped { reason } = &event.kind {
                    self.error(&format!(
                        "not watching {}: {reason}",
                        crate::quote::quote(event.path.as_os_str())
                    ));
                    continue;
                }
                if self.is_excluded(&event) {
                    continue;
                }
                if event.kind == EventKind::Closed {
                    // Close notices fold to nothing: they only tell the gate.
                    if let Some(gate) = gate.as_mut() {
                        if gate.is_idle() {
                            // A writer the cap cut short is done now: what
                            // it wrote last has not been looked at yet.
                            let done =
                                Event::new(EventKind::Modified, event.path, false, Origin::Kernel);
                            gate.event(&done, false, now);
                            debouncer.push(done, now);
                        } else {
                            gate.closed(&event.path, now);
                        }
                    }
                    continue;
                }
                if let Some(gate) = gate.as_mut() {
                    gate.event(&event, self.starts_writing(&event), now);
                }
                debouncer.push(event, now);
            }
            batch.clear();
            let now = Instant::now();
            match gate.as_mut() {
                Some(gate) if gate.ready(now) => {
                    debouncer.flush(&mut batch);
                    gate.released(now);
                }
                Some(_) => {}
                None => {
                    debouncer.drain_ready(now, &mut batch);
                }
            }
            if batch.is_empty() {
                continue;
            }
            batch.retain(|event| kind_selected(&self.cli.events, event));
            if batch.is_empty() {
                continue;
            }
            let flow = self.handle_batch(&batch)?;
            if let Some(gate) = gate.as_mut() {
                // Saves that come right after the action are a burst.
                gate.released(Instant::now());
            }
            if let flow @ (Flow::Exit(_) | Flow::Stop) = flow {
                return self.finish(flow);
            }
        }
    }

    /// Ends the run: a stop also stops the command.
    fn finish(&mut self, flow: Flow) -> Result<ExitCode, String> {
        if let Some(runner) = self.runner.as_mut() {
            runner.stop().map_err(|e| e.to_string())?;
        }
        Ok(match flow {
            Flow::Exit(code) => code,
            Flow::Continue | Flow::Stop => ExitCode::SUCCESS,
        })
    }

    /// Compares the content with the baseline (and the state file), and
    /// applies what is pending. `Some` when the run ends here.
    fn start_tracking(&mut self) -> Result<Option<Flow>, String> {
        let Some(n) = self.tracker.as_ref().map(ContentTracker::len) else {
            return Ok(None);
        };
        if self.cli.verbose {
            self.info(&format!("tracking the content of {n} paths"));
        }
        let Some(tracker) = self.tracker.as_mut() else {
            return Ok(None);
        };
        tracker.refresh();
        if let Some(file) = &self.cli.state_file {
            match state_file::load(file)? {
                Some(applied) => tracker.load_applied(&applied),
                // What the service has now is unknown; take the baseline.
                None => state_file::save(file, &tracker.applied())?,
            }
        }
        self.say_notices();
        let pending = self
            .tracker
            .as_ref()
            .is_some_and(|t| !t.pending().is_empty());
        if !pending {
            return Ok(None);
        }
        match self.apply(Why::Startup)? {
            Flow::Continue => Ok(None),
            flow => Ok(Some(flow)),
        }
    }

    fn say_notices(&mut self) {
        let notices = self
            .tracker
            .as_mut()
            .map(ContentTracker::take_notices)
            .unwrap_or_default();
        for notice in notices {
            self.info(&notice);
        }
    }

    /// Whether `event` leaves a file open for writing: a write in place
    /// (the same file as before was modified) or a new file being filled.
    /// A file renamed into place is complete, and so is one whose writer
    /// closed it (a close notice follows the last write).
    fn starts_writing(&self, event: &Event) -> bool {
        if event.origin != Origin::Kernel || event.is_dir {
            return false;
        }
        let new_file =
            || std::fs::symlink_metadata(&event.path).is_ok_and(|m| m.is_file() && m.nlink() == 1);
        match event.kind {
            EventKind::Modified => match &self.tracker {
                Some(tracker) => tracker.same_file(&event.path).unwrap_or_else(new_file),
                None => false,
            },
            EventKind::Created => new_file(),
            _ => false,
        }
    }

    fn is_excluded(&self, event: &Event) -> bool {
        if self.excludes.is_empty() {
            return false;
        }
        let root = self
            .cli
            .paths
            .iter()
            .find(|root| event.path.starts_with(root))
            .map_or(Path::new(""), |root| root.as_path());
        self.excludes.is_excluded(root, &event.path)
    }

    fn handle_batch(&mut self, batch: &[Event]) -> Result<Flow, String> {
        let time = SystemTime::now();
        for event in batch {
            if matches!(event.kind, EventKind::Overflow) {
                self.error(&format!(
                    "the kernel dropped events under {}; rescanned it",
                    crate::quote::quote(event.path.as_os_str())
                ));
            }
        }
        if let Some(style) = &self.style {
            let mut out = io::stdout().lock();
            let written = batch
                .iter()
                .try_for_each(|event| style.write(&mut out, event, time))
                .and_then(|()| out.flush());
            match written {
                Ok(()) => {}
                // The reader went away (`watchfs . | head -1`): done.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    return Ok(Flow::Exit(ExitCode::SUCCESS));
                }
                Err(e) => return Err(format!("cannot write to stdout: {e}")),
            }
        } else if self.cli.verbose {
            for event in batch {
                eprintln!("watchfs: event: {}", Style::Human.render(event, time));
            }
        }
        if !self.cli.has_action() {
            return Ok(if self.cli.once {
                Flow::Exit(ExitCode::SUCCESS)
            } else {
                Flow::Continue
            });
        }
        match self.tracker.as_mut() {
            Some(tracker) => {
                tracker.observe_events(batch);
                self.say_notices();
            }
            None => {
                self.last_batch.clear();
                for event in batch {
                    if !self.last_batch.contains(&event.path) {
                        self.last_batch.push(event.path.clone());
                    }
                }
            }
        }
        // A new event: a pending change is tried again now, even with the
        // same bytes, and its retry schedule starts over.
        self.retry = None;
        self.apply(Why::Change)
    }
}

/// Ends the loop's blocking read on SIGINT and SIGTERM (after `stop` is
/// set), on SIGHUP (after its flag is set by its own handler) and on
/// SIGCHLD (a command finished), from a signal-handling thread.
fn wake_on_signals(watcher: &Watcher, stop: Arc<AtomicBool>) -> Result<(), String> {
    use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGCHLD])
        .map_err(|e| format!("cannot install a signal handler: {e}"))?;
    let waker = watcher.waker();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGINT || signal == SIGTERM {
                    stop.store(true, Ordering::SeqCst);
                }
                if let Err(e) = waker.wake() {
                    eprintln!("watchfs: cannot wake the event loop: {e}");
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}
