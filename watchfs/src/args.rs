//! Command-line arguments.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

const AFTER_HELP: &str = "\
FORMAT PLACEHOLDERS (--format):
  {path}   the path as watched (the new path of a rename)
  {dir}    the directory part of {path}, with a trailing '/'
  {name}   the file-name part of {path}
  {from}   the old path of a rename (empty otherwise)
  {kind}   created, modified, metadata, removed, renamed, overflow
  {type}   file or dir
  {origin} kernel or rescan
  {time}   RFC 3339 time in UTC, e.g. 2026-01-31T12:00:00.123Z
  {{ }}    literal braces
  A trailing newline is added (NUL with -0); \\t and \\n in FORMAT are
  tabs and newlines. Names holding control characters or bytes that are
  not UTF-8 are quoted as GNU ls does ('evil'$'\\n''name'), except with -0,
  which writes the exact bytes.

ACTIONS run once per batch, and only when the bytes of a watched file
really changed (files are read through symlinks and hashed; a touch or a
rewrite with equal content does nothing). The command and the check get
the changed paths as given on the command line (or below a given
directory), one per line, in WATCHFS_CHANGED. Only regular files are
read, at most 32 MiB each; larger files are compared by size, times and
inode; FIFOs, sockets and devices by existence and type.

WHEN ACTIONS RUN: on Linux a save is complete when the writer closes the
file or the new file is renamed into place; a file still open for
writing is waited for (up to 2s); then 5ms without another event settle
the batch. Saves that follow an action within 100ms wait for 100ms of
quiet, so a burst gives a few actions, not one per save. --debounce
replaces both the 5ms and the 100ms (open writers are still waited for).
Elsewhere (kqueue, polled roots) a batch is released after a quiet
period: --debounce, default 100ms.

PENDING CHANGES: a change stays pending until an action succeeds. With
--check, the files are hashed again after the check passes; if one
changed meanwhile, it is checked again instead of applied. A failed
--post or --signal is retried (--retries, --backoff; then every 30s at
most) as long as the change is pending, and at the next event even if the
bytes are the same. HTTP 429, 502, 503, 504, timeouts and connection
errors are retried; any other unexpected status is a rejection: reported
with the first line of the response body, not retried, and the change is
applied again at the next event. A failed COMMAND leaves the change
pending for the next event.

SIGNALS: SIGINT or SIGTERM stop watchfs within a second, also during a
check (its process group is killed and the action skipped), a retry wait
or a request (abandoned). SIGHUP means \"apply now\": the check and the
action run on the current content, changed or not.

STDERR: once every watch is in place, watchfs prints
  watchfs: watches established (N path[s])
Scripts can wait for that line before they change files. With an action,
the line before it says what a change will do, e.g.
  watchfs: watching 2 paths; on change: check 'promtool check config
  prometheus.yml', then POST http://localhost:9090/-/reload

EXIT STATUS: 0 on SIGINT/SIGTERM or after --once; 1 on a runtime error
(or a failed check or action under --once); 2 on a usage error (including
a --post URL that does not parse, a --check or COMMAND program not found
on PATH, and shell syntax in --check without --shell).";

