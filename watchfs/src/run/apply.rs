//! Applying a change: the check, the actions, their failures and retries,
//! and the command run in the background.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::actions::command::{Finished, Triggered, describe_status};
use crate::actions::describe;
use crate::actions::http::Attempt;
use crate::check::Outcome;
use crate::hashing::{ContentTracker, Snapshot};
use crate::state_file;

use super::{App, Flow, RECHECK_AFTER, RETRY_CAP, Reload, Retry, Why};

impl App {
    /// Checks and applies what is pending (with SIGHUP: the current
    /// content, changed or not).
    pub(super) fn apply(&mut self, why: Why) -> Result<Flow, String> {
        if matches!(why, Why::Retry | Why::Hup | Why::Recheck)
            && let Some(tracker) = self.tracker.as_mut()
        {
            tracker.refresh();
            self.say_notices();
        }
        let mut changed = match &self.tracker {
            Some(tracker) => tracker.pending(),
            None => self.last_batch.clone(),
        };
        if changed.is_empty() {
            if why != Why::Hup {
                self.retry = None;
                if self.cli.verbose {
                    self.info("no file content changed; nothing to do");
                }
                return Ok(Flow::Continue);
            }
            changed = self.cli.paths.clone();
        }
        if why != Why::Retry {
            self.info(&format!("changed: {}", describe(&changed)));
        }
        if let Some(render) = &self.render
            && let Err(message) = render.apply()
        {
            self.error(&message);
            self.error("reload skipped; the change stays pending until the template renders");
            self.metrics.record_apply(false);
            return Ok(Flow::Continue);
        }
        let snap = self.tracker.as_ref().map(ContentTracker::snapshot);
        if let Some(check) = &self.check
            && (why == Why::Hup || snap.is_none() || self.checked != snap)
        {
            let stop = Arc::clone(&self.stop);
            let started = Instant::now();
            let outcome = check.run(&changed, &|| stop.load(Ordering::Relaxed));
            let took = started.elapsed();
            match outcome {
                Outcome::Stopped => {
                    self.info("stopping: the check was stopped and the action skipped");
                    return Ok(Flow::Stop);
                }
                Outcome::Failed(message) => {
                    self.error(&message);
                    self.error(
                        "action skipped; the change stays pending until a save passes the check",
                    );
                    self.metrics.record_reload(false);
                    self.retry = None;
                    return Ok(self.once_exit(false));
                }
                Outcome::Passed => {
                    if self.cli.verbose {
                        let ms = took.as_secs_f64() * 1e3;
                        self.info(&format!("check passed in {ms:.1} ms"));
                    }
                }
            }
            // Apply what was checked: if a file changed while the check
            // ran, the check saw other bytes than the action would apply.
            if let (Some(tracker), Some(snap)) = (self.tracker.as_mut(), snap.as_ref()) {
                tracker.refresh();
                if !tracker.matches(snap) {
                    self.info(
                        "a watched file changed during the check; checking again once the save \
                         is complete",
                    );
                    self.retry = Some(Retry {
                        failures: self.retry.map_or(0, |r| r.failures),
                        at: Instant::now() + RECHECK_AFTER,
                    });
                    return Ok(Flow::Continue);
                }
            }
            self.checked = snap.clone();
        }
        if self.stopping() {
            return Ok(Flow::Stop);
        }
        let has_reload = self.signal.is_some() || !self.http.is_empty();
        match self.reload() {
            Reload::Stopped => {
                self.info("stopping: the request in flight was abandoned");
                return Ok(Flow::Stop);
            }
            Reload::Nothing => {}
            Reload::Done(done) => {
                // Outcomes are logged after the metrics are updated, so
                // that anyone reacting to a log line sees metrics that
                // include it.
                self.metrics.record_reload(true);
                for line in done {
                    self.info(&line);
                }
                self.retry = None;
                if let Some(snap) = &snap {
                    self.mark_applied(snap);
                    self.save_state();
                }
            }
            Reload::Failed {
                transient,
                message,
                done,
            } => {
                for line in done {
                    self.info(&line);
                }
                return Ok(self.reload_failed(transient, &message));
            }
        }
        let Some(runner) = self.runner.as_mut() else {
            return Ok(self.once_exit(true));
        };
        let triggered = runner.trigger(&changed).map_err(|e| e.to_string())?;
        // The run counts as applied from its start, so that a change made
        // while it runs is all the next run gets; a failed run takes it back.
        if !has_reload && let Some(snap) = snap {
            match triggered {
                Triggered::Started => {
                    let before = self.mark_applied(&snap);
                    self.command_run = Some((snap, before));
                }
                Triggered::Queued => {
                    let before = self.mark_applied(&snap);
                    let before = match self.command_queued.take() {
                        Some((_, older)) => older,
                        None => before,
                    };
                    self.command_queued = Some((snap, before));
                }
                Triggered::Ignored => {}
            }
        }
        if self.cli.once {
            return self.wait_for_command();
        }
        Ok(Flow::Continue)
    }

