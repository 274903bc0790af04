//! `--exclude` globs and `--events` kinds.

use std::path::Path;

use clap::ValueEnum;
use globset::{Glob, GlobSet, GlobSetBuilder};
use watch_core::Event;

use crate::args::KindFilter;

/// Compiled `--exclude` globs.
#[derive(Clone, Debug)]
pub struct Excludes {
    set: GlobSet,
}

impl Excludes {
    /// Compiles the globs; an invalid one is reported with its text.
    pub fn new(globs: &[String]) -> Result<Excludes, String> {
        let mut builder = GlobSetBuilder::new();
        for glob in globs {
            let glob = Glob::new(glob).map_err(|e| format!("--exclude {glob}: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| format!("--exclude: {e}"))?;
        Ok(Excludes { set })
    }

    /// Excludes nothing.
    #[cfg(test)]
    pub fn none() -> Excludes {
        Excludes {
            set: GlobSet::empty(),
        }
    }

    /// Whether no glob was given.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether `path` matches as a whole or by its file name (what the
    /// watcher asks for each entry it meets while walking).
    pub fn matches_entry(&self, path: &Path) -> bool {
        !self.set.is_empty()
            && (self.set.is_match(path)
                || path.file_name().is_some_and(|name| self.set.is_match(name)))
    }

    /// Whether `path`, found below the watched `root`, is excluded: the whole
    /// path matches, or the name of any component below `root` does (so
    /// `--exclude .git` also drops `.git/index`).
    pub fn is_excluded(&self, root: &Path, path: &Path) -> bool {
        if self.set.is_empty() {
            return false;
        }
        if self.set.is_match(path) {
            return true;
        }
        match path.strip_prefix(root) {
            Ok(below) => below.iter().any(|name| self.set.is_match(name)),
            Err(_) => path.file_name().is_some_and(|name| self.set.is_match(name)),
        }
    }
}

/// Whether `event` passes `--events` (an empty list passes everything, and
/// so does a kind `--events` cannot name: overflow means events were lost).
/// A kind is matched by its displayed name, the word `--events` takes.
pub fn kind_selected(kinds: &[KindFilter], event: &Event) -> bool {
    if kinds.is_empty() {
        return true;
    }
    let name = event.kind.to_string();
    let named = |k: &KindFilter| k.to_possible_value().is_some_and(|v| v.get_name() == name);
    kinds.iter().any(named) || !KindFilter::value_variants().iter().any(named)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watch_core::{EventKind, Origin};

    fn excludes(globs: &[&str]) -> Excludes {
        Excludes::new(&globs.iter().map(|g| g.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn names_and_whole_paths_match() {
        let ex = excludes(&["*.swp", ".git", "**/build/**"]);
        let root = Path::new("/srv/app");
        assert!(ex.is_excluded(root, Path::new("/srv/app/conf/.x.swp")));
        assert!(ex.is_excluded(root, Path::new("/srv/app/.git/index")));
        assert!(ex.is_excluded(root, Path::new("/srv/app/out/build/a.o")));
        assert!(!ex.is_excluded(root, Path::new("/srv/app/conf/x.yml")));
        assert!(ex.matches_entry(Path::new("/srv/app/.git")));
        assert!(!ex.matches_entry(Path::new("/srv/app/src")));
    }

    #[test]
    fn components_above_the_root_do_not_count() {
        let ex = excludes(&["build"]);
        let root = Path::new("/srv/build/project");
        assert!(!ex.is_excluded(root, Path::new("/srv/build/project/main.rs")));
        assert!(ex.is_excluded(root, Path::new("/srv/build/project/build/x")));
    }

    #[test]
    fn invalid_glob_names_itself() {
        let err = Excludes::new(&["a[".to_string()]).unwrap_err();
        assert!(err.contains("a["), "{err}");
    }

    #[test]
    fn events_filter_keeps_overflow() {
        let event = |kind| Event::new(kind, "p", false, Origin::Kernel);
        let kinds = [KindFilter::Created];
        assert!(kind_selected(&kinds, &event(EventKind::Created)));
        assert!(!kind_selected(&kinds, &event(EventKind::Modified)));
        assert!(kind_selected(&kinds, &event(EventKind::Overflow)));
        assert!(kind_selected(&[], &event(EventKind::Modified)));
        let renamed = event(EventKind::Renamed { from: "o".into() });
        assert!(kind_selected(&[KindFilter::Renamed], &renamed));
        assert!(!kind_selected(&kinds, &renamed));
    }
}
