//! Building the [`App`] from the command line, and the startup line that
//! says what it will do.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::actions::command::CommandRunner;
use crate::actions::http::{self, HttpAction};
use crate::actions::signal::{SignalAction, Target};
use crate::args::Cli;
use crate::check::{self, Check};
use crate::filter::Excludes;
use crate::metrics::Metrics;
use crate::output::{Style, Template};

use super::App;

impl App {
    /// Validates and prepares everything that can fail before watching;
    /// errors here are usage errors.
    pub fn new(mut cli: Cli) -> Result<App, String> {
        let render = crate::compat::apply(&mut cli)?;
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
        let urls: Vec<String> = cli
            .post
            .iter()
            .chain(cli.compat.extra_webhook_urls())
            .cloned()
            .collect();
        for url in &urls {
            http::validate_url(url)?;
        }
        if let Some(program) = cli.command.first()
            && !cli.shell
        {
            check::find_program(program).map_err(|e| format!("COMMAND: {e}"))?;
        }
        let signal = cli.signal.map(|signal| {
            let target = match (&cli.pid, &cli.pidfile) {
                (Some(pid), _) => Target::Pid(*pid),
                (None, Some(file)) => Target::PidFile(file.clone()),
                (None, None) => match cli.compat.signal_executable() {
                    Some(name) => Target::Executable(name),
                    None => unreachable!("validate() requires --pid or --pidfile"),
                },
            };
            SignalAction::new(signal, target)
        });
        let http = urls
            .into_iter()
            .map(|url| HttpAction {
                url,
                method: cli.method.to_ascii_uppercase(),
                expect: cli.expect_status,
                timeout: cli.timeout,
            })
            .collect();
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
            hup: Arc::new(AtomicBool::new(false)),
            tracker: None,
            render,
            checked: None,
            retry: None,
            command_run: None,
            command_queued: None,
            last_batch: Vec::new(),
        })
    }

    /// What will happen on a change, for the startup line.
    pub(super) fn plan(&self) -> String {
        let count = self.cli.paths.len();
        let plural = if count == 1 { "" } else { "s" };
        let mut steps = Vec::new();
        if let Some(check) = &self.check {
            steps.push(format!("check '{}'", check.text()));
        }
        if let Some(signal) = &self.signal {
            steps.push(format!(
                "send {} to {}",
                signal.signal_name(),
                signal.target_description()
            ));
        }
        for http in &self.http {
            steps.push(format!("{} {}", http.method, http.url));
        }
        if !self.cli.command.is_empty() {
            let words: Vec<String> = self
                .cli
                .command
                .iter()
                .map(|w| w.to_string_lossy().into_owned())
                .collect();
            steps.push(format!("run '{}'", words.join(" ")));
        }
        format!(
            "watching {count} path{plural}; on change: {}",
            steps.join(", then ")
        )
    }
}