/// Watch files and directories; print events, or run a command, send a
/// signal or POST a URL when a watched file's content changes.
#[derive(Debug, Parser)]
#[command(name = "watchfs", version = crate::version::VERSION, after_help = AFTER_HELP)]
pub struct Cli {
    /// Files or directories to watch. A path that does not exist yet is
    /// watched until it appears.
    #[arg(
        required_unless_present_any = ["volume_dir", "watched_dir", "config_file"],
        value_name = "PATH"
    )]
    pub paths: Vec<PathBuf>,

    /// Print the man page or shell completions on stdout and exit.
    #[arg(long, value_name = "WHAT", exclusive = true)]
    pub generate: Option<crate::generate::Generate>,

    /// Command to run on each change (after `--`). Runs without a shell
    /// unless --shell is given.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,

    /// Watch directories and everything below them.
    #[arg(short, long)]
    pub recursive: bool,

    /// Ignore paths matching GLOB (matched against the whole path and each
    /// name below a watched root; repeatable), e.g. '*.swp' or '.git'.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Only report these kinds (comma-separated). Overflow is always reported.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub events: Vec<KindFilter>,

    /// Print one JSON object per line: time, kind, path, from, is_dir, origin.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Print each event with this template (see FORMAT PLACEHOLDERS).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// With --format: end each record with NUL instead of a newline and
    /// write names as their exact bytes, unquoted (for `xargs -0`).
    #[arg(short = '0', long, requires = "format")]
    pub print0: bool,

    /// Quiet period that groups events into one batch (e.g. 100ms, 2s).
    /// Default with an action on Linux: act once the save is complete (see
    /// WHEN ACTIONS RUN); otherwise 100ms. When given, it is the quiet
    /// period everywhere.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub debounce: Option<Duration>,

    /// Run COMMAND (and --check) with `sh -c`; COMMAND is then one string.
    #[arg(long)]
    pub shell: bool,

    /// What to do when a change arrives while COMMAND still runs.
    #[arg(long, value_name = "POLICY", default_value = "queue")]
    pub on_busy: OnBusy,

    /// Send this signal (HUP, USR1, 10, ...) on each change.
    #[arg(long, value_name = "SIG", value_parser = parse_signal)]
    pub signal: Option<rustix::process::Signal>,

    /// Process to signal.
    #[arg(
        long,
        value_name = "PID",
        requires = "signal",
        conflicts_with = "pidfile"
    )]
    pub pid: Option<i32>,

    /// File holding the pid of the process to signal (read at each change).
    #[arg(long, value_name = "FILE", requires = "signal")]
    pub pidfile: Option<PathBuf>,

    /// Send an HTTP request to URL on each change (e.g. Prometheus's
    /// http://localhost:9090/-/reload). http:// or https:// (verified
    /// against the system's trusted certificates).
    #[arg(long, value_name = "URL")]
    pub post: Option<String>,

    /// HTTP method for --post.
    #[arg(long, value_name = "METHOD", default_value = "POST", requires = "post")]
    pub method: String,

    /// Status counted as success for --post: a code (200) or a class (2xx).
    #[arg(long, value_name = "STATUS", default_value = "2xx", value_parser = parse_status, requires = "post")]
    pub expect_status: StatusMatch,

    /// Retries of a failed --post request (or signal) before the reload is
    /// reported as failed. The change then stays pending and is retried,
    /// with the wait doubling up to 30s, until it is applied.
    #[arg(long, value_name = "N", default_value_t = 3, requires = "post")]
    pub retries: u32,

    /// Wait before the first retry; doubled for each further retry (at
    /// most 30s once --retries are spent).
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration, requires = "post")]
    pub backoff: Duration,

    /// Timeout for one --post request.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, requires = "post")]
    pub timeout: Duration,

    /// Validation command run before the action (e.g. 'promtool check config
    /// prometheus.yml'); when it fails the action is skipped until the next
    /// change. Split into words like a shell would, but run without one
    /// unless --shell is given.
    #[arg(long, value_name = "COMMAND")]
    pub check: Option<String>,

    /// Record what was last applied in FILE (JSON, replaced atomically), so
    /// that a restarted watchfs applies a change made while it was down,
    /// once, and nothing when nothing changed.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,

    /// Exit after the first change: 0, or 1 if its check or action failed.
    #[arg(long)]
    pub once: bool,

    /// Serve Prometheus metrics at /metrics and health at /healthz (200
    /// while watching, 503 once watching failed) on ADDR: HOST:PORT,
    /// :PORT (every interface), [::]:PORT, localhost:PORT.
    #[arg(long, value_name = "ADDR", value_parser = crate::metrics::ListenAddr::parse)]
    pub metrics: Option<crate::metrics::ListenAddr>,

    /// Fire actions on every batch, even when no file's content changed.
    #[arg(long)]
    pub no_content_check: bool,

    /// Also print events (to stderr) when an action is configured.
    #[arg(short, long, action = ArgAction::SetTrue)]
    pub verbose: bool,

    /// Do not print informational messages on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// `--backend`, `--poll-interval`.
    #[command(flatten)]
    pub backends: crate::backends::BackendArgs,

    /// The drop-in flags of configmap-reload and prometheus-config-reloader.
    #[command(flatten)]
    pub compat: crate::compat::CompatArgs,
}

