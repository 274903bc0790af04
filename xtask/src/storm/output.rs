//! `watchfs --json` output: its lines parsed and folded onto the tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tree::{self, Tree};

/// One JSON line of `watchfs --json`.
#[derive(Debug)]
pub(super) struct Printed {
    pub(super) kind: String,
    pub(super) path: PathBuf,
    pub(super) from: Option<PathBuf>,
    pub(super) is_dir: bool,
    /// When its batch was printed: the lines of one batch share it.
    pub(super) batch: String,
}

impl Printed {
    pub(super) fn parse(line: &str) -> Option<Printed> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        Some(Printed {
            kind: v["kind"].as_str()?.to_string(),
            path: PathBuf::from(v["path"].as_str()?),
            from: v["from"].as_str().map(PathBuf::from),
            is_dir: v["is_dir"].as_bool()?,
            batch: v["time"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Folds the event onto a map of when each path was last named as
    /// changed (`at`: when the event was read): renames carry the times of
    /// everything below them, removals and replacements drop them.
    pub(super) fn fold_times(&self, told: &mut BTreeMap<PathBuf, Instant>, at: Instant) {
        let take = |told: &mut BTreeMap<PathBuf, Instant>, path: &Path| {
            let keys: Vec<PathBuf> = told
                .range(path.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(path))
                .map(|(p, _)| p.clone())
                .collect();
            keys.into_iter()
                .filter_map(|p| told.remove(&p).map(|t| (p, t)))
                .collect::<Vec<_>>()
        };
        match self.kind.as_str() {
            "created" => {
                take(told, &self.path);
                told.insert(self.path.clone(), at);
            }
            "removed" => {
                take(told, &self.path);
            }
            "renamed" => {
                let Some(from) = &self.from else { return };
                let moved = take(told, from);
                take(told, &self.path);
                for (p, t) in moved {
                    let rest = p.strip_prefix(from).unwrap_or(&p);
                    told.insert(rejoin(&self.path, rest), t);
                }
                told.insert(self.path.clone(), at);
            }
            "modified" => {
                told.insert(self.path.clone(), at);
            }
            _ => {}
        }
    }

    /// The event, with paths relative to `root`.
    pub(super) fn show(&self, root: &Path) -> String {
        let short = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        match &self.from {
            Some(from) => format!("{} {} -> {}", self.kind, short(from), short(&self.path)),
            None => format!(
                "{} {}{}",
                self.kind,
                short(&self.path),
                if self.is_dir { "/" } else { "" }
            ),
        }
    }

    /// Why the event does not fit `tree` (before it is applied), if it
    /// does not: a rename from a path that is not there, or a path whose
    /// parent is not there.
    pub(super) fn odd(&self, tree: &Tree, root: &Path) -> Option<String> {
        if let Some(from) = &self.from
            && !tree.contains_key(from)
        {
            return Some(format!("{} renames a missing path", self.show(root)));
        }
        let parent = self.path.parent()?;
        let exists = matches!(
            self.kind.as_str(),
            "created" | "renamed" | "modified" | "metadata"
        );
        (exists && parent != root && tree.get(parent) != Some(&true))
            .then(|| format!("{}: its parent is missing", self.show(root)))
    }

    /// Applies the event as `watch_core::Event` documents.
    pub(super) fn fold(&self, tree: &mut Tree) {
        match self.kind.as_str() {
            "created" => tree::create(tree, &self.path, self.is_dir),
            "removed" => tree::remove_subtree(tree, &self.path),
            "renamed" => {
                let Some(from) = &self.from else { return };
                tree::rename(tree, from, &self.path, self.is_dir);
            }
            "modified" | "metadata" => {
                tree.entry(self.path.clone()).or_insert(self.is_dir);
            }
            _ => {}
        }
    }
}

pub(super) fn rejoin(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}
