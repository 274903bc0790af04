//! Project automation for the watchfs workspace, run as `cargo xtask <command>`.
//!
//! `main` only dispatches: each subcommand lives in its own module and is
//! registered with one line in [`COMMANDS`].
#![forbid(unsafe_code)]

mod audit;
mod bench;
mod ci;
mod dist;
mod examples;
mod reload_bench;
mod soak;
mod storm;
mod targets;
mod tree;
mod workspace;

use std::process::ExitCode;

/// What every subcommand returns: `Err` carries a message for the user.
pub type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// One subcommand: its name on the command line, a one-line summary, and its
/// entry point (which receives the arguments after the name).
struct Command {
    name: &'static str,
    about: &'static str,
    run: fn(&[String]) -> Result,
}

/// Every subcommand. To add one, add a module and a line here.
const COMMANDS: &[Command] = &[
    Command {
        name: "ci",
        about: "run every CI gate in order, timed; stops at the first failure",
        run: ci::main,
    },
    Command {
        name: "unsafe-audit",
        about: "count unsafe per crate; fail on undocumented or misplaced unsafe",
        run: audit::main,
    },
    Command {
        name: "bench",
        about: "run the benches; summary table in target/bench-summary.md (--quick for CI)",
        run: bench::main,
    },
    Command {
        name: "soak",
        about: "recursive watch under a long operation mix: lost changes, events/s, RSS, fds; --cli: watchfs under a seeded storm",
        run: soak::main,
    },
    Command {
        name: "examples",
        about: "lint and test watch-core's tokio feature; smoke-run each watch-core example",
        run: examples::main,
    },
    Command {
        name: "dist",
        about: "static musl binary, man page, completions, Containerfile in target/dist/",
        run: dist::main,
    },
    Command {
        name: "check-targets",
        about: "type-check the platform crates for every target we claim",
        run: targets::main,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        print_usage();
        return ExitCode::FAILURE;
    };
    if name == "help" || name == "--help" || name == "-h" {
        print_usage();
        return ExitCode::SUCCESS;
    }
    let Some(command) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("xtask: unknown command `{name}`");
        print_usage();
        return ExitCode::FAILURE;
    };
    match (command.run)(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask {}: error: {error}", command.name);
            ExitCode::FAILURE
        }
    }
}

fn print_usage() {
    eprintln!("usage: cargo xtask <command> [options]\n\ncommands:");
    for command in COMMANDS {
        eprintln!("  {:<15} {}", command.name, command.about);
    }
}
