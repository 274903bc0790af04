//! The main loop: read events, debounce, print, decide, act.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use watch_core::{Config, Debouncer, Event, EventKind, RecursiveMode, Watcher};

use crate::actions::command::{CommandRunner, Finished, describe_status};
use crate::actions::describe;
use crate::actions::http::HttpAction;
use crate::actions::signal::{SignalAction, Target};
use crate::args::Cli;
use crate::check::Check;
use crate::filter::{Excludes, kind_selected};
use crate::hashing::ContentTracker;
use crate::metrics::{self, Metrics};
use crate::output::{Style, Template};

/// Longest time the loop blocks, so SIGINT/SIGTERM and finished commands
/// are noticed promptly.
const TICK: Duration = Duration::from_millis(200);

/// Everything the loop needs, built from the arguments.
pub struct App {
    cli: Cli,
    excludes: Excludes,
    /// `None`: events are not printed on stdout.
    style: Option<Style>,
    check: Option<Check>,
    signal: Option<SignalAction>,
    http: Option<HttpAction>,
    runner: Option<CommandRunner>,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
}

/// How the loop ended.
enum Flow {
    Continue,
    Exit(ExitCode),
}

impl App {
    /// Validates and prepares everything that can fail before watching;
    /// errors here are usage errors.
    pub fn new(cli: Cli) -> Result<App, String> {
        cli.validate()?;
        let excludes = Excludes::new(&cli.exclude)?;
        let style = if cli.json {
            Some(Style::Json)
        } else if let Some(format) = &cli.format {
            Some(Style::Template {
                template: Template::parse(format).map_err(|e| format!("--format: {e}"))?,
                nul: cli.print0,
            })
        } else if cli.has_action() {
            None
        } else {
            Some(Style::Human)
        };
        let check = match &cli.check {
            Some(text) => Some(Check::new(text, cli.shell)?),
            None => None,
        };
        let signal = cli.signal.map(|signal| {
            let target = match (&cli.pid, &cli.pidfile) {
                (Some(pid), _) => Target::Pid(*pid),
                (None, Some(file)) => Target::PidFile(file.clone()),
                (None, None) => unreachable!("validate() requires --pid or --pidfile"),
            };
            SignalAction::new(signal, target)
        });
        let http = cli.post.as_ref().map(|url| HttpAction {
            url: url.clone(),
            method: cli.method.to_ascii_uppercase(),
            expect: cli.expect_status,
            retries: cli.retries,
            backoff: cli.backoff,
            timeout: cli.timeout,
        });
        let runner = (!cli.command.is_empty())
            .then(|| CommandRunner::new(cli.command.clone(), cli.shell, cli.on_busy));
        Ok(App {
            cli,
            excludes,
            style,
            check,
            signal,
            http,
            runner,
            metrics: Arc::new(Metrics::default()),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    fn info(&self, message: &str) {
        if !self.cli.quiet {
            eprintln!("watchfs: {message}");
        }
    }

    fn error(&self, message: &str) {
        eprintln!("watchfs: {message}");
    }

    /// Watches and loops until a signal, `--once`, or a runtime error.
    pub fn run(mut self) -> Result<ExitCode, String> {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&self.stop))
                .map_err(|e| format!("cannot install a signal handler: {e}"))?;
        }
        let excludes = self.excludes.clone();
        let config = Config::default().exclude(move |path| excludes.matches_entry(path));
        let config = self.cli.backends.configure(config)?;
        let mut watcher = Watcher::with_config(config).map_err(|e| e.to_string())?;

        // Hash before watching and compare after: a change in between is
        // then seen by the comparison, one after by an event.
        let mut tracker = (self.cli.has_action() && !self.cli.no_content_check)
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
                    path.display()
                ));
            }
        }
        self.metrics.set_watches(watcher.watch_count() as u64);
        if let Some(addr) = self.cli.metrics {
            let bound = metrics::serve(addr, Arc::clone(&self.metrics))?;
            self.info(&format!("serving metrics on http://{bound}/metrics"));
        }
        if let Some(tracker) = tracker.as_mut() {
            if self.cli.verbose {
                self.info(&format!("tracking the content of {} paths", tracker.len()));
            }
            let changed = tracker.rescan();
            if !changed.is_empty()
                && let Flow::Exit(code) = self.act(changed)?
            {
                return Ok(code);
            }
        }

        // Scripts and tests wait for this line (documented in --help).
        let count = self.cli.paths.len();
        let plural = if count == 1 { "" } else { "s" };
        self.info(&format!("watches established ({count} path{plural})"));

        let mut debouncer = Debouncer::new(self.cli.debounce);
        let mut raw = Vec::new();
        let mut batch = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            if let Flow::Exit(code) = self.reap_command()? {
                return Ok(code);
            }
            let timeout = match debouncer.next_deadline() {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()).min(TICK),
                None => TICK,
            };
            raw.clear();
            match watcher.read(&mut raw, Some(timeout)) {
                Ok(_) => {}
                Err(watch_core::Error::Io { source, .. })
                    if source.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
            self.metrics.add_events(raw.len() as u64);
            let now = Instant::now();
            for event in raw.drain(..) {
                if let EventKind::Skipped { reason } = &event.kind {
                    self.error(&format!("not watching {}: {reason}", event.path.display()));
                    continue;
                }
                if self.is_excluded(&event) {
                    continue;
                }
                debouncer.push(event, now);
            }
            batch.clear();
            if debouncer.drain_ready(Instant::now(), &mut batch) == 0 {
                continue;
            }
            self.metrics.set_watches(watcher.watch_count() as u64);
            batch.retain(|event| kind_selected(&self.cli.events, event));
            if batch.is_empty() {
                continue;
            }
            if let Flow::Exit(code) = self.handle_batch(&batch, tracker.as_mut())? {
                return Ok(code);
            }
        }
        if let Some(runner) = self.runner.as_mut() {
            runner.stop().map_err(|e| e.to_string())?;
        }
        Ok(ExitCode::SUCCESS)
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

    fn handle_batch(
        &mut self,
        batch: &[Event],
        tracker: Option<&mut ContentTracker>,
    ) -> Result<Flow, String> {
        let time = SystemTime::now();
        for event in batch {
            if matches!(event.kind, EventKind::Overflow) {
                self.error(&format!(
                    "the kernel dropped events under {}; rescanned it",
                    event.path.display()
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
        let changed = match tracker {
            Some(tracker) => tracker.changed(batch),
            None => {
                let mut paths: Vec<PathBuf> = Vec::new();
                for event in batch {
                    if !paths.contains(&event.path) {
                        paths.push(event.path.clone());
                    }
                }
                paths
            }
        };
        if changed.is_empty() {
            if self.cli.verbose {
                self.info("no file content changed; nothing to do");
            }
            return Ok(Flow::Continue);
        }
        self.act(changed)
    }

    /// Runs the check and the actions for one batch of changed paths.
    fn act(&mut self, changed: Vec<PathBuf>) -> Result<Flow, String> {
        self.info(&format!("changed: {}", describe(&changed)));
        if let Some(check) = &self.check
            && let Err(message) = check.run(&changed)
        {
            self.error(&message);
            self.error("action skipped; it will be tried again on the next change");
            self.metrics.record_reload(false);
            return Ok(self.once_exit(false));
        }
        // Outcomes are logged after the metrics are updated, so that anyone
        // reacting to a log line sees metrics that include it.
        let mut outcomes: Vec<Result<String, String>> = Vec::new();
        if let Some(signal) = &self.signal {
            outcomes.push(
                signal
                    .send()
                    .map(|pid| format!("sent {} to pid {pid}", signal.signal_name())),
            );
        }
        if let Some(http) = &self.http {
            let stop = Arc::clone(&self.stop);
            let quiet = self.cli.quiet;
            let mut log = |line: &str| {
                if !quiet {
                    eprintln!("watchfs: {line}");
                }
            };
            outcomes.push(
                http.send(&mut log, &|| stop.load(Ordering::Relaxed))
                    .map(|status| format!("{} {} -> {status}", http.method, http.url)),
            );
        }
        let ok = outcomes.iter().all(Result::is_ok);
        if !outcomes.is_empty() {
            self.metrics.record_reload(ok);
        }
        for outcome in outcomes {
            match outcome {
                Ok(message) => self.info(&message),
                Err(message) => self.error(&message),
            }
        }
        let Some(runner) = self.runner.as_mut() else {
            return Ok(self.once_exit(ok));
        };
        runner.trigger(&changed).map_err(|e| e.to_string())?;
        if self.cli.once {
            // Wait for the run, but let SIGINT/SIGTERM stop it: the command
            // has its own process group, so a terminal's ^C reaches only us.
            let mut finished = Vec::new();
            while finished.is_empty() {
                if self.stop.load(Ordering::Relaxed) {
                    runner.stop().map_err(|e| e.to_string())?;
                    return Ok(Flow::Exit(ExitCode::SUCCESS));
                }
                finished = runner.poll().map_err(|e| e.to_string())?;
                if finished.is_empty() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let mut command_ok = true;
            for run in &finished {
                command_ok &= self.report_finished(run);
            }
            return Ok(self.once_exit(ok && command_ok));
        }
        Ok(Flow::Continue)
    }

    fn once_exit(&self, ok: bool) -> Flow {
        match (self.cli.once, ok) {
            (false, _) => Flow::Continue,
            (true, true) => Flow::Exit(ExitCode::SUCCESS),
            (true, false) => Flow::Exit(ExitCode::FAILURE),
        }
    }

    /// Reports command runs that ended; returns whether the loop goes on.
    fn reap_command(&mut self) -> Result<Flow, String> {
        let Some(runner) = self.runner.as_mut() else {
            return Ok(Flow::Continue);
        };
        let finished = runner.poll().map_err(|e| e.to_string())?;
        for run in &finished {
            self.report_finished(run);
        }
        Ok(Flow::Continue)
    }

    /// Logs and counts one finished command run; returns whether it succeeded.
    fn report_finished(&self, run: &Finished) -> bool {
        if run.stopped {
            self.info(&format!(
                "command stopped for a newer change ({})",
                describe_status(&run.status)
            ));
            return true;
        }
        let ok = run.status.success();
        self.metrics.record_reload(ok);
        if ok {
            if self.cli.verbose {
                self.info("command finished (exit status 0)");
            }
        } else {
            self.error(&format!(
                "command failed ({})",
                describe_status(&run.status)
            ));
        }
        ok
    }
}
