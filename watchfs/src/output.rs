//! Printing events: human lines, JSON lines, or a user template.
//!
//! Names are printed so that output cannot be forged and no name is lost:
//! human lines and templates quote a name holding control characters or
//! invalid UTF-8 (see [`crate::quote`]); `--print0` writes the exact bytes,
//! NUL-terminated; JSON carries `path_bytes` / `from_bytes` (the exact
//! bytes, as an array of numbers) when a path is not UTF-8.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use watch_core::{Event, EventKind, Origin};

use crate::quote::quote;

/// How an event becomes a line of text.
#[derive(Debug)]
pub enum Style {
    /// `KIND PATH` (or `renamed FROM -> PATH`), aligned for reading.
    Human,
    /// One JSON object per line.
    Json,
    /// A `--format` template; with `nul`, names are written as their exact
    /// bytes and each record ends with NUL instead of a newline.
    Template {
        /// The parsed template.
        template: Template,
        /// `--print0`.
        nul: bool,
    },
}

impl Style {
    /// Renders `event`, observed at `time`, as text without the trailing
    /// newline (names quoted; for `--print0` templates, the exact bytes
    /// shown lossily: use [`Style::write`] for output).
    pub fn render(&self, event: &Event, time: SystemTime) -> String {
        match self {
            Style::Human => match &event.kind {
                EventKind::Renamed { from } => format!(
                    "{:<8} {} -> {}",
                    event.kind,
                    quote(from.as_os_str()),
                    quote(event.path.as_os_str())
                ),
                EventKind::Overflow => format!(
                    "overflow {} (events were lost; rescanned, differences follow)",
                    quote(event.path.as_os_str())
                ),
                kind => format!("{kind:<8} {}", quote(event.path.as_os_str())),
            },
            Style::Json => json_line(event, time),
            Style::Template { template, nul } => {
                String::from_utf8_lossy(&template.render(event, time, *nul)).into_owned()
            }
        }
    }

    /// Writes one record for `event`: the rendered line and its terminator
    /// (a newline, or NUL for `--print0`).
    pub fn write(&self, out: &mut impl Write, event: &Event, time: SystemTime) -> io::Result<()> {
        match self {
            Style::Template { template, nul } => {
                out.write_all(&template.render(event, time, *nul))?;
                out.write_all(if *nul { b"\0" } else { b"\n" })
            }
            _ => writeln!(out, "{}", self.render(event, time)),
        }
    }
}

fn origin_name(origin: &Origin) -> &'static str {
    match origin {
        Origin::Kernel => "kernel",
        Origin::Rescan => "rescan",
    }
}

fn from_path(event: &Event) -> Option<&Path> {
    match &event.kind {
        EventKind::Renamed { from } => Some(from),
        _ => None,
    }
}

fn json_line(event: &Event, time: SystemTime) -> String {
    let mut value = serde_json::json!({
        "time": rfc3339(time),
        "kind": event.kind.to_string(),
        "path": event.path.to_string_lossy(),
        "from": from_path(event).map(|from| from.to_string_lossy()),
        "is_dir": event.is_dir,
        "origin": origin_name(&event.origin),
    });
    // A path that is not UTF-8 also travels as its exact bytes, so two
    // names that print alike stay apart and a consumer can open the file.
    if event.path.to_str().is_none() {
        value["path_bytes"] = event.path.as_os_str().as_bytes().into();
    }
    if let Some(from) = from_path(event)
        && from.to_str().is_none()
    {
        value["from_bytes"] = from.as_os_str().as_bytes().into();
    }
    value.to_string()
}

/// Formats `time` as RFC 3339 in UTC with millisecond precision
/// (`2026-01-31T12:00:00.123Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's public-domain `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A parsed `--format` template.
#[derive(Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Path,
    Dir,
    Name,
    From,
    Kind,
    Type,
    Origin,
    Time,
}

