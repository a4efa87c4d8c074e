//! The shape of `src/`: no cycle between modules, none between the files of
//! one module, and the layers run one way:
//!
//! ```text
//! server -> api -> session -> {signaling, media, input, store, auth} -> {model, config} -> {files, sync, netns}
//! ```
//!
//! A lower module never names a higher one; modules of one layer may name
//! each other, but only one way (a cycle fails). `main.rs` and `src/bin/` are
//! crates of their own on top of the library and name it as `playcast::`.
//!
//! The check reads the source: every path that starts with `crate::`,
//! `super::` or `self::` (in `use` lines, `use` groups and expressions),
//! outside comments, doc comments and string literals, resolved against the
//! file's module and any inline `mod x { .. }` it sits in. Each reference is
//! an edge from the file's module to the deepest module the path names. For
//! every module with submodules, edges are then lifted to its direct children
//! (a file in `store/cache/` counts as `cache` inside `store`, and as `store`
//! at the top), and the module's own file (`mod.rs`, or `lib.rs` at the top)
//! is a node of its own named `mod`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

/// Top-level modules by layer, highest first. A module may name modules of
/// its own layer or lower ones only.
const LAYERS: &[&[&str]] = &[
    &["mod"],
    &["server"],
    &["api"],
    &["session"],
    &["signaling", "media", "input", "store", "auth"],
    &["model", "config"],
    &["files", "sync", "netns"],
];

#[test]
fn modules_form_no_cycle_and_layers_run_one_way() {
    // LAYERS_SRC checks another tree (say an old commit's `src/`) the same way.
    let root = std::env::var_os("LAYERS_SRC")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let sources = read_sources(&root);
    assert!(sources.len() > 20, "read only {} files under {}", sources.len(), root.display());
    let report = check(&sources, LAYERS);
    if !report.findings.is_empty() {
        let mut msg = String::from("Cycles or layer violations (break them; the layers are in tests/layers.rs):\n");
        for (finding, at) in &report.findings {
            let _ = writeln!(msg, "  {finding}    first at {at}");
        }
        let _ = writeln!(msg, "Cycles found (strongly connected modules):");
        for c in &report.cycles {
            let _ = writeln!(msg, "  {c}");
        }
        panic!("{msg}");
    }
}

