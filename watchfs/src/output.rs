//! Printing events: human lines, JSON lines, or a user template.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use watch_core::{Event, EventKind, Origin};

/// How an event becomes a line of text.
#[derive(Debug)]
pub enum Style {
    /// `KIND PATH` (or `renamed FROM -> PATH`), aligned for reading.
    Human,
    /// One JSON object per line.
    Json,
    /// A `--format` template.
    Template(Template),
}

impl Style {
    /// Renders `event`, observed at `time`, without the trailing newline.
    pub fn render(&self, event: &Event, time: SystemTime) -> String {
        match self {
            Style::Human => match &event.kind {
                EventKind::Renamed { from } => format!(
                    "{:<8} {} -> {}",
                    event.kind,
                    from.display(),
                    event.path.display()
                ),
                EventKind::Overflow => format!(
                    "overflow {} (events were lost; rescanned, differences follow)",
                    event.path.display()
                ),
                kind => format!("{kind:<8} {}", event.path.display()),
            },
            Style::Json => json_line(event, time),
            Style::Template(template) => template.render(event, time),
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
    let value = serde_json::json!({
        "time": rfc3339(time),
        "kind": event.kind.to_string(),
        "path": event.path.to_string_lossy(),
        "from": from_path(event).map(|from| from.to_string_lossy()),
        "is_dir": event.is_dir,
        "origin": origin_name(&event.origin),
    });
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

    /// Renders the template for `event`.
    pub fn render(&self, event: &Event, time: SystemTime) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Path => out.push_str(&event.path.to_string_lossy()),
                Part::Dir => {
                    if let Some(parent) = event.path.parent()
                        && !parent.as_os_str().is_empty()
                    {
                        out.push_str(&parent.to_string_lossy());
                        out.push('/');
                    }
                }
                Part::Name => {
                    if let Some(name) = event.path.file_name() {
                        out.push_str(&name.to_string_lossy());
                    }
                }
                Part::From => {
                    if let Some(from) = from_path(event) {
                        out.push_str(&from.to_string_lossy());
                    }
                }
                Part::Kind => out.push_str(&event.kind.to_string()),
                Part::Type => out.push_str(if event.is_dir { "dir" } else { "file" }),
                Part::Origin => out.push_str(origin_name(&event.origin)),
                Part::Time => out.push_str(&rfc3339(time)),
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
            template.render(&dir_event, UNIX_EPOCH),
            "conf/|d|removed|dir|rescan||{x}\t."
        );
        let template = Template::parse("{path} {from} {time}").unwrap();
        let renamed = event(EventKind::Renamed { from: "a".into() }, "b");
        assert_eq!(
            template.render(&renamed, UNIX_EPOCH),
            "b a 1970-01-01T00:00:00.000Z"
        );
        let bare = Template::parse("[{dir}]").unwrap();
        assert_eq!(
            bare.render(&event(EventKind::Created, "f"), UNIX_EPOCH),
            "[]"
        );
    }

    #[test]
    fn template_errors_name_the_problem() {
        assert!(Template::parse("{bogus}").unwrap_err().contains("{bogus}"));
        assert!(Template::parse("{path").unwrap_err().contains("unclosed"));
        assert!(Template::parse("a}b").unwrap_err().contains("}}"));
    }
}
