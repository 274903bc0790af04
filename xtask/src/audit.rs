//! `cargo xtask unsafe-audit`: where `unsafe` is, and whether it is allowed
//! and documented.
//!
//! Every `.rs` file of each member (`src/`, `tests/`, `benches/`,
//! `examples/`, `build.rs`) is parsed with `syn`, so `unsafe` in strings and
//! comments never counts. Macro bodies are opaque to the parser, so their
//! tokens are scanned for the `unsafe` keyword too.
//!
//! The audit fails when
//! - an `unsafe` block or `unsafe impl` has no `// SAFETY:` comment on the
//!   line(s) right above it (above the `unsafe` keyword, above the statement
//!   that contains the block, or above the item's attributes), or
//! - a crate outside [`ALLOWED`] contains any `unsafe` at all.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use crate::Result;
use crate::workspace::{self, Member, relative};

/// The only crates that may contain `unsafe`.
pub const ALLOWED: &[&str] = &["inotify-sys", "kqueue-sys", "inotify", "kqueue"];

/// Entry point of `cargo xtask unsafe-audit`.
pub fn main(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(format!("unexpected argument `{arg}`; usage: cargo xtask unsafe-audit").into());
    }
    let root = workspace::root();
    let report = audit(&workspace::members(&root)?)?;
    print!("{}", report.table());
    if report.problems.is_empty() {
        println!("unsafe-audit: ok");
        return Ok(());
    }
    for problem in &report.problems {
        eprintln!("{}", problem.display(&root));
    }
    Err(format!("{} problem(s) found", report.problems.len()).into())
}

/// How much `unsafe` one crate (or one file) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rust files parsed.
    pub files: usize,
    /// `unsafe { .. }` blocks.
    pub blocks: usize,
    /// Source lines inside unsafe blocks (the block's own line when it
    /// fits on one; otherwise the lines between its braces).
    pub block_lines: usize,
    /// `unsafe fn` definitions and declarations.
    pub fns: usize,
    /// `unsafe impl`.
    pub impls: usize,
    /// Functions declared in `unsafe extern` blocks (unsafe to call).
    pub extern_fns: usize,
    /// Anything else: `unsafe extern` blocks, `unsafe trait`, `#[unsafe(..)]`
    /// attributes, other `unsafe` tokens inside macros.
    pub other: usize,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.files += other.files;
        self.blocks += other.blocks;
        self.block_lines += other.block_lines;
        self.fns += other.fns;
        self.impls += other.impls;
        self.extern_fns += other.extern_fns;
        self.other += other.other;
    }
}

/// What kind of `unsafe` was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block,
    Fn,
    Impl,
    ExternFn,
    Other,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Block => "unsafe block",
            Kind::Fn => "unsafe fn",
            Kind::Impl => "unsafe impl",
            Kind::ExternFn => "extern fn",
            Kind::Other => "unsafe",
        })
    }
}

/// One occurrence of `unsafe` in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub line: usize,
    pub kind: Kind,
    /// Whether a `// SAFETY:` comment is right above (meaningful for blocks
    /// and impls, which require one).
    pub documented: bool,
}

/// What the audit of one file found.
#[derive(Debug, Default)]
pub struct FileAudit {
    pub counts: Counts,
    pub sites: Vec<Site>,
}

/// Why the audit fails.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl Problem {
    fn display(&self, root: &Path) -> String {
        format!(
            "{}:{}: {}",
            relative(&self.file, root).display(),
            self.line,
            self.message
        )
    }
}

/// The audit of a whole workspace.
#[derive(Debug)]
pub struct Report {
    /// Per crate, in member order.
    pub crates: Vec<(String, Counts)>,
    pub problems: Vec<Problem>,
}

impl Report {
    /// The per-crate table with a total row.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let header = [
            "crate",
            "files",
            "blocks",
            "block lines",
            "unsafe fn",
            "unsafe impl",
            "extern fn",
            "other",
            "allowed",
        ];
        let mut rows: Vec<[String; 9]> = Vec::new();
        let mut total = Counts::default();
        for (name, counts) in &self.crates {
            total.add(counts);
            rows.push(row(
                name,
                counts,
                if ALLOWED.contains(&name.as_str()) {
                    "yes"
                } else {
                    "no"
                },
            ));
        }
        rows.push(row("total", &total, ""));
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.len());
            }
        }
        let mut line = |cells: &[&str]| {
            let mut text = String::new();
            for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    text.push_str(&format!("{cell:<width$}"));
                } else {
                    text.push_str(&format!("  {cell:>width$}"));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&header);
        for r in &rows {
            line(&r.each_ref().map(String::as_str));
        }
        out
    }
}

