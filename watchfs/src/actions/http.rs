//! `--post URL`: an HTTP request with retries and backoff (ureq).

use std::time::Duration;

use ureq::Agent;
use ureq::http::{Method, Request};
use ureq::tls::{RootCerts, TlsConfig};

use crate::args::StatusMatch;

/// Hint printed when the endpoint answers 403 Forbidden.
pub const LIFECYCLE_HINT: &str = "hint: Prometheus and Alertmanager answer 403 on /-/reload unless \
they run with --web.enable-lifecycle";

/// Settings of the HTTP action.
#[derive(Clone, Debug)]
pub struct HttpAction {
    /// Target URL.
    pub url: String,
    /// Request method.
    pub method: String,
    /// Status counted as success.
    pub expect: StatusMatch,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Wait before the first retry, doubled for each further one.
    pub backoff: Duration,
    /// Timeout for one attempt.
    pub timeout: Duration,
}

/// One failed attempt.
#[derive(Debug)]
enum Failure {
    /// The server answered with an unexpected status; retrying may help
    /// only for 408, 429 and 5xx.
    Status(u16),
    /// No answer: connection refused, timeout, ...
    Transport(String),
}

impl HttpAction {
    /// Sends the request, retrying as configured. Returns the final status
    /// on success; on failure a message (with the 403 hint where it
    /// applies). `log` receives one line per failed attempt that will be
    /// retried; `should_stop` cuts a backoff short at shutdown.
    pub fn send(
        &self,
        log: &mut dyn FnMut(&str),
        should_stop: &dyn Fn() -> bool,
    ) -> Result<u16, String> {
        let agent: Agent = Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(&agent) {
                Ok(status) => return Ok(status),
                Err(failure) => failure,
            };
            let retryable = match failure {
                Failure::Status(code) => code == 408 || code == 429 || code >= 500,
                Failure::Transport(_) => true,
            };
            let message = match &failure {
                Failure::Status(403) => format!(
                    "{} {} answered 403 Forbidden (expected {})\n{LIFECYCLE_HINT}",
                    self.method, self.url, self.expect
                ),
                Failure::Status(code) => format!(
                    "{} {} answered {code} (expected {})",
                    self.method, self.url, self.expect
                ),
                Failure::Transport(e) => format!("{} {}: {e}", self.method, self.url),
            };
            if !retryable || attempt > self.retries || should_stop() {
                let tries = if attempt > 1 {
                    format!(" after {attempt} attempts")
                } else {
                    String::new()
                };
                return Err(format!("{message}{tries}"));
            }
            log(&format!("{message}; retrying in {delay:?}"));
            sleep_unless(delay, should_stop);
            delay = delay.saturating_mul(2);
        }
    }

    fn attempt(&self, agent: &Agent) -> Result<u16, Failure> {
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|e| Failure::Transport(format!("invalid method: {e}")))?;
        let request = Request::builder()
            .method(method)
            .uri(&self.url)
            .header("User-Agent", concat!("watchfs/", env!("CARGO_PKG_VERSION")))
            .body(&[][..])
            .map_err(|e| Failure::Transport(format!("invalid request: {e}")))?;
        let response = agent
            .run(request)
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        if self.expect.matches(status) {
            Ok(status)
        } else {
            Err(Failure::Status(status))
        }
    }
}

fn sleep_unless(total: Duration, should_stop: &dyn Fn() -> bool) {
    let step = Duration::from_millis(50);
    let mut left = total;
    while !left.is_zero() && !should_stop() {
        let now = left.min(step);
        std::thread::sleep(now);
        left -= now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A server answering `statuses` in turn (the last repeats) and
    /// recording each request's method.
    fn server(statuses: &[u16]) -> (String, Arc<Mutex<Vec<String>>>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let statuses = statuses.to_vec();
        std::thread::spawn(move || {
            for (i, request) in server.incoming_requests().enumerate() {
                log.lock().unwrap().push(request.method().to_string());
                let status = statuses[i.min(statuses.len() - 1)];
                let _ = request.respond(tiny_http::Response::empty(status));
            }
        });
        (format!("http://{addr}/-/reload"), seen)
    }

    fn action(url: &str) -> HttpAction {
        HttpAction {
            url: url.to_string(),
            method: "POST".into(),
            expect: StatusMatch::Class(2),
            retries: 2,
            backoff: Duration::from_millis(1),
            timeout: Duration::from_secs(30),
        }
    }

    fn send(action: &HttpAction) -> (Result<u16, String>, Vec<String>) {
        let mut lines = Vec::new();
        let result = action.send(&mut |line| lines.push(line.to_string()), &|| false);
        (result, lines)
    }

    #[test]
    fn retries_5xx_until_success() {
        let (url, seen) = server(&[503, 200]);
        let (result, lines) = send(&action(&url));
        assert_eq!(result, Ok(200));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("answered 503") && lines[0].contains("retrying"));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn redirects_and_403_are_not_retried() {
        let (url, seen) = server(&[301]);
        let (result, lines) = send(&action(&url));
        assert!(result.unwrap_err().contains("answered 301"));
        assert!(lines.is_empty());
        assert_eq!(seen.lock().unwrap().len(), 1);

        let (url, _) = server(&[403]);
        let message = send(&action(&url)).0.unwrap_err();
        assert!(message.contains("--web.enable-lifecycle"), "{message}");
    }

    #[test]
    fn method_and_exact_status_are_honoured() {
        let (url, seen) = server(&[200]);
        let mut put = action(&url);
        put.method = "PUT".into();
        put.expect = StatusMatch::Code(204);
        put.retries = 0;
        let message = send(&put).0.unwrap_err();
        assert!(message.contains("answered 200 (expected 204)"), "{message}");
        assert_eq!(*seen.lock().unwrap(), ["PUT"]);
    }

    #[test]
    fn connection_refused_is_retried_then_reported() {
        // Bind and drop a listener: nothing accepts on that port any more.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (result, lines) = send(&action(&format!("http://{addr}/")));
        let message = result.unwrap_err();
        assert!(message.contains("after 3 attempts"), "{message}");
        assert_eq!(lines.len(), 2, "{lines:?}");
    }

    #[test]
    fn https_speaks_tls() {
        // A server that answers in plain HTTP: a TLS client must reject the
        // reply as not TLS, so the attempt fails in transport, not with 200.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            if let Ok((mut stream, _)) = listener.accept() {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            }
        });
        let url = format!("https://{addr}/-/reload");
        let mut https = action(&url);
        https.retries = 0;
        let message = send(&https).0.unwrap_err();
        assert!(!message.contains("answered"), "{message}");
        assert!(message.starts_with(&format!("POST {url}: ")), "{message}");
        // The TLS layer read the plain reply and rejected it (a build
        // without TLS would fail before connecting, with another message).
        assert!(message.contains("InvalidContentType"), "{message}");
    }
}
