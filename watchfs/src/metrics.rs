//! `--metrics ADDR`: Prometheus text metrics about reloads.
//!
//! The names are those of prometheus-config-reloader (`reloader_` prefix), so
//! existing alerts such as `ConfigReloaderSidecarErrors`
//! (`max_over_time(reloader_last_reload_successful[5m]) == 0`) keep working
//! when watchfs replaces it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters shared between the main loop and the metrics server.
#[derive(Debug, Default)]
pub struct Metrics {
    reloads: AtomicU64,
    reloads_failed: AtomicU64,
    /// 1 when the last reload succeeded (and before any reload), else 0.
    last_failed: AtomicU64,
    last_success_millis: AtomicU64,
    watch_events: AtomicU64,
    watches: AtomicU64,
}

impl Metrics {
    /// Records a finished reload attempt.
    pub fn record_reload(&self, ok: bool) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        if ok {
            let millis = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            self.last_success_millis
                .store(u64::try_from(millis).unwrap_or(u64::MAX), Ordering::Relaxed);
            self.last_failed.store(0, Ordering::Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Ordering::Relaxed);
            self.last_failed.store(1, Ordering::Relaxed);
        }
    }

    /// Counts raw events read from the watcher.
    pub fn add_events(&self, n: u64) {
        self.watch_events.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the number of kernel watches held.
    pub fn set_watches(&self, n: u64) {
        self.watches.store(n, Ordering::Relaxed);
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let success_seconds = get(&self.last_success_millis) as f64 / 1000.0;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        metric(
            "reloader_reloads_total",
            "counter",
            "Reload attempts (signal, HTTP request or command run).",
            get(&self.reloads).to_string(),
        );
        metric(
            "reloader_reloads_failed_total",
            "counter",
            "Reload attempts that failed, including failed --check runs.",
            get(&self.reloads_failed).to_string(),
        );
        metric(
            "reloader_last_reload_successful",
            "gauge",
            "Whether the last reload attempt succeeded (1 before any attempt).",
            (1 - get(&self.last_failed)).to_string(),
        );
        metric(
            "reloader_last_reload_success_timestamp_seconds",
            "gauge",
            "Unix time of the last successful reload (0 before any).",
            format!("{success_seconds:.3}"),
        );
        metric(
            "reloader_watch_events_total",
            "counter",
            "Filesystem events received.",
            get(&self.watch_events).to_string(),
        );
        metric(
            "reloader_watches",
            "gauge",
            "Kernel watches (or file descriptors) held.",
            get(&self.watches).to_string(),
        );
        out
    }
}

/// Serves `metrics` on `addr` (any path answers; `/metrics` is the usual one)
/// from a background thread; returns the address bound (port 0 picks one).
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
    let bound = server.server_addr().to_ip().unwrap_or(addr);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let header = tiny_http::Header::from_bytes(
                    &b"Content-Type"[..],
                    &b"text/plain; version=0.0.4; charset=utf-8"[..],
                )
                .expect("static header is valid");
                let response =
                    tiny_http::Response::from_string(metrics.render()).with_header(header);
                // A client that hung up is its own problem.
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("--metrics: cannot start server thread: {e}"))?;
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
            "0.000"
        );
        metrics.record_reload(false);
        metrics.add_events(5);
        metrics.set_watches(3);
        let text = metrics.render();
        assert_eq!(value(&text, "reloader_reloads_total"), "1");
        assert_eq!(value(&text, "reloader_reloads_failed_total"), "1");
        assert_eq!(value(&text, "reloader_last_reload_successful"), "0");
        assert_eq!(value(&text, "reloader_watch_events_total"), "5");
        assert_eq!(value(&text, "reloader_watches"), "3");
        metrics.record_reload(true);
        let text = metrics.render();
        assert_eq!(value(&text, "reloader_reloads_total"), "2");
        assert_eq!(value(&text, "reloader_last_reload_successful"), "1");
        let stamp: f64 = value(&text, "reloader_last_reload_success_timestamp_seconds")
            .parse()
            .unwrap();
        assert!(stamp > 1.6e9, "{stamp}");
    }

    #[test]
    fn server_answers_over_http() {
        let metrics = Arc::new(Metrics::default());
        metrics.add_events(7);
        let addr = serve("127.0.0.1:0".parse().unwrap(), metrics).unwrap();
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert!(
            reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
            "{reply}"
        );
        assert!(reply.contains("reloader_watch_events_total 7"), "{reply}");
    }
}
