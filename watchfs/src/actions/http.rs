//! `--post URL`: one HTTP request per attempt (ureq), classified as done,
//! worth retrying, or rejected. The retry schedule lives in the main loop,
//! so that the change stays pending and the loop keeps serving meanwhile.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use ureq::Agent;
use ureq::http::{Method, Request, Uri};
use ureq::tls::{RootCerts, TlsConfig};

use crate::args::StatusMatch;

/// Hint printed when the endpoint answers 403 Forbidden.
pub const LIFECYCLE_HINT: &str = "hint: Prometheus and Alertmanager answer 403 on /-/reload unless \
they run with --web.enable-lifecycle";

/// Most bytes of a response body read to report why a request was rejected.
const BODY_READ: u64 = 4096;

/// Settings of the HTTP action.
#[derive(Clone, Debug)]
pub struct HttpAction {
    /// Target URL.
    pub url: String,
    /// Request method.
    pub method: String,
    /// Status counted as success.
    pub expect: StatusMatch,
    /// Timeout for one attempt.
    pub timeout: Duration,
}

/// How one attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The expected status came back.
    Done(u16),
    /// No answer (connection refused or reset, timeout, ...) or a status
    /// that means "not now" (429, 502, 503, 504): worth trying again.
    Retry(String),
    /// Any other status: the server refused the change; trying the same
    /// bytes again will not help. The message has the first line of the
    /// body, which usually says why.
    Rejected(String),
    /// The wait was abandoned because watchfs is stopping.
    Stopped,
}

/// Checks at startup that `url` is one ureq can send to: an http or https
/// URL with a host.
pub fn validate_url(url: &str) -> Result<(), String> {
    let hint = "hint: give a full URL such as http://localhost:9090/-/reload";
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("--post '{url}': not a valid URL ({e})\n{hint}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "--post '{url}': the URL must start with http:// or https://\n{hint}"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("--post '{url}': the URL has no host\n{hint}"));
    }
    Ok(())
}

