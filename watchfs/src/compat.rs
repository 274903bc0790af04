//! Drop-in flags of configmap-reload and prometheus-config-reloader, so a
//! manifest written for either keeps its `args` when the image is swapped
//! for watchfs. Each is translated into watchfs's own options before
//! validation (see the table in watchfs/README.md), plus `--config-file` /
//! `--config-envsubst-file` rendering ([`Render`]) and the
//! `--watch-interval` re-check, which have no native spelling.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::args::{Cli, StatusMatch, parse_duration};
use crate::metrics::ListenAddr;

/// The drop-in flags (flattened into the command line).
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Drop-in flags of configmap-reload and prometheus-config-reloader")]
pub struct CompatArgs {
    /// configmap-reload: a directory to watch (repeatable); as a PATH.
    #[arg(long, value_name = "DIR")]
    pub volume_dir: Vec<PathBuf>,
    /// configmap-reload: a URL to send the reload request to (repeatable:
    /// each gets the request); as --post.
    #[arg(long, value_name = "URL")]
    pub webhook_url: Vec<String>,
    /// configmap-reload: the request method (default POST); as --method.
    #[arg(long, value_name = "METHOD")]
    pub webhook_method: Option<String>,
    /// configmap-reload: the status meaning success (default 200); as --expect-status.
    #[arg(long, value_name = "CODE")]
    pub webhook_status_code: Option<u16>,
    /// configmap-reload: retries after a failed request (default 1); as --retries.
    #[arg(long, value_name = "N")]
    pub webhook_retries: Option<u32>,
    /// configmap-reload: where to serve metrics (default :9533); as --metrics.
    #[arg(long = "web.listen-address", value_name = "ADDR", value_parser = ListenAddr::parse)]
    pub web_listen_address: Option<ListenAddr>,
    /// configmap-reload: the metrics path (default /metrics).
    #[arg(long = "web.telemetry-path", value_name = "PATH")]
    pub web_telemetry_path: Option<String>,

    /// prometheus-config-reloader: the reload URL; as --post.
    #[arg(long, value_name = "URL")]
    pub reload_url: Option<String>,
    /// prometheus-config-reloader: a directory to watch (repeatable); as a PATH.
    #[arg(long, value_name = "DIR")]
    pub watched_dir: Vec<PathBuf>,
    /// prometheus-config-reloader: the config file to watch (and to render
    /// into --config-envsubst-file).
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// prometheus-config-reloader: where to write --config-file with $(VAR)
    /// and ${VAR} replaced from the environment (gunzipped if it is .gz),
    /// atomically, before each reload.
    #[arg(long, value_name = "FILE", requires = "config_file")]
    pub config_envsubst_file: Option<PathBuf>,
    /// prometheus-config-reloader: where to serve metrics; as --metrics.
    #[arg(long, value_name = "ADDR", value_parser = ListenAddr::parse)]
    pub listen_address: Option<ListenAddr>,
    /// prometheus-config-reloader: re-check everything this often even
    /// without events (default 3m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub watch_interval: Option<Duration>,
    /// prometheus-config-reloader: quiet time before acting; as --debounce.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub delay_interval: Option<Duration>,
    /// prometheus-config-reloader: wait between retries; as --backoff.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub retry_interval: Option<Duration>,
    /// prometheus-config-reloader: timeout of one reload request; as --timeout.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub reload_timeout: Option<Duration>,
    /// prometheus-config-reloader: http (POST --reload-url) or signal
    /// (SIGHUP to the process named by --process-executable-name).
    #[arg(long, value_name = "METHOD")]
    pub reload_method: Option<ReloadMethod>,
    /// prometheus-config-reloader: the process to signal (default prometheus).
    #[arg(long, value_name = "NAME")]
    pub process_executable_name: Option<String>,
}

/// Values of `--reload-method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReloadMethod {
    /// An HTTP request to --reload-url.
    Http,
    /// SIGHUP to the process named by --process-executable-name.
    Signal,
}

impl CompatArgs {
    fn configmap_reload(&self) -> bool {
        !self.volume_dir.is_empty() || !self.webhook_url.is_empty()
    }

    fn config_reloader(&self) -> bool {
        self.reload_url.is_some()
            || !self.watched_dir.is_empty()
            || self.config_file.is_some()
            || self.reload_method.is_some()
    }