fn row(name: &str, c: &Counts, allowed: &str) -> [String; 9] {
    [
        name.to_owned(),
        c.files.to_string(),
        c.blocks.to_string(),
        c.block_lines.to_string(),
        c.fns.to_string(),
        c.impls.to_string(),
        c.extern_fns.to_string(),
        c.other.to_string(),
        allowed.to_owned(),
    ]
}

/// Audits every member.
pub fn audit(members: &[Member]) -> Result<Report> {
    let mut report = Report {
        crates: Vec::new(),
        problems: Vec::new(),
    };
    for member in members {
        let allowed = ALLOWED.contains(&member.name.as_str());
        let mut counts = Counts::default();
        for file in rust_files(&member.dir)? {
            let source = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let found = audit_source(&source)
                .map_err(|e| format!("cannot parse {}: {e}", file.display()))?;
            counts.add(&found.counts);
            for site in found.sites {
                let message = if !allowed {
                    format!(
                        "{} in crate `{}`, which must not contain unsafe (allowed only in {})",
                        site.kind,
                        member.name,
                        ALLOWED.join(", ")
                    )
                } else if matches!(site.kind, Kind::Block | Kind::Impl) && !site.documented {
                    format!(
                        "{} without a `// SAFETY:` comment right above it",
                        site.kind
                    )
                } else {
                    continue;
                };
                report.problems.push(Problem {
                    file: file.clone(),
                    line: site.line,
                    message,
                });
            }
        }
        report.crates.push((member.name.clone(), counts));
    }
    Ok(report)
}

