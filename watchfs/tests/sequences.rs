//! End to end: the three short sequences that once lost or invented paths
//! in `watchfs -r --json` (the debounced stream), each run inside one
//! debounce window, on every backend the machine has. The printed events,
//! folded onto the tree as it was when the watches were established, must
//! give the tree as it is once a later cookie file has been reported.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{TempDir, Watchfs, sh};
use test_support::tree::{self, Tree};

/// One printed event, as `--json` spells it.
struct Printed {
    kind: String,
    path: PathBuf,
    from: Option<PathBuf>,
    is_dir: bool,
}

impl Printed {
    fn parse(line: &str) -> Printed {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        Printed {
            kind: v["kind"].as_str().expect("kind").to_string(),
            path: PathBuf::from(v["path"].as_str().expect("path")),
            from: v["from"].as_str().map(PathBuf::from),
            is_dir: v["is_dir"].as_bool().expect("is_dir"),
        }
    }

    /// Applies the event as `watch_core::Event` documents.
    fn fold(&self, tree: &mut Tree) {
        match self.kind.as_str() {
            "created" => tree::create(tree, &self.path, self.is_dir),
            "removed" => tree::remove_subtree(tree, &self.path),
            "renamed" => {
                let from = self.from.as_ref().expect("a rename names its source");
                tree::rename(tree, from, &self.path, self.is_dir);
            }
            "modified" | "metadata" => {
                tree.entry(self.path.clone()).or_insert(self.is_dir);
            }
            other => panic!("unexpected kind {other:?}"),
        }
    }
}

/// A watched directory `d` with a sibling `out` that is not watched.
struct Setup {
    _tmp: TempDir,
    dir: PathBuf,
    outside: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let tmp = TempDir::new(tag);
        let dir = tmp.join("d");
        let outside = tmp.join("out");
        fs::create_dir(&dir).unwrap();
        fs::create_dir(&outside).unwrap();
        Setup {
            _tmp: tmp,
            dir,
            outside,
        }
    }

    fn start(&self, backend: &str) -> Watchfs {
        Watchfs::start(&[
            "-r",
            "--json",
            "--backend",
            backend,
            "--poll-interval",
            "50ms",
            "--debounce",
            "300ms",
            self.dir.to_str().unwrap(),
        ])
    }
}

/// Runs `script` (with `$D` and `$OUT` set), then a cookie file, waits for
/// the cookie's event, and checks that everything printed folds onto
/// `before` to give the real tree. Returns the events printed.
fn run_and_check(
    setup: &Setup,
    w: &mut Watchfs,
    before: &Tree,
    already: usize,
    script: &str,
) -> Vec<Printed> {
    sh(&format!(
        "D='{}'; OUT='{}'; {script}",
        setup.dir.display(),
        setup.outside.display()
    ));
    let cookie = setup.dir.join("cookie");
    fs::write(&cookie, "c").unwrap();
    let wanted = cookie.display().to_string();
    w.wait_stdout("naming the cookie", |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["path"] == wanted.as_str())
    });
    let printed: Vec<Printed> = w
        .stdout_lines()
        .iter()
        .skip(already)
        .map(|l| Printed::parse(l))
        .collect();
    let mut folded = before.clone();
    for p in &printed {
        p.fold(&mut folded);
    }
    let real = tree::scan(&setup.dir);
    assert_eq!(
        show(&folded, &setup.dir),
        show(&real, &setup.dir),
        "the printed events do not fold to the tree; printed:\n{}",
        printed
            .iter()
            .map(|p| format!("{} {:?} from {:?}", p.kind, p.path, p.from))
            .collect::<Vec<_>>()
            .join("\n")
    );
    printed
}

fn show(tree: &Tree, root: &Path) -> Vec<String> {
    tree.iter()
        .map(|(p, d)| {
            let rel = p.strip_prefix(root).unwrap_or(p).display().to_string();
            if *d { rel + "/" } else { rel }
        })
        .collect()
}

fn names(printed: &[Printed], root: &Path, rel: &str) -> bool {
    let path = root.join(rel);
    printed.iter().any(|p| p.path == path)
}

const BACKENDS: &[&str] = &["inotify", "poll"];

/// 1. `mkdir -p D/a/b; echo hi > D/a/b/f; mv D/a D/c`: the contents are
///    reported under `c`, nothing is left under `a`.
#[test]
fn directory_created_filled_and_renamed() {
    for backend in BACKENDS {
        let s = Setup::new("seq1");
        let mut w = s.start(backend);
        let before = tree::scan(&s.dir);
        let printed = run_and_check(
            &s,
            &mut w,
            &before,
            0,
            r#"mkdir -p "$D/a/b"; echo hi > "$D/a/b/f"; mv "$D/a" "$D/c""#,
        );
        assert!(
            names(&printed, &s.dir, "c/b/f"),
            "{backend}: c/b/f never named"
        );
    }
}

/// 2. `mkdir D/a; touch D/a/x; mv D/a OUT/`: nothing that remains.
#[test]
fn directory_created_filled_and_moved_out() {
    for backend in BACKENDS {
        let s = Setup::new("seq2");
        let mut w = s.start(backend);
        let before = tree::scan(&s.dir);
        run_and_check(
            &s,
            &mut w,
            &before,
            0,
            r#"mkdir "$D/a"; touch "$D/a/x"; mv "$D/a" "$OUT/""#,
        );
    }
}

/// 3. `e/f` reported, then `mv OUT/n D/e/f; sleep 0.02; rm D/e/f`: the
///    removal of `e/f` is reported.
#[test]
fn file_moved_in_over_another_then_removed() {
    for backend in BACKENDS {
        let s = Setup::new("seq3");
        fs::create_dir(s.dir.join("e")).unwrap();
        let mut w = s.start(backend);
        let f = s.dir.join("e/f").display().to_string();
        fs::write(s.dir.join("e/f"), "old").unwrap();
        w.wait_stdout("naming e/f", |l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["path"] == f.as_str())
        });
        let already = w.stdout_lines().len();
        let before = tree::scan(&s.dir);
        fs::write(s.outside.join("n"), "new").unwrap();
        let printed = run_and_check(
            &s,
            &mut w,
            &before,
            already,
            r#"mv "$OUT/n" "$D/e/f"; sleep 0.02; rm "$D/e/f""#,
        );
        assert!(
            printed
                .iter()
                .any(|p| p.kind == "removed" && p.path == s.dir.join("e/f")),
            "{backend}: the removal of e/f was not reported"
        );
    }
}