    /// `--webhook-url`s after the first (the first becomes `--post`).
    pub fn extra_webhook_urls(&self) -> impl Iterator<Item = &String> {
        self.webhook_url.iter().skip(1)
    }

    /// The executable name whose process gets SIGHUP, in signal mode.
    pub fn signal_executable(&self) -> Option<String> {
        (self.reload_method == Some(ReloadMethod::Signal)).then(|| {
            self.process_executable_name
                .clone()
                .unwrap_or_else(|| "prometheus".to_string())
        })
    }

    /// The `--watch-interval` re-check period, when one applies.
    pub fn recheck_interval(&self) -> Option<Duration> {
        if !self.config_reloader() {
            return None;
        }
        Some(self.watch_interval.unwrap_or(Duration::from_secs(180))).filter(|d| !d.is_zero())
    }

    /// The metrics path (`--web.telemetry-path`, else `/metrics`).
    pub fn metrics_path(&self) -> &str {
        self.web_telemetry_path.as_deref().unwrap_or("/metrics")
    }
}

/// Translates the drop-in flags into `cli`'s own options; returns the
/// renderer for `--config-envsubst-file`. Conflicts with native flags are
/// usage errors naming both.
pub fn apply(cli: &mut Cli) -> Result<Option<Render>, String> {
    let compat = &cli.compat;
    if compat.configmap_reload() && compat.config_reloader() {
        return Err("configmap-reload flags (--volume-dir, --webhook-url) and \
                    prometheus-config-reloader flags (--reload-url, --watched-dir, --config-file) \
                    cannot be mixed"
            .into());
    }
    let conflict = |compat_flag: &str, native: &str| {
        format!("{compat_flag} and {native} say the same thing; give one of them")
    };
    if !compat.configmap_reload() && !compat.config_reloader() {
        for (set, flag) in [
            (compat.webhook_method.is_some(), "--webhook-method"),
            (
                compat.webhook_status_code.is_some(),
                "--webhook-status-code",
            ),
            (compat.webhook_retries.is_some(), "--webhook-retries"),
            (compat.web_listen_address.is_some(), "--web.listen-address"),
            (compat.web_telemetry_path.is_some(), "--web.telemetry-path"),
            (
                compat.config_envsubst_file.is_some(),
                "--config-envsubst-file",
            ),
            (compat.listen_address.is_some(), "--listen-address"),
            (compat.watch_interval.is_some(), "--watch-interval"),
            (compat.delay_interval.is_some(), "--delay-interval"),
            (compat.retry_interval.is_some(), "--retry-interval"),
            (compat.reload_timeout.is_some(), "--reload-timeout"),
            (
                compat.process_executable_name.is_some(),
                "--process-executable-name",
            ),
        ] {
            if set {
                return Err(format!(
                    "{flag} belongs to the configmap-reload or prometheus-config-reloader flags; \
                     give --volume-dir/--webhook-url or --reload-url/--watched-dir/--config-file too"
                ));
            }
        }
        return Ok(None);
    }
    if let Some(path) = &compat.web_telemetry_path
        && !path.starts_with('/')
    {
        return Err(format!("--web.telemetry-path {path}: must start with '/'"));
    }
    let mut paths: Vec<PathBuf> = Vec::new();
    paths.extend(compat.volume_dir.iter().cloned());
    paths.extend(compat.watched_dir.iter().cloned());
    paths.extend(compat.config_file.iter().cloned());

    let url = if compat.configmap_reload() {
        compat.webhook_url.first().cloned()
    } else if compat.reload_method == Some(ReloadMethod::Signal) {
        if compat.reload_url.is_some() {
            return Err("--reload-url does not apply with --reload-method signal".into());
        }
        None
    } else {
        Some(
            compat
                .reload_url
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:9090/-/reload".to_string()),
        )
    };
    let method = compat.webhook_method.clone();
    let status = compat.webhook_status_code;
    let retries = if compat.configmap_reload() {
        Some(compat.webhook_retries.unwrap_or(1))
    } else {
        None
    };
    let listen = if compat.configmap_reload() {
        Some(
            compat
                .web_listen_address
                .clone()
                .unwrap_or_else(|| ListenAddr::parse(":9533").expect("valid default")),
        )
    } else {
        compat.listen_address.clone()
    };
    let signal_by_name = compat.signal_executable().is_some();
    let delay = compat.delay_interval;
    let backoff = compat.retry_interval;
    let timeout = compat.reload_timeout;
    let render = match (&compat.config_file, &compat.config_envsubst_file) {
        (Some(input), Some(output)) => Some(Render {
            input: input.clone(),
            output: output.clone(),
        }),
        _ => None,
    };

    if !paths.is_empty() {
        if !cli.paths.is_empty() {
            return Err(conflict("--volume-dir/--watched-dir/--config-file", "PATH"));
        }
        cli.paths = paths;
    }
    if let Some(url) = url {
        if cli.post.is_some() {
            return Err(conflict("--webhook-url/--reload-url", "--post"));
        }
        cli.post = Some(url);
    }
    if let Some(method) = method {
        cli.method = method;
    }
    if let Some(code) = status {
        cli.expect_status = StatusMatch::Code(code);
    }
    if let Some(retries) = retries {
        cli.retries = retries;
    }
    if let Some(listen) = listen {
        if cli.metrics.is_some() {
            return Err(conflict(
                "--web.listen-address/--listen-address",
                "--metrics",
            ));
        }
        cli.metrics = Some(listen);
    }
    if signal_by_name {
        if cli.signal.is_some() {
            return Err(conflict("--reload-method signal", "--signal"));
        }
        cli.signal = Some(rustix::process::Signal::HUP);
    }
    if let Some(delay) = delay {
        if delay.is_zero() {
            return Err("--delay-interval must be greater than 0".into());
        }
        cli.debounce = Some(delay);
    }
    if let Some(backoff) = backoff {
        cli.backoff = backoff;
    }
    if let Some(timeout) = timeout {
        cli.timeout = timeout;
    }
    Ok(render)
}