/// The Rust files of a crate: everything under `src/`, `tests/`, `benches/`,
/// `examples/`, and `build.rs`, sorted.
pub fn rust_files(crate_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples"] {
        collect_rs(&crate_dir.join(dir), &mut files)?;
    }
    let build = crate_dir.join("build.rs");
    if build.is_file() {
        files.push(build);
    }
    files.sort();
    Ok(files)
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) -> Result {
    if !dir.is_dir() {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_rs(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// Audits one file's source text.
pub fn audit_source(source: &str) -> syn::Result<FileAudit> {
    let file = syn::parse_file(source)?;
    let lines: Vec<&str> = source.lines().collect();
    let mut visitor = Visitor {
        lines: &lines,
        anchors: Vec::new(),
        block_lines: BTreeSet::new(),
        audit: FileAudit::default(),
    };
    visitor.visit_file(&file);
    visitor.audit.counts.files = 1;
    visitor.audit.counts.block_lines = visitor.block_lines.len();
    Ok(visitor.audit)
}

struct Visitor<'a> {
    lines: &'a [&'a str],
    /// First lines of the enclosing statements/items, innermost last: a
    /// `// SAFETY:` comment above the statement documents a block inside it.
    anchors: Vec<usize>,
    /// Lines inside unsafe blocks (a set, so nested blocks count once).
    block_lines: BTreeSet<usize>,
    audit: FileAudit,
}

impl Visitor<'_> {
    fn record(&mut self, kind: Kind, unsafe_span: Span, extra_anchor: Option<usize>) {
        let line = unsafe_span.start().line;
        let documented = match kind {
            Kind::Block | Kind::Impl => {
                let mut candidates = vec![line];
                candidates.extend(self.anchors.last().copied());
                candidates.extend(extra_anchor);
                candidates
                    .into_iter()
                    .any(|l| has_safety_comment(self.lines, l))
            }
            _ => false,
        };
        let counts = &mut self.audit.counts;
        match kind {
            Kind::Block => counts.blocks += 1,
            Kind::Fn => counts.fns += 1,
            Kind::Impl => counts.impls += 1,
            Kind::ExternFn => counts.extern_fns += 1,
            Kind::Other => counts.other += 1,
        }
        self.audit.sites.push(Site {
            line,
            kind,
            documented,
        });
    }

    fn block(&mut self, unsafe_span: Span, close_brace: Span) {
        let (first, last) = (unsafe_span.start().line, close_brace.end().line);
        if last <= first + 1 {
            self.block_lines.insert(first);
        } else {
            self.block_lines.extend(first + 1..last);
        }
        self.record(Kind::Block, unsafe_span, None);
    }

    fn with_anchor(&mut self, line: usize, visit: impl FnOnce(&mut Self)) {
        self.anchors.push(line);
        visit(self);
        self.anchors.pop();
    }

    /// Macro bodies are token soup to the parser: find `unsafe` keywords in
    /// them (string literals are single tokens, so they never match).
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, token) in tokens.iter().enumerate() {
            match token {
                TokenTree::Ident(ident) if ident == "unsafe" => match tokens.get(i + 1) {
                    Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                        self.block(ident.span(), g.span_close());
                    }
                    Some(TokenTree::Ident(next)) if next == "impl" => {
                        self.record(Kind::Impl, ident.span(), None);
                    }
                    Some(TokenTree::Ident(next)) if next == "fn" => {
                        self.record(Kind::Fn, ident.span(), None);
                    }
                    _ => self.record(Kind::Other, ident.span(), None),
                },
                TokenTree::Group(group) => self.scan_tokens(group.stream()),
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for Visitor<'_> {
    fn visit_stmt(&mut self, stmt: &'ast syn::Stmt) {
        self.with_anchor(stmt.span().start().line, |v| visit::visit_stmt(v, stmt));
    }

    fn visit_item_const(&mut self, item: &'ast syn::ItemConst) {
        self.with_anchor(item.span().start().line, |v| {
            visit::visit_item_const(v, item)
        });
    }

    fn visit_item_static(&mut self, item: &'ast syn::ItemStatic) {
        self.with_anchor(item.span().start().line, |v| {
            visit::visit_item_static(v, item)
        });
    }

    fn visit_impl_item_const(&mut self, item: &'ast syn::ImplItemConst) {
        self.with_anchor(item.span().start().line, |v| {
            visit::visit_impl_item_const(v, item)
        });
    }

    fn visit_expr_unsafe(&mut self, expr: &'ast syn::ExprUnsafe) {
        self.block(expr.unsafe_token.span, expr.block.brace_token.span.close());
        visit::visit_expr_unsafe(self, expr);
    }

    fn visit_signature(&mut self, sig: &'ast syn::Signature) {
        if let Some(token) = &sig.unsafety {
            self.record(Kind::Fn, token.span, None);
        }
        visit::visit_signature(self, sig);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if let Some(token) = &item.unsafety {
            // Above the attributes counts as right above the item.
            self.record(Kind::Impl, token.span, Some(item.span().start().line));
        }
        visit::visit_item_impl(self, item);
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        if let Some(token) = &item.unsafety {
            self.record(Kind::Other, token.span, None);
        }
        visit::visit_item_trait(self, item);
    }

    fn visit_item_foreign_mod(&mut self, item: &'ast syn::ItemForeignMod) {
        if let Some(token) = &item.unsafety {
            self.record(Kind::Other, token.span, None);
        }
        visit::visit_item_foreign_mod(self, item);
    }

    fn visit_foreign_item_fn(&mut self, item: &'ast syn::ForeignItemFn) {
        self.record(Kind::ExternFn, item.sig.fn_token.span, None);
        visit::visit_foreign_item_fn(self, item);
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if attr.path().is_ident("unsafe") {
            self.record(Kind::Other, attr.path().span(), None);
        }
        visit::visit_attribute(self, attr);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.scan_tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }
}