/// Every `.rs` file of the library, by its path relative to `src/`.
fn read_sources(root: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            if rel == "main.rs" || rel == "bin" {
                continue;
            }
            if path.is_dir() {
                walk(&path, root, out);
            } else if rel.ends_with(".rs") {
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// What the check found.
struct Report {
    /// Each cycle edge (`cycle in media: stream -> sink`) and layer violation
    /// (`layer: signaling -> session`), with where the first reference is.
    findings: BTreeMap<String, String>,
    /// Each group of modules that reach each other, for the failure message.
    cycles: Vec<String>,
}

/// A module path from the crate root, e.g. `["media", "stream"]`.
type ModPath = Vec<String>;

/// One reference: the file's module, the module it names, and where.
struct Edge {
    from: ModPath,
    to: ModPath,
    at: String,
}

fn check(sources: &[(String, String)], layers: &[&[&str]]) -> Report {
    let modules: BTreeSet<ModPath> = sources.iter().map(|(rel, _)| module_of(rel)).collect();
    let mut edges = Vec::new();
    for (rel, text) in sources {
        let from = module_of(rel);
        for (line, path) in references(text, &from) {
            // The deepest module the path names; the rest are items in it.
            let to = (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| modules.contains(p));
            if let Some(to) = to {
                edges.push(Edge { from: from.clone(), to, at: format!("src/{rel}:{line}") });
            }
        }
    }

    let mut findings = BTreeMap::new();
    let mut cycles = Vec::new();
    // Every module with submodules, and the crate root.
    let parents: BTreeSet<ModPath> =
        modules.iter().filter(|m| !m.is_empty()).map(|m| m[..m.len() - 1].to_vec()).collect();
    for parent in &parents {
        let scope = if parent.is_empty() { "crate".to_string() } else { parent.join("::") };
        let child = |m: &ModPath| -> Option<String> {
            if !m.starts_with(parent) {
                return None;
            }
            Some(m.get(parent.len()).cloned().unwrap_or_else(|| "mod".to_string()))
        };
        let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for e in &edges {
            if let (Some(a), Some(b)) = (child(&e.from), child(&e.to)) {
                if a != b {
                    graph.entry(a).or_default().entry(b).or_insert_with(|| e.at.clone());
                }
            }
        }
        for component in strongly_connected(&graph) {
            if component.len() < 2 {
                continue;
            }
            cycles.push(format!("in {scope}: {}", component.iter().cloned().collect::<Vec<_>>().join(", ")));
            for a in &component {
                for (b, at) in graph.get(a).into_iter().flatten() {
                    if component.contains(b) {
                        findings.insert(format!("cycle in {scope}: {a} -> {b}"), at.clone());
                    }
                }
            }
        }
        if parent.is_empty() {
            let rank = |m: &str| layers.iter().position(|layer| layer.contains(&m));
            for (a, targets) in &graph {
                for (b, at) in targets {
                    match (rank(a), rank(b)) {
                        (Some(ra), Some(rb)) if ra > rb => {
                            findings.insert(format!("layer: {a} -> {b}"), at.clone());
                        }
                        (Some(_), Some(_)) => {}
                        (None, _) => {
                            findings.insert(format!("layer: {a} has no layer"), at.clone());
                        }
                        (_, None) => {
                            findings.insert(format!("layer: {b} has no layer"), at.clone());
                        }
                    }
                }
            }
        }
    }
    Report { findings, cycles }
}

/// The module a file under `src/` defines: `media/stream.rs` is
/// `media::stream`, `media/mod.rs` is `media`, `lib.rs` the root.
fn module_of(rel: &str) -> ModPath {
    let stem = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Tarjan's algorithm: the groups of nodes that all reach each other.
fn strongly_connected(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<BTreeSet<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|t| t.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    let nodes: BTreeSet<&str> =
        graph.iter().flat_map(|(a, t)| std::iter::once(a.as_str()).chain(t.keys().map(String::as_str))).collect();
    for v in nodes {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Rust source as identifiers, `::` and other punctuation, each with its
/// line; comments (doc comments too), string and character literals and
/// lifetimes are left out.
fn tokens(text: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b' || c == 'c') && raw_or_prefixed_string(&chars, i).is_some()) {
            let (start, hashes, raw) =
                if c == '"' { (i, 0, false) } else { raw_or_prefixed_string(&chars, i).unwrap() };
            i = start + 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' if !raw => {
                        line += usize::from(at(i + 1) == '\n');
                        i += 2;
                    }
                    '"' if (1..=hashes).all(|h| at(i + h) == '#') => {
                        i += 1 + hashes;
                        break;
                    }
                    ch => {
                        line += usize::from(ch == '\n');
                        i += 1;
                    }
                }
            }
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((line, Token::Ident(chars[start..i].iter().collect())));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((line, Token::Path));
            i += 2;
        } else {
            out.push((line, Token::Punct(c)));
            i += 1;
        }
    }
    out
}

/// At a `r"`, `r#"`, `b"`, `br#"`, `c"` ...: the index of the opening quote,
/// the number of `#`, and whether escapes are off.
fn raw_or_prefixed_string(chars: &[char], i: usize) -> Option<(usize, usize, bool)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    let raw = chars.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let mut hashes = 0;
    while raw && chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (j > i && chars.get(j) == Some(&'"')).then_some((j, hashes, raw))
}

