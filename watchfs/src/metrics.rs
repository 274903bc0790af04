//! `--metrics ADDR`: Prometheus metrics about reloads, `/healthz`.
//!
//! The names and meanings are those of the thanos reloader, which
//! prometheus-config-reloader (the Prometheus Operator's sidecar) is built
//! on, so existing dashboards and alerts such as `ConfigReloaderSidecarErrors`
//! (`max_over_time(reloader_last_reload_successful[5m]) == 0`) keep working
//! when watchfs replaces it:
//!
//! | metric | type | meaning here |
//! | --- | --- | --- |
//! | `reloader_reloads_total` | counter | reload attempts (signal, HTTP request, command run; a failed `--check` counts as a failed attempt) |
//! | `reloader_reloads_failed_total` | counter | of those, the ones that failed |
//! | `reloader_last_reload_successful` | gauge | 1 if the last attempt succeeded (and before any), else 0 |
//! | `reloader_last_reload_success_timestamp_seconds` | gauge | Unix time of the last successful reload (0 before any) |
//! | `reloader_config_apply_operations_total` | counter | reactions to a change or a periodic re-check: render the config (`--config-envsubst-file`), check, reload |
//! | `reloader_config_apply_operations_failed_total` | counter | of those, the ones where rendering, the check or the reload failed |
//! | `reloader_watches` | gauge | paths watched (the roots given, as thanos counts watched files and directories) |
//! | `reloader_watch_events_total` | counter | events received from the watcher |
//! | `reloader_watch_errors_total` | counter | errors from the watcher: overflows (events lost, a rescan followed), subtrees that could not be watched, read errors |
//! | `watchfs_build_info` | gauge | 1, labelled with `version` and `revision` (the commit) |
//!
//! Plus the standard `process_*` metrics (CPU seconds, resident and
//! virtual memory, open and maximum descriptors, start time, threads).
//! Registered and encoded (Prometheus text format 0.0.4) by the `prometheus`
//! crate.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::core::Collector;
use prometheus::{Encoder, Gauge, IntCounter, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use watch_core::{Event, EventKind};

/// The metrics, shared between the main loop and the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reloads: IntCounter,
    reloads_failed: IntCounter,
    last_reload_successful: IntGauge,
    last_success_timestamp: Gauge,
    applies: IntCounter,
    applies_failed: IntCounter,
    watches: IntGauge,
    watch_events: IntCounter,
    watch_errors: IntCounter,
    /// Watches established and not failed since: what `/healthz` reports.
    healthy: AtomicBool,
}

fn register<C: Collector + Clone + 'static>(registry: &Registry, metric: C) -> C {
    // Names are fixed and distinct, so registration cannot clash.
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are distinct");
    metric
}

