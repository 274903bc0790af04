//! `--post URL`: an HTTP request with retries and backoff (ureq).

use std::time::Duration;

use ureq::Agent;
use ureq::http::{Method, Request};

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