/// Every path the file names from `crate::`, `super::` or `self::`, resolved
/// to a full path from the crate root, with its line.
fn references(text: &str, module: &[String]) -> Vec<(usize, ModPath)> {
    let toks = tokens(text);
    let mut out = Vec::new();
    // Inline modules the position is in: name and the brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].1 {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(kw) if kw == "mod" => {
                if let (Some((_, Token::Ident(name))), Some((_, Token::Punct('{')))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth + 1));
                }
            }
            Token::Ident(start) if matches!(start.as_str(), "crate" | "super" | "self") => {
                let follows_path = i > 0 && matches!(toks[i - 1].1, Token::Path);
                let in_visibility = i > 0 && toks[i - 1].1 == Token::Ident("in".into());
                if !follows_path && !in_visibility && toks.get(i + 1).map(|t| &t.1) == Some(&Token::Path) {
                    let mut base: ModPath = module.to_vec();
                    base.extend(inline.iter().map(|(n, _)| n.clone()));
                    let line = toks[i].0;
                    let (paths, next) = path_tree(&toks, i);
                    for p in paths {
                        if let Some(resolved) = resolve(&base, &p) {
                            out.push((line, resolved));
                        }
                    }
                    i = next;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The paths of a path or `use` tree starting at `toks[i]`, each as its
/// segments (groups `{a, b::c}` expanded), and the index after it.
fn path_tree(toks: &[(usize, Token)], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        match toks.get(i).map(|t| &t.1) {
            Some(Token::Ident(seg)) => {
                prefix.push(seg.clone());
                i += 1;
                if toks.get(i).map(|t| &t.1) == Some(&Token::Path) {
                    i += 1;
                    continue;
                }
                return (vec![prefix], i);
            }
            Some(Token::Punct('{')) => {
                i += 1;
                let mut all = Vec::new();
                loop {
                    match toks.get(i).map(|t| &t.1) {
                        None => return (all, i),
                        Some(Token::Punct('}')) => return (all, i + 1),
                        Some(Token::Punct(',')) => i += 1,
                        Some(Token::Ident(_) | Token::Punct('{')) => {
                            let (inner, next) = path_tree(toks, i);
                            all.extend(inner.into_iter().map(|p| {
                                // `self` in a group names the group's own path.
                                let p: Vec<String> = p.into_iter().filter(|s| s != "self").collect();
                                prefix.iter().cloned().chain(p).collect()
                            }));
                            // Skip `as alias` and anything else up to the next item.
                            i = next;
                            while let Some(t) = toks.get(i).map(|t| &t.1) {
                                if matches!(t, Token::Punct(',' | '}')) {
                                    break;
                                }
                                i += 1;
                            }
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            // `*` or a turbofish `<..>`: the path so far.
            _ => return (vec![prefix], i),
        }
    }
}

/// `crate::a::b`, `super::a`, `self::a` from module `base` to a path from the
/// crate root; `None` when `super` climbs above the root.
fn resolve(base: &[String], path: &[String]) -> Option<ModPath> {
    let mut segs = path.iter().peekable();
    let mut out: ModPath = match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segs.next();
            Vec::new()
        }
        _ => base.to_vec(),
    };
    while let Some(s) = segs.peek() {
        match s.as_str() {
            "super" => {
                out.pop()?;
            }
            "self" => {}
            _ => break,
        }
        segs.next();
    }
    out.extend(segs.cloned());
    Some(out)
}

/// The checker itself, on small made-up trees.
mod checker {
    use super::*;

    fn src(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect()
    }

    const LAYERED: &[&[&str]] = &[&["mod"], &["api"], &["session"], &["media", "store"], &["config"]];

    fn found(files: &[(&str, &str)]) -> Vec<String> {
        check(&src(files), LAYERED).findings.into_keys().collect()
    }

    #[test]
    fn a_clean_tree_has_no_findings() {
        let files = [
            ("lib.rs", "pub mod api; pub mod session; pub mod config;"),
            ("api/mod.rs", "use crate::session::Manager;\nmod routes;"),
            ("api/routes.rs", "use super::problem::Problem; use crate::config::Config;"),
            ("api/problem.rs", "pub struct Problem;"),
            ("session/mod.rs", "use crate::config::{self, Config};"),
            ("config.rs", "pub struct Config;"),
        ];
        assert_eq!(found(&files), Vec::<String>::new());
    }

    #[test]
    fn a_cycle_between_top_level_modules_and_the_layer_it_breaks() {
        let files = [
            ("session/mod.rs", "use crate::media::Stream;"),
            ("media/mod.rs", "fn f() { let _ = crate::session::manager::Manager::new(); }"),
            ("session/manager.rs", ""),
        ];
        assert_eq!(
            found(&files),
            ["cycle in crate: media -> session", "cycle in crate: session -> media", "layer: media -> session"]
        );
    }

    #[test]
    fn a_cycle_between_files_of_one_module_through_super_and_groups() {
        let files = [
            ("media/mod.rs", ""),
            ("media/stream.rs", "use super::{sink::{self, Sink}, datachannel::Port};"),
            ("media/datachannel.rs", "use crate::media::stream::Stream as S;"),
            ("media/sink.rs", "pub struct Sink;"),
        ];
        assert_eq!(found(&files), ["cycle in media: datachannel -> stream", "cycle in media: stream -> datachannel"]);
    }

    #[test]
    fn a_nested_module_counts_as_one_child_of_its_parent() {
        let files = [
            ("store/mod.rs", "pub mod cache;"),
            ("store/cache.rs", "pub mod hub;"),
            ("store/cache/hub.rs", "use crate::store::entity::Row;"),
            ("store/entity.rs", "use super::cache::hub::Hub;"),
        ];
        assert_eq!(found(&files), ["cycle in store: cache -> entity", "cycle in store: entity -> cache"]);
    }

    #[test]
    fn a_module_file_and_its_children_form_a_cycle_through_mod() {
        let files = [("session/mod.rs", "pub use self::listing::View;"), ("session/listing.rs", "use super::Manager;")];
        assert_eq!(found(&files), ["cycle in session: listing -> mod", "cycle in session: mod -> listing"]);
    }

    #[test]
    fn comments_strings_and_visibility_are_not_references() {
        let files = [
            ("config.rs", concat!(
                "//! See [`crate::session::Manager`].\n",
                "/// Like `crate::api::x`.\n",
                "/* crate::api::y /* nested crate::api::z */ */\n",
                "pub(crate) fn f<'a>(s: &'a str) -> char { let _ = \"crate::api::w\"; let _ = r#\"crate::api::\"q\"#; '\"' }\n",
                "pub(in crate::config) fn g() {}\n",
            )),
            ("api/mod.rs", ""),
            ("session/mod.rs", ""),
        ];
        assert_eq!(found(&files), Vec::<String>::new());
    }

    #[test]
    fn super_in_an_inline_module_is_the_file_itself() {
        // `use super::*` in `mod tests` names media::stream, not media.
        let files = [
            ("media/mod.rs", "pub mod stream;"),
            ("media/stream.rs", "mod tests { use super::*; use super::super::sink::S; }"),
            ("media/sink.rs", "use super::stream::X;"),
        ];
        assert_eq!(found(&files), ["cycle in media: sink -> stream", "cycle in media: stream -> sink"]);
        let only_inner = [
            ("media/mod.rs", ""),
            ("media/stream.rs", "mod tests { use super::*; }"),
            ("media/sink.rs", "use super::stream::X;"),
        ];
        assert_eq!(found(&only_inner), Vec::<String>::new());
    }

    #[test]
    fn a_reference_to_higher_layer_without_a_cycle_and_an_unplaced_module() {
        let files = [
            ("store/mod.rs", "use crate::api::Problem;"),
            ("api/mod.rs", ""),
            ("extra.rs", "use crate::config::C;"),
            ("config.rs", ""),
        ];
        assert_eq!(found(&files), ["layer: extra has no layer", "layer: store -> api"]);
    }

    #[test]
    fn the_first_reference_is_reported_with_its_line() {
        let files = [("media/mod.rs", "\n\nuse crate::session::S;"), ("session/mod.rs", "use crate::media::M;")];
        let report = check(&src(&files), LAYERED);
        assert_eq!(report.findings["layer: media -> session"], "src/media/mod.rs:3");
        assert_eq!(report.cycles, ["in crate: media, session"]);
    }
}