/// The pid of a running process whose executable is named `name` (its
/// `/proc/PID/comm`, or the file name of its first argument), the lowest
/// one if several run. Not watchfs itself.
pub fn find_process(name: &str) -> Result<i32, String> {
    let me = std::process::id();
    let entries =
        std::fs::read_dir("/proc").map_err(|e| format!("cannot list processes in /proc: {e}"))?;
    let mut found: Vec<i32> = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid as u32 == me {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let argv0 = std::fs::read(entry.path().join("cmdline"))
            .ok()
            .and_then(|c| c.split(|&b| b == 0).next().map(<[u8]>::to_vec))
            .unwrap_or_default();
        let argv0_name = Path::new(std::ffi::OsStr::new(&*String::from_utf8_lossy(&argv0)))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        if comm.trim_end() == name || argv0_name.as_deref() == Some(name) {
            found.push(pid);
        }
    }
    found
        .into_iter()
        .min()
        .ok_or_else(|| format!("no running process named {name} (--process-executable-name)"))
}

/// `--config-file` rendered into `--config-envsubst-file`.
#[derive(Debug, Clone)]
pub struct Render {
    /// The template (plain or gzip).
    pub input: PathBuf,
    /// Where the result goes, replaced atomically.
    pub output: PathBuf,
}

impl Render {
    /// Reads the input (gunzipping it when it starts with the gzip magic
    /// bytes), substitutes the environment, and replaces the output
    /// atomically (a temporary file in the same directory, then a rename)
    /// when its content differs. Returns whether the output changed.
    pub fn apply(&self) -> Result<bool, String> {
        let raw = std::fs::read(&self.input)
            .map_err(|e| format!("--config-file {}: {e}", self.input.display()))?;
        let text = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(|e| {
                    format!(
                        "--config-file {}: not valid gzip: {e}",
                        self.input.display()
                    )
                })?;
            out
        } else {
            raw
        };
        let env: HashMap<OsString, OsString> = std::env::vars_os().collect();
        let rendered = substitute(&text, &|name| {
            env.get(std::ffi::OsStr::new(name))
                .map(|v| v.as_encoded_bytes().to_vec())
        })
        .map_err(|e| format!("--config-file {}: {e}", self.input.display()))?;
        if std::fs::read(&self.output).is_ok_and(|old| old == rendered) {
            return Ok(false);
        }
        let dir = self
            .output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self.output.file_name().ok_or_else(|| {
            format!(
                "--config-envsubst-file {}: not a file name",
                self.output.display()
            )
        })?;
        let mut tmp_name = OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".watchfs-{}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&rendered)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.output)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("--config-envsubst-file {}: {e}", self.output.display())
        })?;
        Ok(true)
    }
}

