//! `--generate man|bash|zsh|fish`: the man page and shell completions,
//! generated from the same clap definition that parses the command line, so
//! they never drift from it. `cargo xtask dist` packages them.

use std::io::{self, Write};

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use crate::args::Cli;

/// What `--generate` writes on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page, watchfs.1 (roff).
    Man,
    /// bash completions.
    Bash,
    /// zsh completions (_watchfs).
    Zsh,
    /// fish completions.
    Fish,
}

/// Writes `what` to `out`.
pub fn write(what: Generate, out: &mut impl Write) -> io::Result<()> {
    let mut command = Cli::command();
    let shell = match what {
        Generate::Man => return clap_mangen::Man::new(command).render(out),
        Generate::Bash => Shell::Bash,
        Generate::Zsh => Shell::Zsh,
        Generate::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut command, "watchfs", out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(what: Generate) -> String {
        let mut out = Vec::new();
        write(what, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn man_page_lists_the_flags() {
        let man = text(Generate::Man);
        assert!(man.starts_with(".ie \\n(.g .ds Aq"), "{}", &man[..80]);
        assert!(man.contains(".TH watchfs 1"), "{man}");
        for flag in ["backend", "poll\\-interval", "print0", "metrics"] {
            assert!(man.contains(&format!("\\-\\-{flag}")), "{flag} missing");
        }
    }

    #[test]
    fn completions_know_the_flags() {
        for shell in [Generate::Bash, Generate::Zsh, Generate::Fish] {
            let script = text(shell);
            assert!(script.contains("poll-interval"), "{shell:?}");
            assert!(script.contains("inotify"), "{shell:?}: backend values");
        }
    }
}
