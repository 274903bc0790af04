//! `--backend` and `--poll-interval`: which backend watches each root.

use std::time::Duration;

use clap::{Args, ValueEnum};
use watch_core::{Backend, Config, RootBackend};

use crate::args::parse_duration;

/// Backend options (flattened into the command line).
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// How changes are noticed. auto: the kernel's notifications (inotify on
    /// Linux, kqueue on macOS and the BSDs), except for roots on network,
    /// FUSE and shared filesystems (nfs, nfs4, cifs, smb3, 9p, virtiofs,
    /// fuse.*), whose changes made elsewhere the kernel never reports: those
    /// are polled. The startup lines say which root got which and why.
    #[arg(long, value_name = "BACKEND", default_value = "auto")]
    pub backend: BackendFlag,

    /// How often polled roots are rescanned.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub poll_interval: Duration,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err("must be greater than 0".into()),
        interval => Ok(interval),
    }
}

/// Values of `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendFlag {
    /// The kernel backend; poll for roots on network, FUSE and shared filesystems.
    Auto,
    /// Linux inotify for every root.
    Inotify,
    /// kqueue for every root (macOS, the BSDs).
    Kqueue,
    /// Rescan every root each --poll-interval.
    Poll,
}

impl BackendArgs {
    /// Applies the watcher-wide part to `config`; a backend this build
    /// cannot run is an error naming the flag.
    pub fn configure(&self, config: Config) -> Result<Config, String> {
        let config = config.poll_interval(self.poll_interval);
        let backend = match self.backend {
            BackendFlag::Auto => return Ok(config),
            BackendFlag::Inotify => Backend::Inotify,
            BackendFlag::Kqueue => Backend::Kqueue,
            BackendFlag::Poll => Backend::Poll,
        };
        if !backend.is_available() {
            return Err(format!(
                "--backend {backend}: not available on this system (available: auto, {}poll)",
                if Backend::platform_default() == Backend::Poll {
                    String::new()
                } else {
                    format!("{}, ", Backend::platform_default())
                }
            ));
        }
        Ok(config.backend(backend))
    }

    /// The per-root choice `watch_with` gets.
    pub fn root_backend(&self) -> RootBackend {
        match self.backend {
            BackendFlag::Auto => RootBackend::Auto,
            _ => RootBackend::Watcher,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        backend: BackendArgs,
    }

    fn parse(args: &[&str]) -> Result<BackendArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|c| c.backend)
    }

    #[test]
    fn auto_is_the_default_and_picks_per_root() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.backend, BackendFlag::Auto);
        assert_eq!(args.poll_interval, Duration::from_secs(1));
        assert_eq!(args.root_backend(), RootBackend::Auto);
        let config = args.configure(Config::default()).unwrap();
        assert_eq!(config.selected_backend(), Backend::platform_default());
    }

    #[test]
    fn an_explicit_backend_is_used_for_every_root() {
        let args = parse(&["--backend", "poll", "--poll-interval", "250ms"]).unwrap();
        assert_eq!(args.root_backend(), RootBackend::Watcher);
        let config = args.configure(Config::default()).unwrap();
        assert_eq!(config.selected_backend(), Backend::Poll);
    }

    #[test]
    fn bad_values_are_errors_naming_the_flag() {
        let err = parse(&["--backend", "fsevents"]).unwrap_err().to_string();
        assert!(err.contains("--backend"), "{err}");
        let err = parse(&["--poll-interval", "soon"]).unwrap_err().to_string();
        assert!(err.contains("--poll-interval"), "{err}");
        let err = parse(&["--poll-interval", "0s"]).unwrap_err().to_string();
        assert!(
            err.contains("--poll-interval") && err.contains("greater than 0"),
            "{err}"
        );
        let unavailable = [BackendFlag::Inotify, BackendFlag::Kqueue]
            .into_iter()
            .find(|flag| {
                let backend = if *flag == BackendFlag::Inotify {
                    Backend::Inotify
                } else {
                    Backend::Kqueue
                };
                !backend.is_available()
            });
        if let Some(flag) = unavailable {
            let args = BackendArgs {
                backend: flag,
                poll_interval: Duration::from_secs(1),
            };
            let err = args.configure(Config::default()).unwrap_err();
            assert!(err.starts_with("--backend "), "{err}");
        }
    }
}
