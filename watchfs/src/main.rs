//! The watchfs command-line tool: print file changes, or reload a service
//! (command, signal, HTTP request) when a watched file's content changes.
#![forbid(unsafe_code)]

mod actions;
mod args;
mod backends;
mod check;
mod compat;
mod filter;
mod generate;
mod hashing;
mod metrics;
mod output;
mod quote;
mod run;
mod settle;
mod state_file;
mod version;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    // Usage errors exit with status 2 (clap's convention, kept for ours).
    let cli = args::Cli::parse();
    if let Some(what) = cli.generate {
        return match generate::write(what, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("watchfs: error: cannot write the output: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