/// Replaces `$(NAME)` and `${NAME}` (NAME: letters, digits, `_`) with the
/// variable's value. A reference to an unset variable is an error naming
/// it and its line; `$$(NAME)` and `$${NAME}` are literal `$(NAME)` and
/// `${NAME}`; any other `$` is kept as it is (`$1`, `$VAR`, `${1:-x}`).
pub fn substitute(
    text: &[u8],
    lookup: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    let mut line = 1;
    while i < text.len() {
        let b = text[i];
        if b == b'\n' {
            line += 1;
        }
        if b != b'$' {
            out.push(b);
            i += 1;
            continue;
        }
        // `$$(` escapes a reference.
        if text.get(i + 1) == Some(&b'$')
            && let Some(len) = reference_len(&text[i + 1..])
        {
            out.extend_from_slice(&text[i + 1..i + 1 + len]);
            i += 1 + len;
            continue;
        }
        match reference_len(&text[i..]) {
            Some(len) => {
                let name = std::str::from_utf8(&text[i + 2..i + len - 1]).unwrap_or_default();
                let value = lookup(name).ok_or_else(|| {
                    format!("line {line}: environment variable {name} is not set")
                })?;
                out.extend_from_slice(&value);
                i += len;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Length of `$(NAME)` or `${NAME}` at the start of `text`, if it is one.
fn reference_len(text: &[u8]) -> Option<usize> {
    let close = match text.get(1)? {
        b'(' => b')',
        b'{' => b'}',
        _ => return None,
    };
    let name_len = text[2..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    (name_len > 0 && text.get(2 + name_len) == Some(&close)).then_some(name_len + 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn env(name: &str) -> Option<Vec<u8>> {
        match name {
            "HOSTNAME" => Some(b"pod-0".to_vec()),
            "EMPTY" => Some(Vec::new()),
            "WEIRD" => Some(b"a$(HOSTNAME)b\n'".to_vec()),
            _ => None,
        }
    }

    fn sub(text: &str) -> Result<String, String> {
        substitute(text.as_bytes(), &env).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn both_reference_forms_are_substituted() {
        assert_eq!(
            sub("replica: '$(HOSTNAME)' x=${HOSTNAME}").unwrap(),
            "replica: 'pod-0' x=pod-0"
        );
        assert_eq!(sub("e=[$(EMPTY)]").unwrap(), "e=[]");
        // A value is inserted as it is, never expanded again.
        assert_eq!(sub("$(WEIRD)").unwrap(), "a$(HOSTNAME)b\n'");
    }

    #[test]
    fn a_missing_variable_is_an_error_naming_it_and_its_line() {
        let err = sub("a: 1\nb: $(NOT_SET_ANYWHERE)\n").unwrap_err();
        assert_eq!(
            err,
            "line 2: environment variable NOT_SET_ANYWHERE is not set"
        );
        assert!(sub("${ALSO_MISSING}").unwrap_err().contains("ALSO_MISSING"));
    }

    #[test]
    fn odd_dollars_are_kept() {
        for text in [
            "$",
            "$$",
            "cost: 5$",
            "$HOSTNAME",
            "${1:-x}",
            "$()",
            "${}",
            "$(A B)",
            "$(unclosed",
            "${x",
            "regex: '^(.*)$'",
            "$ (HOSTNAME)",
        ] {
            assert_eq!(sub(text).unwrap(), text, "{text:?}");
        }
        assert_eq!(
            sub("$$(HOSTNAME) $${HOSTNAME}").unwrap(),
            "$(HOSTNAME) ${HOSTNAME}"
        );
        // Not UTF-8 around a reference: bytes pass through.
        let out = substitute(b"\xff$(HOSTNAME)\xfe", &env).unwrap();
        assert_eq!(out, b"\xffpod-0\xfe");
    }

    proptest::proptest! {
        #[test]
        fn substitution_never_panics(text in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = substitute(&text, &env);
        }
    }

    fn cli(args: &[&str]) -> Result<Cli, String> {
        let mut cli = Cli::try_parse_from(std::iter::once("watchfs").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        apply(&mut cli)?;
        cli.validate()?;
        Ok(cli)
    }

    #[test]
    fn configmap_reload_flags_map_to_native_ones() {
        let c = cli(&[
            "--volume-dir",
            "/a",
            "--volume-dir",
            "/b",
            "--webhook-url",
            "http://h/-/reload",
            "--webhook-method",
            "PUT",
            "--webhook-status-code",
            "204",
            "--webhook-retries",
            "4",
        ])
        .unwrap();
        assert_eq!(c.paths, [PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.post.as_deref(), Some("http://h/-/reload"));
        assert_eq!(c.method, "PUT");
        assert_eq!(c.expect_status, StatusMatch::Code(204));
        assert_eq!(c.retries, 4);
        assert_eq!(c.metrics, Some(ListenAddr::parse(":9533").unwrap()));
    }

    #[test]
    fn config_reloader_flags_map_to_native_ones() {
        let c = cli(&[
            "--reload-url",
            "http://p:9090/-/reload",
            "--watched-dir",
            "/rules",
            "--config-file",
            "/in/p.yaml.gz",
            "--config-envsubst-file",
            "/out/p.yaml",
            "--listen-address",
            ":8080",
            "--delay-interval",
            "2s",
            "--retry-interval",
            "7s",
            "--reload-timeout",
            "9s",
        ])
        .unwrap();
        assert_eq!(
            c.paths,
            [PathBuf::from("/rules"), PathBuf::from("/in/p.yaml.gz")]
        );
        assert_eq!(c.post.as_deref(), Some("http://p:9090/-/reload"));
        assert_eq!(c.debounce, Some(Duration::from_secs(2)));
        assert_eq!(c.backoff, Duration::from_secs(7));
        assert_eq!(c.timeout, Duration::from_secs(9));
        assert_eq!(c.compat.recheck_interval(), Some(Duration::from_secs(180)));
        let c = cli(&["--reload-method", "signal", "--config-file", "/p.yaml"]).unwrap();
        assert_eq!(c.signal, Some(rustix::process::Signal::HUP));
        assert_eq!(c.compat.signal_executable().as_deref(), Some("prometheus"));
        assert!(c.post.is_none());
    }

    #[test]
    fn conflicts_and_strays_are_usage_errors_naming_the_flags() {
        let err = cli(&[
            "--volume-dir",
            "/a",
            "--post",
            "http://x/",
            "--webhook-url",
            "http://y/",
        ])
        .unwrap_err();
        assert!(err.contains("--post"), "{err}");
        let err = cli(&["--volume-dir", "/a", "--watched-dir", "/b"]).unwrap_err();
        assert!(err.contains("cannot be mixed"), "{err}");
        let c = cli(&[
            "--volume-dir",
            "/a",
            "--webhook-url",
            "http://a/",
            "--webhook-url",
            "http://b/",
        ])
        .unwrap();
        assert_eq!(c.post.as_deref(), Some("http://a/"));
        assert_eq!(
            c.compat.extra_webhook_urls().collect::<Vec<_>>(),
            ["http://b/"]
        );
        let err = cli(&["--listen-address", ":1", "."]).unwrap_err();
        assert!(err.starts_with("--listen-address belongs"), "{err}");
        let err = cli(&["--volume-dir", "/a", "--web.telemetry-path", "metrics"]).unwrap_err();
        assert!(err.contains("--web.telemetry-path"), "{err}");
        let err = cli(&["--reload-method", "smoke", "--watched-dir", "/a"]).unwrap_err();
        assert!(err.contains("--reload-method"), "{err}");
        let err = cli(&["--watched-dir", "/a", "--watch-interval", "soon"]).unwrap_err();
        assert!(err.contains("--watch-interval"), "{err}");
    }

    #[test]
    fn render_gunzips_substitutes_and_replaces_atomically() {
        use std::io::Write;
        let dir = test_support::TempDir::new("watchfs-unit");
        let input = dir.path().join("prometheus.yaml.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"external_labels: {replica: '$(WATCHFS_TEST_REPLICA)'}\n")
            .unwrap();
        std::fs::write(&input, gz.finish().unwrap()).unwrap();
        let output = dir.path().join("out.yaml");
        let render = Render {
            input: input.clone(),
            output: output.clone(),
        };
        let err = render.apply().unwrap_err();
        assert!(err.contains("WATCHFS_TEST_REPLICA is not set"), "{err}");
        assert!(!output.exists(), "nothing is written on error");
        let plain = dir.path().join("plain.yaml");
        std::fs::write(&plain, "path: ${PATH}\n").unwrap();
        let render = Render {
            input: plain,
            output: output.clone(),
        };
        assert!(render.apply().unwrap());
        let home = std::env::var("PATH").unwrap();
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            format!("path: {home}\n")
        );
        assert!(!render.apply().unwrap(), "same content: not rewritten");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