impl Template {
    /// Parses a template; an unknown or unclosed placeholder is an error
    /// naming it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '\\' if chars.peek() == Some(&'n') => {
                    chars.next();
                    literal.push('\n');
                }
                '\\' if chars.peek() == Some(&'t') => {
                    chars.next();
                    literal.push('\t');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed placeholder '{{{name}'")),
                        }
                    }
                    let part = match name.as_str() {
                        "path" => Part::Path,
                        "dir" => Part::Dir,
                        "name" => Part::Name,
                        "from" => Part::From,
                        "kind" => Part::Kind,
                        "type" => Part::Type,
                        "origin" => Part::Origin,
                        "time" => Part::Time,
                        _ => {
                            return Err(format!(
                                "unknown placeholder '{{{name}}}' (known: {{path}} {{dir}} \
                                 {{name}} {{from}} {{kind}} {{type}} {{origin}} {{time}})"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                }
                '}' => return Err("unmatched '}' (write '}}' for a literal brace)".into()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// Renders the template for `event`. Names are quoted (see
    /// [`crate::quote`]) unless `raw`, where they are their exact bytes.
    pub fn render(&self, event: &Event, time: SystemTime, raw: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let name = |out: &mut Vec<u8>, path: &Path| {
            if raw {
                out.extend_from_slice(path.as_os_str().as_bytes());
            } else {
                out.extend_from_slice(quote(path.as_os_str()).as_bytes());
            }
        };
        for part in &self.parts {
            match part {
                Part::Text(text) => out.extend_from_slice(text.as_bytes()),
                Part::Path => name(&mut out, &event.path),
                Part::Dir => {
                    if let Some(parent) = event.path.parent()
                        && !parent.as_os_str().is_empty()
                    {
                        name(&mut out, parent);
                        out.push(b'/');
                    }
                }
                Part::Name => {
                    if let Some(file_name) = event.path.file_name() {
                        name(&mut out, Path::new(file_name));
                    }
                }
                Part::From => {
                    if let Some(from) = from_path(event) {
                        name(&mut out, from);
                    }
                }
                Part::Kind => out.extend_from_slice(event.kind.to_string().as_bytes()),
                Part::Type => out.extend_from_slice(if event.is_dir { b"dir" } else { b"file" }),
                Part::Origin => out.extend_from_slice(origin_name(&event.origin).as_bytes()),
                Part::Time => out.extend_from_slice(rfc3339(time).as_bytes()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind, path, false, Origin::Kernel)
    }

    fn text(template: &Template, event: &Event) -> String {
        String::from_utf8(template.render(event, UNIX_EPOCH, false)).unwrap()
    }

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789 UTC.
        assert_eq!(rfc3339(at(951_827_696, 789)), "2000-02-29T12:34:56.789Z");
        // 2024-12-31T23:59:59Z, the last second of a leap year.
        assert_eq!(rfc3339(at(1_735_689_599, 0)), "2024-12-31T23:59:59.000Z");
        assert_eq!(rfc3339(at(1_735_689_600, 0)), "2025-01-01T00:00:00.000Z");
    }

    #[test]
    fn human_lines() {
        let t = UNIX_EPOCH;
        assert_eq!(
            Style::Human.render(&event(EventKind::Modified, "a/b"), t),
            "modified a/b"
        );
        let renamed = event(
            EventKind::Renamed {
                from: "a/old".into(),
            },
            "a/new",
        );
        assert_eq!(Style::Human.render(&renamed, t), "renamed  a/old -> a/new");
    }

    #[test]
    fn json_has_every_field() {
        let renamed = event(
            EventKind::Renamed {
                from: "x/old".into(),
            },
            "x/new",
        );
        let line = Style::Json.render(&renamed, at(1_735_689_600, 5));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["time"], "2025-01-01T00:00:00.005Z");
        assert_eq!(value["kind"], "renamed");
        assert_eq!(value["path"], "x/new");
        assert_eq!(value["from"], "x/old");
        assert_eq!(value["is_dir"], false);
        assert_eq!(value["origin"], "kernel");
        let plain = Style::Json.render(&event(EventKind::Created, "x/f"), UNIX_EPOCH);
        let value: serde_json::Value = serde_json::from_str(&plain).unwrap();
        assert!(value["from"].is_null());
        assert!(!line.contains('\n'));
    }

    #[test]
    fn template_placeholders() {
        let template =
            Template::parse("{dir}|{name}|{kind}|{type}|{origin}|{from}|{{x}}\\t.").unwrap();
        let mut dir_event = event(EventKind::Removed, "conf/d");
        dir_event.is_dir = true;
        dir_event.origin = Origin::Rescan;
        assert_eq!(
            text(&template, &dir_event),
            "conf/|d|removed|dir|rescan||{x}\t."
        );
        let template = Template::parse("{path} {from} {time}").unwrap();
        let renamed = event(EventKind::Renamed { from: "a".into() }, "b");
        assert_eq!(text(&template, &renamed), "b a 1970-01-01T00:00:00.000Z");
        let bare = Template::parse("[{dir}]").unwrap();
        assert_eq!(text(&bare, &event(EventKind::Created, "f")), "[]");
    }

    fn bytes_event(kind: EventKind, path: &[u8]) -> Event {
        Event::new(
            kind,
            std::ffi::OsStr::from_bytes(path),
            false,
            Origin::Kernel,
        )
    }

    #[test]
    fn names_that_could_forge_a_line_are_quoted() {
        let evil = bytes_event(EventKind::Created, b"d/evil\ncreated  fake");
        let line = Style::Human.render(&evil, UNIX_EPOCH);
        assert_eq!(line, "created  'd/evil'$'\\n''created  fake'");
        assert!(!line.contains('\n'));
        let template = Template::parse("{kind} {name} {dir}").unwrap();
        assert_eq!(
            text(&template, &evil),
            "created 'evil'$'\\n''created  fake' d/"
        );
        let renamed = bytes_event(
            EventKind::Renamed {
                from: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"bad\xff")),
            },
            b"bad\xfe",
        );
        assert_eq!(
            Style::Human.render(&renamed, UNIX_EPOCH),
            "renamed  'bad'$'\\377' -> 'bad'$'\\376'"
        );
    }

    #[test]
    fn print0_writes_exact_bytes_and_nul_terminators() {
        let style = Style::Template {
            template: Template::parse("{kind}\t{path}").unwrap(),
            nul: true,
        };
        let mut out = Vec::new();
        style
            .write(
                &mut out,
                &bytes_event(EventKind::Created, b"a\nb\xff"),
                UNIX_EPOCH,
            )
            .unwrap();
        style
            .write(&mut out, &bytes_event(EventKind::Removed, b"c"), UNIX_EPOCH)
            .unwrap();
        assert_eq!(out, b"created\ta\nb\xff\0removed\tc\0");
    }

    #[test]
    fn json_keeps_non_utf8_names_exactly() {
        let a = Style::Json.render(&bytes_event(EventKind::Created, b"bad\xff"), UNIX_EPOCH);
        let b = Style::Json.render(&bytes_event(EventKind::Created, b"bad\xfe"), UNIX_EPOCH);
        assert_ne!(a, b);
        let value: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(value["path"], "bad\u{FFFD}");
        assert_eq!(value["path_bytes"], serde_json::json!([98, 97, 100, 255]));
        let renamed = bytes_event(
            EventKind::Renamed {
                from: std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"old\x80")),
            },
            b"new",
        );
        let value: serde_json::Value =
            serde_json::from_str(&Style::Json.render(&renamed, UNIX_EPOCH)).unwrap();
        assert_eq!(value["from_bytes"], serde_json::json!([111, 108, 100, 128]));
        assert!(
            value.get("path_bytes").is_none(),
            "UTF-8 paths carry no bytes field"
        );
        // Control characters survive as JSON escapes.
        let evil = Style::Json.render(&bytes_event(EventKind::Created, b"e\nf"), UNIX_EPOCH);
        assert!(!evil.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&evil).unwrap();
        assert_eq!(value["path"], "e\nf");
    }

    #[test]
    fn template_errors_name_the_problem() {
        assert!(Template::parse("{bogus}").unwrap_err().contains("{bogus}"));
        assert!(Template::parse("{path").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a}b").unwrap_err().contains("}}"));
    }
}