    /// Under `--once`: waits for the run, but lets SIGINT/SIGTERM stop it
    /// (the command has its own process group, so a terminal's ^C reaches
    /// only us).
    fn wait_for_command(&mut self) -> Result<Flow, String> {
        let mut finished = Vec::new();
        while finished.is_empty() {
            if self.stopping() {
                return Ok(Flow::Stop);
            }
            if let Some(runner) = self.runner.as_mut() {
                finished = runner.poll().map_err(|e| e.to_string())?;
            }
            if finished.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut ok = true;
        for run in &finished {
            ok &= self.command_finished(run);
        }
        Ok(self.once_exit(ok))
    }

    /// Sends the signal and the request.
    fn reload(&self) -> Reload {
        let mut done = Vec::new();
        let mut failures = Vec::new();
        let mut transient = true;
        if let Some(signal) = &self.signal {
            // A missing process may be a service restarting: worth a retry.
            match signal.send() {
                Ok(pid) => done.push(format!("sent {} to pid {pid}", signal.signal_name())),
                Err(message) => failures.push(message),
            }
        }
        for http in &self.http {
            let stop = Arc::clone(&self.stop);
            match http.attempt(&|| stop.load(Ordering::Relaxed)) {
                Attempt::Done(status) => {
                    done.push(format!("{} {} -> {status}", http.method, http.url));
                }
                Attempt::Retry(message) => failures.push(message),
                Attempt::Rejected(message) => {
                    failures.push(message);
                    transient = false;
                }
                Attempt::Stopped => return Reload::Stopped,
            }
        }
        match (done.is_empty(), failures.is_empty()) {
            (true, true) => Reload::Nothing,
            (_, true) => Reload::Done(done),
            (_, false) => Reload::Failed {
                transient,
                message: failures.join("\n"),
                done,
            },
        }
    }

    /// Reports a failed reload and schedules the next try of the change.
    fn reload_failed(&mut self, transient: bool, message: &str) -> Flow {
        if !transient {
            self.metrics.record_reload(false);
            self.error(message);
            self.error(
                "the change stays pending: it is applied again at the next event (or on SIGHUP)",
            );
            self.retry = None;
            return self.once_exit(false);
        }
        let failures = self.retry.map_or(1, |r| r.failures + 1);
        let delay = retry_delay(self.cli.backoff, failures);
        self.retry = Some(Retry {
            failures,
            at: Instant::now() + delay,
        });
        let retries = self.cli.retries;
        if failures <= retries {
            self.info(&format!("{message}; retrying in {delay:?}"));
            return Flow::Continue;
        }
        self.metrics.record_reload(false);
        if failures == retries + 1 {
            let tries = if failures > 1 {
                format!(" after {failures} attempts")
            } else {
                String::new()
            };
            self.error(&format!("{message}{tries}"));
            if self.cli.once {
                return Flow::Exit(ExitCode::FAILURE);
            }
            self.error(&format!(
                "the change stays pending: retrying in {delay:?} (then at most every \
                 {RETRY_CAP:?}) and at the next event"
            ));
        } else {
            self.error(&format!(
                "{message} (attempt {failures}); retrying in {delay:?}"
            ));
        }
        Flow::Continue
    }

    /// Records `snap` as applied; returns what was applied before.
    fn mark_applied(&mut self, snap: &Snapshot) -> Snapshot {
        match self.tracker.as_mut() {
            Some(tracker) => tracker.mark_applied(snap),
            None => Snapshot::default(),
        }
    }

    /// Writes what is applied to the state file, if there is one.
    fn save_state(&self) {
        if let (Some(file), Some(tracker)) = (&self.cli.state_file, &self.tracker)
            && let Err(message) = state_file::save(file, &tracker.applied())
        {
            self.error(&message);
        }
    }

    fn once_exit(&self, ok: bool) -> Flow {
        match (self.cli.once, ok) {
            (false, _) => Flow::Continue,
            (true, true) => Flow::Exit(ExitCode::SUCCESS),
            (true, false) => Flow::Exit(ExitCode::FAILURE),
        }
    }

    /// Reports command runs that ended.
    pub(super) fn reap_command(&mut self) -> Result<(), String> {
        let Some(runner) = self.runner.as_mut() else {
            return Ok(());
        };
        let finished = runner.poll().map_err(|e| e.to_string())?;
        let running = runner.is_running();
        for run in &finished {
            self.command_finished(run);
        }
        if running && self.command_run.is_none() {
            self.command_run = self.command_queued.take();
        }
        Ok(())
    }

    /// Logs and counts one finished command run (and records what it
    /// applied); returns whether it succeeded.
    fn command_finished(&mut self, run: &Finished) -> bool {
        if run.stopped {
            self.info(&format!(
                "command stopped for a newer change ({})",
                describe_status(&run.status)
            ));
            return true;
        }
        let ok = run.status.success();
        self.metrics.record_reload(ok);
        let applied = self.command_run.take();
        if ok {
            if applied.is_some() {
                self.save_state();
            }
            if self.cli.verbose {
                self.info("command finished (exit status 0)");
            }
        } else {
            if let (Some((snap, before)), Some(tracker)) = (&applied, self.tracker.as_mut()) {
                tracker.undo_applied(snap, before);
            }
            self.error(&format!(
                "command failed ({}); the change stays pending until the next event",
                describe_status(&run.status)
            ));
        }
        ok
    }
}

/// The wait before retry number `failures`: `backoff`, doubled for each
/// further one, at most [`RETRY_CAP`] (or `backoff` if that is longer).
fn retry_delay(backoff: Duration, failures: u32) -> Duration {
    let doubled = backoff.saturating_mul(1 << failures.saturating_sub(1).min(20));
    doubled.min(RETRY_CAP.max(backoff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_a_cap() {
        let ms = Duration::from_millis;
        assert_eq!(retry_delay(ms(500), 1), ms(500));
        assert_eq!(retry_delay(ms(500), 2), ms(1000));
        assert_eq!(retry_delay(ms(500), 4), ms(4000));
        assert_eq!(retry_delay(ms(500), 7), RETRY_CAP);
        assert_eq!(retry_delay(ms(500), u32::MAX), RETRY_CAP);
        assert_eq!(
            retry_delay(Duration::from_secs(60), 3),
            Duration::from_secs(60)
        );
    }
}