/// Whether an unexpected status is worth retrying.
fn is_transient(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

impl HttpAction {
    fn agent(&self) -> Agent {
        Agent::config_builder()
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
            .into()
    }

    /// Sends the request once. The request runs on its own thread; when
    /// `should_stop` says so, the wait is abandoned at once (the thread ends
    /// with its timeout, and its answer is dropped).
    pub fn attempt(&self, should_stop: &dyn Fn() -> bool) -> Attempt {
        let (tx, rx) = mpsc::channel();
        let action = self.clone();
        let spawned = std::thread::Builder::new()
            .name("post".into())
            .spawn(move || {
                let _ = tx.send(action.send_once());
            });
        if let Err(e) = spawned {
            return Attempt::Retry(format!("cannot start the request: {e}"));
        }
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(attempt) => return attempt,
                Err(RecvTimeoutError::Disconnected) => {
                    return Attempt::Retry(format!("{} {}: request lost", self.method, self.url));
                }
                Err(RecvTimeoutError::Timeout) if should_stop() => return Attempt::Stopped,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn send_once(&self) -> Attempt {
        let what = format!("{} {}", self.method, self.url);
        let method = match Method::from_bytes(self.method.as_bytes()) {
            Ok(method) => method,
            Err(e) => return Attempt::Rejected(format!("{what}: invalid method: {e}")),
        };
        let request = Request::builder()
            .method(method)
            .uri(&self.url)
            .header("User-Agent", concat!("watchfs/", env!("CARGO_PKG_VERSION")))
            .body(&[][..]);
        let request = match request {
            Ok(request) => request,
            Err(e) => return Attempt::Rejected(format!("{what}: invalid request: {e}")),
        };
        let mut response = match self.agent().run(request) {
            Ok(response) => response,
            Err(e) => return Attempt::Retry(format!("{what}: {e}")),
        };
        let status = response.status();
        let code = status.as_u16();
        if self.expect.matches(code) {
            return Attempt::Done(code);
        }
        let reason = status.canonical_reason().unwrap_or("");
        let mut message = format!("{what} answered {code} {reason} (expected {})", self.expect);
        if is_transient(code) {
            return Attempt::Retry(message);
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_READ)
            .read_to_string()
            .unwrap_or_default();
        if let Some(first) = body.lines().map(str::trim).find(|l| !l.is_empty()) {
            message.push_str(": ");
            message.push_str(first);
        }
        if code == 403 {
            message.push('\n');
            message.push_str(LIFECYCLE_HINT);
        }
        Attempt::Rejected(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// A server answering `replies` (status, body) in turn (the last
    /// repeats) and recording each request's method.
    fn server(replies: &[(u16, &str)]) -> (String, Arc<Mutex<Vec<String>>>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let addr = server.server_addr().to_ip().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let replies: Vec<(u16, String)> =
            replies.iter().map(|(s, b)| (*s, b.to_string())).collect();
        std::thread::spawn(move || {
            for (i, request) in server.incoming_requests().enumerate() {
                log.lock().unwrap().push(request.method().to_string());
                let (status, body) = &replies[i.min(replies.len() - 1)];
                let response =
                    tiny_http::Response::from_string(body.clone()).with_status_code(*status);
                let _ = request.respond(response);
            }
        });
        (format!("http://{addr}/-/reload"), seen)
    }

    fn action(url: &str) -> HttpAction {
        HttpAction {
            url: url.to_string(),
            method: "POST".into(),
            expect: StatusMatch::Class(2),
            timeout: Duration::from_secs(30),
        }
    }

    fn attempt(action: &HttpAction) -> Attempt {
        action.attempt(&|| false)
    }

    #[test]
    fn success_and_transient_statuses() {
        let (url, seen) = server(&[(503, ""), (429, ""), (502, ""), (504, ""), (200, "")]);
        let a = action(&url);
        for code in [503, 429, 502, 504] {
            match attempt(&a) {
                Attempt::Retry(message) => {
                    assert!(message.contains(&format!("answered {code}")), "{message}")
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        assert_eq!(attempt(&a), Attempt::Done(200));
        assert_eq!(seen.lock().unwrap().len(), 5);
    }

    #[test]
    fn other_statuses_are_rejections_with_the_reason_from_the_body() {
        let body =
            "\nfailed to reload config: couldn't load configuration (--config.file=\"x\")\nmore";
        let (url, _) = server(&[(500, body)]);
        let Attempt::Rejected(message) = attempt(&action(&url)) else {
            panic!("500 must be a rejection");
        };
        assert!(
            message.contains("answered 500 Internal Server Error"),
            "{message}"
        );
        assert!(
            message.ends_with(
                "failed to reload config: couldn't load configuration (--config.file=\"x\")"
            ),
            "{message}"
        );

        let (url, _) = server(&[(301, "")]);
        assert!(
            matches!(attempt(&action(&url)), Attempt::Rejected(m) if m.contains("answered 301"))
        );

        let (url, _) = server(&[(403, "Lifecycle API is not enabled.")]);
        let Attempt::Rejected(message) = attempt(&action(&url)) else {
            panic!("403 must be a rejection");
        };
        assert!(
            message.contains("Lifecycle API is not enabled."),
            "{message}"
        );
        assert!(message.contains("--web.enable-lifecycle"), "{message}");
    }

    #[test]
    fn method_and_exact_status_are_honoured() {
        let (url, seen) = server(&[(200, "")]);
        let mut put = action(&url);
        put.method = "PUT".into();
        put.expect = StatusMatch::Code(204);
        let Attempt::Rejected(message) = attempt(&put) else {
            panic!("200 is not 204");
        };
        assert!(
            message.contains("answered 200 OK (expected 204)"),
            "{message}"
        );
        assert_eq!(*seen.lock().unwrap(), ["PUT"]);
    }

    #[test]
    fn connection_refused_is_worth_retrying() {
        // Bind and drop a listener: nothing accepts on that port any more.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let result = attempt(&action(&format!("http://{addr}/")));
        assert!(matches!(result, Attempt::Retry(_)), "{result:?}");
    }

    #[test]
    fn a_hanging_request_is_abandoned_at_a_stop() {
        // Accepts and never answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                held.push(stream);
            }
        });
        let a = action(&format!("http://{addr}/"));
        let started = Instant::now();
        let result = a.attempt(&|| started.elapsed() > Duration::from_millis(100));
        assert_eq!(result, Attempt::Stopped);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
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
        let Attempt::Retry(message) = attempt(&action(&url)) else {
            panic!("a plain reply to TLS is a transport failure");
        };
        assert!(!message.contains("answered"), "{message}");
        assert!(message.starts_with(&format!("POST {url}: ")), "{message}");
        // The TLS layer read the plain reply and rejected it (a build
        // without TLS would fail before connecting, with another message).
        assert!(message.contains("InvalidContentType"), "{message}");
    }

    #[test]
    fn urls_are_checked_up_front() {
        for bad in [
            "http://",
            "http://exa mple/",
            "ftp://h/x",
            "localhost:9090/-/reload",
            "",
        ] {
            let message = validate_url(bad).unwrap_err();
            assert!(message.contains("hint:"), "{bad}: {message}");
        }
        for good in [
            "http://localhost:9090/-/reload",
            "https://h/-/reload",
            "http://127.0.0.1:1/",
            "http://[::1]:9090/x?y=1",
        ] {
            assert_eq!(validate_url(good), Ok(()), "{good}");
        }
    }
}
