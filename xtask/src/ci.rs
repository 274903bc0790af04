//! `cargo xtask ci`: every gate a submission must pass, in order, each timed.
//! The run stops at the first failing gate.

use std::time::{Duration, Instant};

use crate::Result;
use crate::workspace::{self, seconds};

/// What a gate runs.
enum Action {
    /// `cargo <args>` at the workspace root.
    Cargo(&'static [&'static str]),
    /// Another xtask subcommand, run in this process with no arguments.
    Task(fn(&[String]) -> Result),
}

/// One gate of the CI run.
struct Step {
    name: &'static str,
    action: Action,
}

/// The gates, in order. A new gate (a quick bench run, a short soak) is one
/// more line here; keep the cheap ones first so failures come early.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        action: Action::Cargo(&["fmt", "--all", "--check"]),
    },
    Step {
        name: "clippy",
        action: Action::Cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    },
    // The README's test command, exactly.
    Step {
        name: "test",
        action: Action::Cargo(&["test", "--workspace"]),
    },
    Step {
        name: "examples",
        action: Action::Task(crate::examples::main),
    },
    Step {
        name: "unsafe-audit",
        action: Action::Task(crate::audit::main),
    },
    Step {
        name: "check-targets",
        action: Action::Task(crate::targets::main),
    },
    Step {
        name: "soak",
        action: Action::Task(crate::soak::ci),
    },
    // `watchfs -r --json` under seeded storms of 20,000 operations (seeds 1
    // and 2, 3 with SIGSTOP, 4 with a forced overflow): its output, folded,
    // must equal the tree, and every file written must have an event after
    // its last write. Builds watchfs itself.
    Step {
        name: "soak-cli",
        action: Action::Task(crate::storm::ci),
    },
    // The release artifacts: a static musl binary (run once with --version),
    // the man page, completions and the Containerfile, in target/dist/.
    Step {
        name: "dist",
        action: Action::Task(crate::dist::main),
    },
    Step {
        name: "bench-build",
        action: Action::Cargo(&["bench", "--workspace", "--no-run"]),
    },
    Step {
        name: "bench-quick",
        action: Action::Task(crate::bench::quick),
    },
];

const USAGE: &str = "usage: cargo xtask ci [--list] [--skip STEP]... [--only STEP]...";

/// Entry point of `cargo xtask ci`.
pub fn main(args: &[String]) -> Result {
    let mut skip = Vec::new();
    let mut only = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--list" => {
                for step in STEPS {
                    println!("{}", step.name);
                }
                return Ok(());
            }
            "--skip" | "--only" => {
                let name = args.next().ok_or(USAGE)?;
                if !STEPS.iter().any(|s| s.name == name) {
                    return Err(format!("no CI step named `{name}` (see --list)").into());
                }
                if arg == "--skip" {
                    &mut skip
                } else {
                    &mut only
                }
                .push(name.as_str());
            }
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}").into()),
        }
    }

    let selected: Vec<&Step> = STEPS
        .iter()
        .filter(|s| !skip.contains(&s.name) && (only.is_empty() || only.contains(&s.name)))
        .collect();
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    let total = Instant::now();
    for step in selected {
        println!("==> ci step `{}`", step.name);
        let start = Instant::now();
        let outcome = run_step(step);
        let elapsed = start.elapsed();
        timings.push((step.name, elapsed));
        if let Err(error) = outcome {
            print_timings(&timings, total.elapsed());
            return Err(format!(
                "CI step `{}` failed after {}: {error}",
                step.name,
                seconds(elapsed)
            )
            .into());
        }
        println!("==> ci step `{}` passed in {}", step.name, seconds(elapsed));
    }
    print_timings(&timings, total.elapsed());
    println!("ci: all {} steps passed", timings.len());
    Ok(())
}

fn run_step(step: &Step) -> Result {
    match step.action {
        Action::Cargo(args) => {
            workspace::run(workspace::cargo().args(args).current_dir(workspace::root()))
        }
        Action::Task(task) => task(&[]),
    }
}

fn print_timings(timings: &[(&str, Duration)], total: Duration) {
    println!("\nci timings:");
    for (name, elapsed) in timings {
        println!("  {name:<15} {:>8}", seconds(*elapsed));
    }
    println!("  {:<15} {:>8}", "total", seconds(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_unique() {
        for (i, step) in STEPS.iter().enumerate() {
            assert!(
                STEPS[i + 1..].iter().all(|s| s.name != step.name),
                "duplicate step {}",
                step.name
            );
        }
    }

    #[test]
    fn test_step_runs_the_readme_command() {
        let test = STEPS.iter().find(|s| s.name == "test").expect("test step");
        let Action::Cargo(args) = test.action else {
            panic!("test step must run cargo");
        };
        let readme = std::fs::read_to_string(workspace::root().join("README.md")).expect("README");
        let command = format!("cargo {}", args.join(" "));
        assert!(readme.contains(&command), "README must show `{command}`");
    }

    #[test]
    fn unknown_step_is_rejected() {
        let error = main(&["--skip".into(), "nope".into()]).unwrap_err();
        assert!(error.to_string().contains("no CI step named `nope`"));
    }
}