/// Whether the lines right above `line` (1-based) hold a `// SAFETY:`
/// comment: walks up through a run of `//` comments and one-line
/// attributes, and stops at anything else (code or a blank line).
fn has_safety_comment(lines: &[&str], line: usize) -> bool {
    for above in lines[..line.saturating_sub(1).min(lines.len())]
        .iter()
        .rev()
    {
        let text = above.trim();
        if let Some(comment) = text.strip_prefix("//") {
            let comment = comment.trim_start_matches(['/', '!']).trim_start();
            if comment.starts_with("SAFETY:") {
                return true;
            }
        } else if !(text.starts_with("#[") && text.ends_with(']')) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TempDir;

    fn sites(source: &str) -> Vec<(usize, Kind, bool)> {
        audit_source(source)
            .expect("parses")
            .sites
            .iter()
            .map(|s| (s.line, s.kind, s.documented))
            .collect()
    }

    #[test]
    fn documented_block_passes_and_undocumented_fails() {
        let source = "fn f(p: *const u8) -> u8 {
    // SAFETY: the caller passes a valid pointer.
    let a = unsafe { *p };
    let b = unsafe { *p };
    a + b
}
";
        assert_eq!(
            sites(source),
            [(3, Kind::Block, true), (4, Kind::Block, false)]
        );
    }

    #[test]
    fn multi_line_comment_and_enclosing_statement_count_as_right_above() {
        let source = "fn f(p: *const u8) -> u8 {
    // The pointer comes from a live Box.
    // SAFETY: valid for reads, see above.
    unsafe {
        *p
    }
}
fn g(p: *const u8) -> u8 {
    // SAFETY: valid pointer.
    let value = core::convert::identity(
        unsafe { *p },
    );
    value
}
";
        assert_eq!(
            sites(source),
            [(4, Kind::Block, true), (11, Kind::Block, true)]
        );
    }

    #[test]
    fn blank_line_or_code_breaks_the_comment() {
        let source = "fn f(p: *const u8) -> u8 {
    // SAFETY: valid pointer.

    let a = unsafe { *p };
    // SAFETY: valid pointer.
    let b = 1;
    let c = unsafe { *p };
    a + b + c
}
";
        assert_eq!(
            sites(source),
            [(4, Kind::Block, false), (7, Kind::Block, false)]
        );
    }

    #[test]
    fn unsafe_in_strings_and_comments_does_not_count() {
        let source = r#"
// unsafe { this is a comment }
/// Docs mentioning unsafe { blocks } and unsafe impl.
fn f() -> &'static str {
    /* unsafe { } */
    let _ = "unsafe { not code }";
    println!("unsafe impl Send for X {{}}");
    r"unsafe fn nope()"
}
"#;
        let audit = audit_source(source).expect("parses");
        assert!(audit.sites.is_empty(), "{:?}", audit.sites);
        assert_eq!(
            audit.counts,
            Counts {
                files: 1,
                ..Counts::default()
            }
        );
    }

    #[test]
    fn impls_fns_and_attributes_are_counted() {
        let source = r#"
struct S(*mut u8);
#[cfg(unix)]
// SAFETY: S owns its pointer; nothing else aliases it.
unsafe impl Send for S {}
// SAFETY: read-only access through &S.
#[cfg(unix)]
unsafe impl Sync for S {}
unsafe impl Sync for T {}
/// # Safety
/// `p` must be valid.
pub unsafe fn read(p: *const u8) -> u8 {
    // SAFETY: forwarded to the caller.
    unsafe { *p }
}
unsafe extern "C" {
    fn close(fd: i32) -> i32;
}
unsafe trait Marker {}
#[unsafe(no_mangle)]
extern "C" fn exported() {}
"#;
        let audit = audit_source(source).expect("parses");
        let c = audit.counts;
        assert_eq!(
            (c.blocks, c.fns, c.impls, c.extern_fns, c.other),
            (1, 1, 3, 1, 3)
        );
        let undocumented: Vec<usize> = audit
            .sites
            .iter()
            .filter(|s| matches!(s.kind, Kind::Block | Kind::Impl) && !s.documented)
            .map(|s| s.line)
            .collect();
        assert_eq!(undocumented, [9]);
    }

    #[test]
    fn unsafe_inside_macro_bodies_is_found() {
        let source = r#"
fn f(p: *const u8) {
    println!("{}", unsafe { *p });
    // SAFETY: valid pointer.
    assert_eq!(unsafe { *p }, 1, "unsafe {{ in a string }}");
}
"#;
        assert_eq!(
            sites(source),
            [(3, Kind::Block, false), (5, Kind::Block, true)]
        );
    }

    #[test]
    fn block_lines_count_the_lines_between_braces_once() {
        let source = "fn f(p: *const u8) -> u8 {
    // SAFETY: valid.
    let a = unsafe { *p };
    // SAFETY: valid.
    unsafe {
        let x = *p;
        // SAFETY: nested, valid.
        let y = unsafe { *p };
        x + y + a
    }
}
";
        let counts = audit_source(source).expect("parses").counts;
        assert_eq!(counts.blocks, 3);
        // Line 3, and lines 6..=9 (the nested block's line 8 counts once).
        assert_eq!(counts.block_lines, 5);
    }

    fn member(dir: &TempDir, name: &str) -> Member {
        Member {
            name: name.to_owned(),
            id: name.to_owned(),
            dir: dir.path().join(name),
        }
    }

    #[test]
    fn forbidden_crate_fails_and_allowed_crate_passes() {
        let dir = TempDir::new("audit-forbidden");
        let documented =
            "pub fn f(p: *const u8) -> u8 {\n    // SAFETY: valid.\n    unsafe { *p }\n}\n";
        dir.write("inotify/src/lib.rs", documented);
        dir.write("watch-core/src/lib.rs", "pub fn ok() {}\n");
        let members = [member(&dir, "inotify"), member(&dir, "watch-core")];
        let report = audit(&members).expect("audit runs");
        assert!(report.problems.is_empty(), "{:?}", report.problems);

        // The same documented block is still an error in watch-core, even
        // when it hides in a test file.
        dir.write("watch-core/tests/sneaky.rs", documented);
        let report = audit(&members).expect("audit runs");
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        let problem = &report.problems[0];
        assert!(problem.file.ends_with("watch-core/tests/sneaky.rs"));
        assert_eq!(problem.line, 3);
        assert!(problem.message.contains("must not contain unsafe"));
        assert_eq!(report.crates[1].1.blocks, 1);
    }

    #[test]
    fn unparsable_file_is_an_error() {
        let dir = TempDir::new("audit-parse");
        dir.write("kqueue/src/lib.rs", "fn broken( {\n");
        let error = audit(&[member(&dir, "kqueue")]).unwrap_err();
        assert!(error.to_string().contains("cannot parse"), "{error}");
    }

    /// Copies the real workspace's crate sources into a scratch directory,
    /// plants an undocumented unsafe block in `inotify`, and checks that the
    /// audit reports exactly that new problem.
    #[test]
    fn planted_undocumented_block_in_a_copy_of_the_workspace_fails() {
        let root = workspace::root();
        let scratch = TempDir::new("audit-plant");
        let members: Vec<Member> = workspace::members(&root)
            .expect("cargo metadata")
            .into_iter()
            .map(|m| {
                let copy = scratch.path().join(relative(&m.dir, &root));
                for file in rust_files(&m.dir).expect("list files") {
                    let target = copy.join(relative(&file, &m.dir));
                    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                    std::fs::copy(&file, &target).expect("copy");
                }
                Member { dir: copy, ..m }
            })
            .collect();
        let baseline = audit(&members).expect("audit of the copy").problems;

        scratch.write(
            "inotify/src/planted_by_audit_test.rs",
            "pub fn planted(p: *const u8) -> u8 {\n    unsafe { *p }\n}\n",
        );
        let planted = audit(&members).expect("audit of the planted copy").problems;
        let new: Vec<&Problem> = planted.iter().filter(|p| !baseline.contains(p)).collect();
        assert_eq!(new.len(), 1, "{new:?}");
        assert!(
            new[0]
                .file
                .ends_with("inotify/src/planted_by_audit_test.rs")
        );
        assert_eq!(new[0].line, 2);
        assert!(new[0].message.contains("without a `// SAFETY:` comment"));

        // Documenting it makes the new problem go away.
        scratch.write(
            "inotify/src/planted_by_audit_test.rs",
            "pub fn planted(p: *const u8) -> u8 {\n    // SAFETY: test plant.\n    unsafe { *p }\n}\n",
        );
        let documented = audit(&members).expect("audit of the fixed copy").problems;
        assert_eq!(documented, baseline);
    }

    #[test]
    fn table_has_a_row_per_crate_and_a_total() {
        let report = Report {
            crates: vec![
                (
                    "inotify-sys".into(),
                    Counts {
                        files: 2,
                        extern_fns: 5,
                        ..Counts::default()
                    },
                ),
                (
                    "watch-core".into(),
                    Counts {
                        files: 3,
                        ..Counts::default()
                    },
                ),
            ],
            problems: Vec::new(),
        };
        let table = report.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].starts_with("inotify-sys") && lines[1].ends_with("yes"));
        assert!(lines[2].starts_with("watch-core") && lines[2].ends_with("no"));
        assert!(lines[3].starts_with("total"));
        assert!(lines[3].contains(" 5 "));
    }
}