impl Default for Metrics {
    fn default() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            register(
                &registry,
                IntCounter::new(name, help).expect("valid metric name"),
            )
        };
        let int_gauge = |name: &str, help: &str| {
            register(
                &registry,
                IntGauge::new(name, help).expect("valid metric name"),
            )
        };
        let reloads = counter("reloader_reloads_total", "Total number of reload requests.");
        let reloads_failed = counter(
            "reloader_reloads_failed_total",
            "Total number of reload requests that failed.",
        );
        let last_reload_successful = int_gauge(
            "reloader_last_reload_successful",
            "Whether the last reload attempt was successful",
        );
        let last_success_timestamp = register(
            &registry,
            Gauge::new(
                "reloader_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful reload",
            )
            .expect("valid metric name"),
        );
        let applies = counter(
            "reloader_config_apply_operations_total",
            "Total number of config apply operations.",
        );
        let applies_failed = counter(
            "reloader_config_apply_operations_failed_total",
            "Total number of config apply operations that failed.",
        );
        let watches = int_gauge(
            "reloader_watches",
            "Number of resources watched by the reloader.",
        );
        let watch_events = counter(
            "reloader_watch_events_total",
            "Total number of events received by the reloader from the watcher.",
        );
        let watch_errors = counter(
            "reloader_watch_errors_total",
            "Total number of errors received by the reloader from the watcher.",
        );
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "watchfs_build_info",
                    "A metric with a constant '1' value labeled by version and revision of watchfs.",
                ),
                &["version", "revision"],
            )
            .expect("valid metric name"),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::version::REVISION])
            .set(1);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process metric names are distinct");
        last_reload_successful.set(1);
        Metrics {
            registry,
            reloads,
            reloads_failed,
            last_reload_successful,
            last_success_timestamp,
            applies,
            applies_failed,
            watches,
            watch_events,
            watch_errors,
            healthy: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// Records a finished reload attempt (and the apply operation it ends).
    pub fn record_reload(&self, ok: bool) {
        self.reloads.inc();
        self.record_apply(ok);
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            self.last_success_timestamp.set(now);
            self.last_reload_successful.set(1);
        } else {
            self.reloads_failed.inc();
            self.last_reload_successful.set(0);
        }
    }

    /// Records an apply operation that ends without a reload attempt (the
    /// rendered config was unchanged, or rendering failed).
    pub fn record_apply(&self, ok: bool) {
        self.applies.inc();
        if !ok {
            self.applies_failed.inc();
        }
    }

    /// Counts events read from the watcher, and the errors among them.
    pub fn observe(&self, events: &[Event]) {
        self.watch_events.inc_by(events.len() as u64);
        let errors = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Overflow | EventKind::Skipped { .. }))
            .count();
        self.watch_errors.inc_by(errors as u64);
    }

    /// Counts raw events read from the watcher.
    #[cfg(test)]
    pub fn add_events(&self, n: u64) {
        self.watch_events.inc_by(n);
    }

    /// Sets the number of paths watched.
    pub fn set_watches(&self, n: u64) {
        self.watches.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Marks the watches established (`true`) or watching failed (`false`);
    /// a failure also counts as a watch error.
    pub fn set_healthy(&self, healthy: bool) {
        if !healthy {
            self.watch_errors.inc();
        }
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text exposition format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding well-formed families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A `--metrics` address: `HOST:PORT`, `:PORT` (every interface),
/// `[::]:PORT`, `localhost:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAddr {
    /// As given, for messages.
    text: String,
    /// `None`: every interface.
    host: Option<String>,
    port: u16,
}

impl ListenAddr {
    /// Parses the flag value; errors say what is expected.
    pub fn parse(text: &str) -> Result<ListenAddr, String> {
        let invalid = |why: &str| format!("'{text}' is not HOST:PORT or :PORT ({why})");
        let (host, port) = text.rsplit_once(':').ok_or_else(|| invalid("no ':PORT'"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid("the port is not a number from 0 to 65535"))?;
        let host = match host {
            "" => None,
            bracketed if bracketed.starts_with('[') => {
                let inner = bracketed
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .ok_or_else(|| invalid("unclosed '['"))?;
                inner
                    .parse::<std::net::Ipv6Addr>()
                    .map_err(|_| invalid("not an IPv6 address inside [ ]"))?;
                Some(inner.to_string())
            }
            host if host.contains(':') => {
                return Err(invalid(
                    "write an IPv6 address in brackets, e.g. [::1]:9533",
                ));
            }
            host => Some(host.to_string()),
        };
        Ok(ListenAddr {
            text: text.to_string(),
            host,
            port,
        })
    }

    /// Binds a listener: every address the host resolves to is tried in
    /// turn; `:PORT` tries `[::]` (both IPv6 and IPv4 where the system
    /// allows) and then `0.0.0.0`.
    fn bind(&self) -> Result<TcpListener, String> {
        let candidates: Vec<SocketAddr> = match &self.host {
            None => vec![
                SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, self.port)),
                SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, self.port)),
            ],
            Some(host) => (host.as_str(), self.port)
                .to_socket_addrs()
                .map_err(|e| format!("{}: cannot resolve {host}: {e}", self.text))?
                .collect(),
        };
        let mut last = None;
        for addr in &candidates {
            match TcpListener::bind(addr) {
                Ok(listener) => return Ok(listener),
                Err(e) => last = Some(format!("{addr}: {e}")),
            }
        }
        Err(format!(
            "{}: cannot listen: {}",
            self.text,
            last.unwrap_or_else(|| "no address".into())
        ))
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Serves `metrics` at `path` (normally `/metrics`) and health at
/// `/healthz` on `addr`, from a background thread; other paths answer 404.
/// Returns the address bound (port 0 picks one).
pub fn serve(addr: &ListenAddr, path: &str, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    let listener = addr.bind()?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("{addr}: cannot read the bound address: {e}"))?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| format!("{addr}: cannot serve: {e}"))?;
    let path = path.to_string();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let target = request.url().split('?').next().unwrap_or("").to_string();
                let (status, content_type, body) = if target == path {
                    (
                        200,
                        "text/plain; version=0.0.4; charset=utf-8",
                        metrics.render(),
                    )
                } else if target == "/healthz" {
                    if metrics.healthy.load(Ordering::Relaxed) {
                        (200, "text/plain; charset=utf-8", "ok: watching\n".into())
                    } else {
                        (
                            503,
                            "text/plain; charset=utf-8",
                            "unavailable: not watching\n".into(),
                        )
                    }
                } else {
                    (
                        404,
                        "text/plain; charset=utf-8",
                        format!("not found; try {path} or /healthz\n"),
                    )
                };
                let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type)
                    .expect("static header is valid");
                let response = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(header);
                // A client that hung up is its own problem.
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("--metrics: cannot start the server thread: {e}"))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn value(text: &str, name: &str) -> String {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .to_string()
    }

    #[test]
    fn counters_follow_reloads() {
        let metrics = Metrics::default();
        let text = metrics.render();
        assert_eq!(value(&text, "reloader_last_reload_successful"), "1");
        assert_eq!(
            value(&text, "reloader_last_reload_success_timestamp_seconds"),
            "0"
        );
        metrics.record_reload(false);
        metrics.add_events(5);
        metrics.set_watches(3);
        let text = metrics.render();
        assert_eq!(value(&text, "reloader_reloads_total"), "1");
        assert_eq!(value(&text, "reloader_reloads_failed_total"), "1");
        assert_eq!(value(&text, "reloader_config_apply_operations_total"), "1");
        assert_eq!(
            value(&text, "reloader_config_apply_operations_failed_total"),
            "1"
        );
        assert_eq!(value(&text, "reloader_last_reload_successful"), "0");
        assert_eq!(value(&text, "reloader_watch_events_total"), "5");
        assert_eq!(value(&text, "reloader_watches"), "3");
        metrics.record_reload(true);
        metrics.record_apply(false);
        let text = metrics.render();
        assert_eq!(value(&text, "reloader_reloads_total"), "2");
        assert_eq!(value(&text, "reloader_config_apply_operations_total"), "3");
        assert_eq!(
            value(&text, "reloader_config_apply_operations_failed_total"),
            "2"
        );
        assert_eq!(value(&text, "reloader_last_reload_successful"), "1");
        let stamp: f64 = value(&text, "reloader_last_reload_success_timestamp_seconds")
            .parse()
            .unwrap();
        assert!(stamp > 1.6e9, "{stamp}");
    }

    #[test]
    fn overflows_and_skips_are_watch_errors() {
        let metrics = Metrics::default();
        metrics.observe(&[
            Event::new(EventKind::Created, "a", false, watch_core::Origin::Kernel),
            Event::new(EventKind::Overflow, "d", true, watch_core::Origin::Kernel),
            Event::new(
                EventKind::Skipped {
                    reason: watch_core::SkipReason::PermissionDenied,
                },
                "d/x",
                true,
                watch_core::Origin::Kernel,
            ),
        ]);
        let text = metrics.render();
        assert_eq!(value(&text, "reloader_watch_events_total"), "3");
        assert_eq!(value(&text, "reloader_watch_errors_total"), "2");
        metrics.set_healthy(false);
        assert_eq!(value(&metrics.render(), "reloader_watch_errors_total"), "3");
    }

    #[test]
    fn build_info_names_version_and_revision() {
        let text = Metrics::default().render();
        let line = text
            .lines()
            .find(|l| l.starts_with("watchfs_build_info{"))
            .unwrap();
        assert!(
            line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
            "{line}"
        );
        assert!(line.contains("revision=\""), "{line}");
        assert!(line.ends_with("} 1"), "{line}");
    }

    #[test]
    fn listen_addresses() {
        for ok in [
            ":9533",
            "0.0.0.0:9533",
            "[::]:9533",
            "localhost:9533",
            "127.0.0.1:0",
        ] {
            ListenAddr::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert_eq!(ListenAddr::parse(":9533").unwrap().host, None);
        assert_eq!(
            ListenAddr::parse("[::1]:80").unwrap().host.as_deref(),
            Some("::1")
        );
        for bad in [
            "9533",
            "host:",
            "host:http",
            ":70000",
            "::1:80",
            "[::1:80",
            "[nope]:80",
        ] {
            let err = ListenAddr::parse(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{bad}: {err}");
        }
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    }

    #[test]
    fn server_answers_metrics_health_and_404() {
        let metrics = Arc::new(Metrics::default());
        metrics.add_events(7);
        let addr = ListenAddr::parse("localhost:0").unwrap();
        let bound = serve(&addr, "/metrics", Arc::clone(&metrics)).unwrap();
        let reply = get(bound, "/metrics");
        assert!(reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"));
        assert!(reply.contains("\r\n\r\n# HELP "), "{reply}");
        assert!(reply.contains("reloader_watch_events_total 7"), "{reply}");
        let health = get(bound, "/healthz");
        assert!(health.contains(" 503 "), "{health}");
        metrics.set_healthy(true);
        let health = get(bound, "/healthz");
        assert!(health.contains(" 200 "), "{health}");
        metrics.set_healthy(false);
        assert!(get(bound, "/healthz").contains(" 503 "));
        assert!(get(bound, "/other").contains(" 404 "));
        assert!(get(bound, "/metrics/x").contains(" 404 "));
    }
}
