//! The engine's layers: every `crate::` reference between its top-level
//! modules goes down the declared order, so the modules form no cycle and a
//! reader can take them bottom-up.
//!
//! The order is written here and in ARCHITECTURE.md (checked to agree).
//! References are read from the source with comments and string literals
//! removed: `crate::a::…` paths anywhere (in `use` items, types and
//! expressions), `use crate::{a, b::c}` groups, and `super::` paths that
//! climb out of a top-level module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `engine/src`, lowest layer first. A module may
/// use only modules listed before it.
const ORDER: &[&str] = &[
    "model", "error", "config", "graph", "plugin", "store", "txn", "views", "runtime", "api",
];

/// A reference from one top-level module to another, with the file that
/// makes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    from: String,
    to: String,
    file: String,
}

#[test]
fn engine_modules_follow_the_declared_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeSet::new();
    let mut references = Vec::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let path = module_path(relative);
        let Some(top) = path.first().cloned() else {
            continue; // lib.rs: the root re-exports every layer.
        };
        modules.insert(top.clone());
        let source = std::fs::read_to_string(&file).expect("read source");
        for to in referenced_modules(&strip_comments_and_strings(&source), &path) {
            if to != top {
                references.push(Reference {
                    from: top.clone(),
                    to,
                    file: relative.display().to_string(),
                });
            }
        }
    }
    assert!(
        references.len() > 20,
        "the scan found too few references to be reading the source"
    );
    let unplaced: Vec<&String> = modules
        .iter()
        .filter(|m| !ORDER.contains(&m.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules not in the layer order: {unplaced:?}; add them to ORDER here and in ARCHITECTURE.md"
    );
    let problems = check(ORDER, &references);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn architecture_md_states_the_same_order() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
            .expect("read ARCHITECTURE.md");
    let line = doc
        .lines()
        .find(|l| l.trim_start().starts_with("Layer order:"))
        .expect("ARCHITECTURE.md has a `Layer order:` line");
    let stated: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
    assert_eq!(stated, ORDER, "ARCHITECTURE.md and this test disagree");
}

/// The checker rejects what it must: a cycle, and a reference up the order.
#[test]
fn the_checker_rejects_cycles_and_upward_references() {
    let order = ["low", "mid", "high"];
    let reference = |from: &str, to: &str| Reference {
        from: from.to_owned(),
        to: to.to_owned(),
        file: format!("{from}.rs"),
    };
    assert!(check(&order, &[reference("high", "low"), reference("mid", "low")]).is_empty());

    let upward = check(&order, &[reference("low", "mid")]);
    assert_eq!(upward.len(), 1, "{upward:?}");
    assert!(upward[0].contains("`low` uses `mid`"), "{upward:?}");

    let cyclic = check(
        &order,
        &[
            reference("mid", "low"),
            reference("low", "high"),
            reference("high", "mid"),
        ],
    );
    assert!(
        cyclic.iter().any(|p| p.starts_with("cycle")),
        "a cycle is named: {cyclic:?}"
    );

    let unknown = check(&order, &[reference("mid", "elsewhere")]);
    assert!(!unknown.is_empty(), "a module outside the order is refused");
}

/// The scanner finds references in every form and ignores comments and
/// strings.
#[test]
fn the_scanner_reads_paths_groups_and_super() {
    let source = r#"
        //! Mentions crate::commented in a doc comment.
        use crate::{alpha, beta::Thing, gamma::{self, x}};
        use super::super::delta::Other; /* crate::blocked */
        pub(crate) fn f() -> crate::epsilon::T {
            let s = "crate::quoted";
            let c = '"';
            crate::zeta::call(s, c)
        }
        macro_rules! m { () => { $crate::not_ours }; }
    "#;
    let found = referenced_modules(
        &strip_comments_and_strings(source),
        &["top".to_owned(), "inner".to_owned()],
    );
    let expected: BTreeSet<String> = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(found, expected);
}