impl Cli {
    /// Whether any action (command, signal, HTTP request) is configured.
    pub fn has_action(&self) -> bool {
        !self.command.is_empty() || self.signal.is_some() || self.post.is_some()
    }

    /// Checks what clap cannot express; returns a usage message.
    pub fn validate(&self) -> Result<(), String> {
        if self.signal.is_some()
            && self.pid.is_none()
            && self.pidfile.is_none()
            && self.compat.signal_executable().is_none()
        {
            return Err("--signal needs --pid PID or --pidfile FILE".into());
        }
        if self.check.is_some() && !self.has_action() {
            return Err("--check needs an action: -- COMMAND, --signal or --post".into());
        }
        if let Some(pid) = self.pid
            && pid <= 0
        {
            return Err(format!("--pid {pid}: must be a positive process id"));
        }
        if let Some(url) = &self.post {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!(
                    "--post {url}: the URL must start with http:// or https://"
                ));
            }
            if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!("--method {}: not an HTTP method", self.method));
            }
        }
        if self.shell && self.command.len() > 1 {
            return Err("--shell takes the command as one string: -- 'CMD ARGS...'".into());
        }
        if self.debounce.is_some_and(|d| d.is_zero()) {
            return Err("--debounce must be greater than 0".into());
        }
        if self.state_file.is_some() && (!self.has_action() || self.no_content_check) {
            return Err(
                "--state-file records applied content: it needs an action and content checks"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Event kinds selectable with `--events`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindFilter {
    /// A path appeared.
    Created,
    /// Content changed.
    Modified,
    /// Permissions, owner or times changed.
    Metadata,
    /// A path disappeared.
    Removed,
    /// A path was renamed.
    Renamed,
}

/// `--on-busy` policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnBusy {
    /// Run once more after the current run, with all changes since.
    Queue,
    /// Stop the current run (SIGTERM, then SIGKILL) and start again.
    Restart,
    /// Drop changes that arrive while the command runs.
    Ignore,
}

/// What `--expect-status` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusMatch {
    /// Exactly this code.
    Code(u16),
    /// Any code in this hundred (2 for 2xx).
    Class(u16),
}

impl StatusMatch {
    /// Whether `status` is accepted.
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Code(code) => status == code,
            StatusMatch::Class(class) => status / 100 == class,
        }
    }
}

impl std::fmt::Display for StatusMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusMatch::Code(code) => write!(f, "{code}"),
            StatusMatch::Class(class) => write!(f, "{class}xx"),
        }
    }
}

fn parse_status(text: &str) -> Result<StatusMatch, String> {
    let invalid = || format!("'{text}' is not a status code (200) or class (2xx)");
    let lower = text.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        let class: u16 = class.parse().map_err(|_| invalid())?;
        return if (1..=5).contains(&class) {
            Ok(StatusMatch::Class(class))
        } else {
            Err(invalid())
        };
    }
    match text.parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Ok(StatusMatch::Code(code)),
        _ => Err(invalid()),
    }
}

/// Parses `250ms`, `2s`, `1.5s`, `1m`; a bare number means milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("'{text}' is not a duration (e.g. 100ms, 2s, 1m)");
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "" | "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(invalid()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

