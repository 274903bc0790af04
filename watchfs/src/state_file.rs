//! `--state-file PATH`: what the service was last given, kept across
//! restarts of watchfs.
//!
//! One JSON object: `{"version": 1, "applied": {PATH: STATE, ...}}`, where
//! PATH is absolute (`hex:` and the bytes in hex when it is not UTF-8) and
//! STATE is `{"kind": "missing" | "dir" | "file" | "special" |
//! "unreadable", ...}`. Written to a temporary file in the same directory,
//! flushed to disk, then renamed over the old one, so a crash leaves the
//! old state or the new one, never half of either.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::hashing::{Stamp, State};

const VERSION: u64 = 1;

/// Reads the applied states; `Ok(None)` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<HashMap<PathBuf, State>>, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let bad = |what: &str| {
        format!(
            "{} is not a watchfs state file ({what}); remove it to start afresh",
            path.display()
        )
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    if value.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(bad("unknown version"));
    }
    let applied = value
        .get("applied")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("no \"applied\" object"))?;
    let mut out = HashMap::new();
    for (name, state) in applied {
        let path = decode_path(name).ok_or_else(|| bad("bad path"))?;
        let state = decode_state(state).ok_or_else(|| bad(&format!("bad state for {name}")))?;
        out.insert(path, state);
    }
    Ok(Some(out))
}

/// Writes the applied states atomically.
pub fn save(path: &Path, applied: &HashMap<PathBuf, State>) -> Result<(), String> {
    let mut entries: Vec<(&PathBuf, &State)> = applied.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut map = Map::new();
    for (p, state) in entries {
        map.insert(encode_path(p), encode_state(state));
    }
    let text = serde_json::to_string_pretty(&json!({ "version": VERSION, "applied": map }))
        .map_err(|e| format!("cannot encode the state: {e}"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("cannot write the state file {}: {e}", path.display())
    })
}

fn encode_path(path: &Path) -> String {
    match path.to_str() {
        Some(text) if !text.starts_with("hex:") => text.to_string(),
        _ => format!("hex:{}", hex(path.as_os_str().as_bytes())),
    }
}

fn decode_path(text: &str) -> Option<PathBuf> {
    match text.strip_prefix("hex:") {
        Some(h) => Some(PathBuf::from(OsString::from_vec(unhex(h)?))),
        None => Some(PathBuf::from(text)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn encode_state(state: &State) -> Value {
    match state {
        State::Missing => json!({ "kind": "missing" }),
        State::Dir => json!({ "kind": "dir" }),
        State::File { len, digest, stamp } => json!({
            "kind": "file",
            "len": len,
            "sha256": digest.map(|d| hex(&d)),
            "dev": stamp.dev,
            "ino": stamp.ino,
            "mtime": [stamp.mtime.0, stamp.mtime.1],
            "ctime": [stamp.ctime.0, stamp.ctime.1],
        }),
        State::Special(kind) => json!({ "kind": "special", "type": kind }),
        State::Unreadable(error) => json!({ "kind": "unreadable", "error": error }),
    }
}

fn decode_state(value: &Value) -> Option<State> {
    let time = |name: &str| -> Option<(i64, i64)> {
        let pair = value.get(name)?.as_array()?;
        Some((pair.first()?.as_i64()?, pair.get(1)?.as_i64()?))
    };
    Some(match value.get("kind")?.as_str()? {
        "missing" => State::Missing,
        "dir" => State::Dir,
        "file" => State::File {
            len: value.get("len")?.as_u64()?,
            digest: match value.get("sha256")? {
                Value::Null => None,
                Value::String(h) => Some(unhex(h)?.try_into().ok()?),
                _ => return None,
            },
            stamp: Stamp {
                dev: value.get("dev")?.as_u64()?,
                ino: value.get("ino")?.as_u64()?,
                mtime: time("mtime")?,
                ctime: time("ctime")?,
            },
        },
        "special" => State::Special(value.get("type")?.as_str()?.to_string()),
        "unreadable" => State::Unreadable(value.get("error")?.as_str()?.to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::observe;
    use test_support::TempDir;

    #[test]
    fn states_survive_a_round_trip() {
        let dir = TempDir::new("watchfs-unit");
        let file = dir.path().join("conf");
        fs::write(&file, "x").unwrap();
        let mut applied = HashMap::new();
        applied.insert(file.clone(), observe(&file, 1 << 20));
        applied.insert(dir.path().join("big"), observe(&file, 0));
        applied.insert(dir.path().join("gone"), State::Missing);
        applied.insert(dir.path().to_path_buf(), State::Dir);
        applied.insert(PathBuf::from("/fifo"), State::Special("fifo".into()));
        applied.insert(
            PathBuf::from("/no"),
            State::Unreadable("PermissionDenied".into()),
        );
        applied.insert(
            PathBuf::from(OsString::from_vec(b"/odd\xffname".to_vec())),
            State::Missing,
        );
        applied.insert(PathBuf::from("hex:literal"), State::Missing);
        let state = dir.path().join("state.json");
        assert_eq!(load(&state).unwrap(), None);
        save(&state, &applied).unwrap();
        assert_eq!(load(&state).unwrap(), Some(applied));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_foreign_file_is_refused_with_a_hint() {
        let dir = TempDir::new("watchfs-unit");
        let state = dir.path().join("state.json");
        fs::write(&state, "not json").unwrap();
        let message = load(&state).unwrap_err();
        assert!(message.contains("remove it"), "{message}");
        fs::write(&state, "{\"version\": 9, \"applied\": {}}").unwrap();
        assert!(load(&state).unwrap_err().contains("unknown version"));
    }
}