/// Every problem with `references` against `order`: references to a module
/// that is not in the order, references that go up it, and cycles.
fn check(order: &[&str], references: &[Reference]) -> Vec<String> {
    let rank = |m: &str| order.iter().position(|o| *o == m);
    let mut problems = Vec::new();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in references {
        graph.entry(&r.from).or_default().insert(&r.to);
        match (rank(&r.from), rank(&r.to)) {
            (Some(from), Some(to)) if to < from => {}
            (Some(_), Some(_)) => problems.push(format!(
                "`{}` uses `{}` ({}), which comes later in the layer order {order:?}",
                r.from, r.to, r.file
            )),
            _ => problems.push(format!(
                "`{}` uses `{}` ({}): a module outside the layer order {order:?}",
                r.from, r.to, r.file
            )),
        }
    }
    problems.extend(
        cycles(&graph)
            .into_iter()
            .map(|c| format!("cycle: {}", c.join(" -> "))),
    );
    problems
}

/// One cycle through each strongly connected part of `graph` that has one.
fn cycles<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        found: &mut Vec<Vec<&'a str>>,
    ) {
        if let Some(at) = stack.iter().position(|n| *n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node);
            found.push(cycle);
            return;
        }
        if !done.insert(node) {
            return;
        }
        stack.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, stack, done, found);
        }
        stack.pop();
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The module path of a file under `src`: `runtime/scheduler/mod.rs` is
/// `[runtime, scheduler]`, `lib.rs` is `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_owned());
        }
    }
    parts
}

/// The top-level modules `code` (comments and strings removed) names, from
/// a file whose module path is `path`.
fn referenced_modules(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let previous = i.checked_sub(1).map(|p| bytes[p]);
        let word_start = previous.is_none_or(|b| !is_ident(b) && b != b'$');
        if word_start && starts(code, i, "crate") {
            let after = skip_space(code, i + "crate".len());
            if starts(code, after, "::") {
                let next = skip_space(code, after + 2);
                if starts(code, next, "{") {
                    found.extend(group_heads(code, next));
                } else if let Some(name) = ident_at(code, next) {
                    found.insert(name);
                }
            }
            i += "crate".len();
            continue;
        }
        if word_start && starts(code, i, "super") {
            // `super::super::x` from a file at depth d reaches the crate
            // root after d supers; the next name is then a top-level module.
            let mut depth = path.len();
            let mut at = i;
            while starts(code, at, "super") {
                let after = skip_space(code, at + "super".len());
                if !starts(code, after, "::") {
                    break;
                }
                depth = depth.saturating_sub(1);
                at = skip_space(code, after + 2);
            }
            if depth == 0
                && let Some(name) = ident_at(code, at)
            {
                found.insert(name);
            }
            i = at.max(i + 1);
            continue;
        }
        i += 1;
    }
    found.retain(|name| name != "self");
    found
}

/// The first name of every item in the `{…}` group opening at `open`.
fn group_heads(code: &str, open: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (offset, c) in code[open..].char_indices() {
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if expect_head && depth == 1 && !c.is_whitespace() => {
                expect_head = false;
                heads.extend(ident_at(code, open + offset));
            }
            _ => {}
        }
    }
    heads
}

fn starts(code: &str, at: usize, pattern: &str) -> bool {
    code.get(at..).is_some_and(|rest| rest.starts_with(pattern))
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_space(code: &str, mut at: usize) -> usize {
    while code.as_bytes().get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

fn ident_at(code: &str, at: usize) -> Option<String> {
    let rest = code.get(at..)?;
    let len = rest.bytes().take_while(|b| is_ident(*b)).count();
    (len > 0).then(|| rest[..len].to_owned())
}

/// `source` with comments, string literals and character literals blanked
/// out, so only code is scanned.
fn strip_comments_and_strings(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && matches!(next, Some('"') | Some('#')) && !prev_is_ident(&chars, i) {
            // A raw string: r"…" or r#"…"#.
            let mut hashes = 0;
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '"'), or a lifetime ('a).
            let literal_end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|c| *c == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match literal_end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}