fn parse_signal(text: &str) -> Result<rustix::process::Signal, String> {
    use rustix::process::Signal;
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let signal = match name {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "QUIT" => Signal::QUIT,
        "TERM" => Signal::TERM,
        "KILL" => Signal::KILL,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        "CONT" => Signal::CONT,
        "STOP" => Signal::STOP,
        "ALRM" => Signal::ALARM,
        "WINCH" => Signal::WINCH,
        number => number
            .parse::<i32>()
            .ok()
            .and_then(Signal::from_named_raw)
            .ok_or_else(|| format!("'{text}' is not a signal name (HUP, USR1, ...) or number"))?,
    };
    Ok(signal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("watchfs").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn paths_and_command_after_double_dash() {
        let cli = parse(&["-r", "a", "b", "--", "make", "-j2"]).unwrap();
        assert_eq!(cli.paths, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(cli.command, [OsString::from("make"), OsString::from("-j2")]);
        assert!(cli.recursive);
        assert_eq!(cli.debounce, None);
        assert_eq!(cli.on_busy, OnBusy::Queue);
        assert!(cli.has_action());
    }

    #[test]
    fn a_path_is_required() {
        let err = parse(&["--json"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn json_and_format_conflict() {
        assert!(parse(&["--json", "--format", "{path}", "."]).is_err());
    }

    #[test]
    fn events_list_is_comma_separated() {
        let cli = parse(&["--events", "created,removed", "."]).unwrap();
        assert_eq!(cli.events, [KindFilter::Created, KindFilter::Removed]);
        assert!(parse(&["--events", "created,bogus", "."]).is_err());
    }

    #[test]
    fn signal_needs_a_target() {
        let cli = parse(&["--signal", "HUP", "x"]).unwrap();
        assert!(cli.validate().unwrap_err().contains("--pid"));
        let cli = parse(&["--signal", "sighup", "--pidfile", "p", "x"]).unwrap();
        assert_eq!(cli.signal, Some(rustix::process::Signal::HUP));
        assert!(cli.validate().is_ok());
        assert!(
            parse(&["--pid", "1", "x"]).is_err(),
            "--pid requires --signal"
        );
        assert!(parse(&["--signal", "HUP", "--pid", "1", "--pidfile", "p", "x"]).is_err());
    }

    #[test]
    fn signals_by_name_and_number() {
        use rustix::process::Signal;
        assert_eq!(parse_signal("USR1"), Ok(Signal::USR1));
        assert_eq!(parse_signal("1"), Ok(Signal::HUP));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("40"), Ok(Duration::from_millis(40)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn status_matching() {
        assert_eq!(parse_status("2xx"), Ok(StatusMatch::Class(2)));
        assert_eq!(parse_status("204"), Ok(StatusMatch::Code(204)));
        assert!(parse_status("9xx").is_err());
        assert!(parse_status("42").is_err());
        assert!(StatusMatch::Class(2).matches(204));
        assert!(!StatusMatch::Class(2).matches(302));
        assert!(StatusMatch::Code(202).matches(202));
        assert!(!StatusMatch::Code(202).matches(200));
    }

    #[test]
    fn post_options_are_checked() {
        assert!(
            parse(&["--method", "PUT", "x"]).is_err(),
            "--method requires --post"
        );
        let cli = parse(&["--post", "ftp://h/-/reload", "x"]).unwrap();
        assert!(cli.validate().unwrap_err().contains("https://"));
        let cli = parse(&["--post", "https://h/-/reload", "x"]).unwrap();
        assert!(cli.validate().is_ok());
        let cli = parse(&["--post", "http://h/-/reload", "--method", "P T", "x"]).unwrap();
        assert!(cli.validate().is_err());
        let cli = parse(&["--post", "http://h/-/reload", "x"]).unwrap();
        assert_eq!(cli.expect_status, StatusMatch::Class(2));
        assert!(cli.validate().is_ok());
    }

    #[test]
    fn check_without_action_is_a_usage_error() {
        let cli = parse(&["--check", "true", "x"]).unwrap();
        assert!(cli.validate().is_err());
    }
}
