//! The watchfs command-line tool: print file changes, or reload a service
//! (command, signal, HTTP request) when a watched file's content changes.
#![forbid(unsafe_code)]

mod actions;
mod args;
mod backends;
mod check;
mod filter;
mod hashing;
mod metrics;
mod output;
mod quote;
mod run;
mod settle;
mod state_file;
#[cfg(test)]
mod testdir;
mod version;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    // Usage errors exit with status 2 (clap's convention, kept for ours).
    let cli = args::Cli::parse();
    let app = match run::App::new(cli) {
        Ok(app) => app,
        Err(message) => args::Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit(),
    };
    match app.run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("watchfs: error: {message}");
            ExitCode::FAILURE
        }
    }
}
