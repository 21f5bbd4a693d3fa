//! No module of the workspace reaches itself through its siblings: within each folder of each
//! crate's `src`, the `crate::` and `super::` paths between sibling modules form no cycle, of
//! any length (issue 16: a cycle ties every module on it to every other, so none can be read,
//! tested or replaced alone). Read from the sources as text, before their first
//! `#[cfg(test)]`, without comment lines, with `use a::{b, c}` groups expanded.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const CRATES: [&str; 6] = [
    "server",
    "client",
    "shared",
    "scripts/chat-load",
    "scripts/chat-compare",
    "test-support",
];

/// Module name -> the module it uses, between the siblings of one folder.
type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn no_module_reaches_itself_through_its_siblings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut cycles = Vec::new();
    for krate in CRATES {
        let src = root.join(krate).join("src");
        for dir in folders(&src) {
            let graph = graph(&src, &dir);
            for (from, to) in graph
                .iter()
                .flat_map(|(a, bs)| bs.iter().map(move |b| (a, b)))
            {
                if reaches(&graph, to, from) {
                    let folder = dir.strip_prefix(root).unwrap().display();
                    cycles.push(format!("{folder}: {from} -> {to} -> ... -> {from}"));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn a_cycle_of_three_is_found() {
    let graph: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(a, b)| (a.to_string(), BTreeSet::from([b.to_string()])))
        .collect();
    assert!(reaches(&graph, "b", "a"));
    let open: Graph = graph.into_iter().filter(|(a, _)| a != "c").collect();
    assert!(!reaches(&open, "b", "a"));
}

#[test]
fn groups_are_expanded_and_paths_matched_whole() {
    let text = expand("use crate::{config::Db, store::{self, link}};");
    assert!(mentions(&text, "crate::config"));
    assert!(mentions(&text, "crate::store"));
    assert!(!mentions("crate::storefront::X", "crate::store"));
    assert!(!mentions("super::super::irc::X", "super::irc"));
    assert!(mentions("super::super::irc::X", "super::super::irc"));
}

/// `src` and every folder below it.
fn folders(src: &Path) -> Vec<PathBuf> {
    let mut all = vec![src.to_path_buf()];
    let mut at = 0;
    while at < all.len() {
        let mut below: Vec<PathBuf> = fs::read_dir(&all[at])
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_dir())
            .collect();
        below.sort();
        all.extend(below);
        at += 1;
    }
    all
}

/// The sibling modules of `dir` (a file `name.rs`, a folder `name/`, or both) and which of
/// them each one's files name.
fn graph(src: &Path, dir: &Path) -> Graph {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            files.entry(name).or_default().extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs")
            && !["lib", "main", "mod"].contains(&name.as_str())
        {
            files.entry(name).or_default().push(path);
        }
    }
    let in_crate: String = dir
        .strip_prefix(src)
        .unwrap()
        .components()
        .map(|c| format!("::{}", c.as_os_str().to_string_lossy()))
        .collect();
    let mut graph = Graph::new();
    for (module, paths) in &files {
        let uses = graph.entry(module.clone()).or_default();
        for path in paths {
            let text = code(path);
            // `super::` from a module's own file, `super::super::` from a file one folder down.
            let rel: Vec<_> = path.strip_prefix(dir).unwrap().components().collect();
            let depth = rel.len() - usize::from(path.ends_with("mod.rs"));
            let up = "super::".repeat(depth);
            for other in files.keys().filter(|other| *other != module) {
                let by_crate = format!("crate{in_crate}::{other}");
                if mentions(&text, &by_crate) || mentions(&text, &format!("{up}{other}")) {
                    uses.insert(other.clone());
                }
            }
        }
    }
    graph
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// A file's code before its tests, without comment lines, its groups expanded.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    let lines = before_tests
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"));
    expand(&lines.collect::<Vec<_>>().join("\n"))
}

/// `a::{b, c::{d, self}}` as `a::b a::c::d a::c`.
fn expand(text: &str) -> String {
    let Some(open) = text.find("::{") else {
        return text.to_string();
    };
    let is_path = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let start = text[..open]
        .rfind(|c: char| !is_path(c))
        .map_or(0, |i| i + 1);
    let (prefix, rest) = (&text[start..open], &text[open + 3..]);
    let (mut depth, mut parts, mut part) = (1, Vec::new(), String::new());
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => {
                end = i + 1;
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 1 => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    let paths = parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty());
    let paths = paths.map(|p| match p {
        "self" => prefix.to_string(),
        _ => expand(&format!("{prefix}::{p}")),
    });
    let group = paths.collect::<Vec<_>>().join(" ");
    format!("{}{group} {}", &text[..start], expand(&rest[end..]))
}

/// Whether `text` holds `path` whole: not inside a longer name or a longer `super::` chain.
fn mentions(text: &str, path: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(path).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + path.len()..].chars().next();
        !before.is_some_and(|c| ident(c) || c == ':') && !after.is_some_and(ident)
    })
}

/// Whether `from` reaches `to` along the graph's edges.
fn reaches(graph: &Graph, from: &str, to: &str) -> bool {
    let (mut seen, mut stack) = (BTreeSet::new(), vec![from.to_string()]);
    while let Some(module) = stack.pop() {
        if module == to {
            return true;
        }
        if seen.insert(module.clone()) {
            stack.extend(graph.get(&module).into_iter().flatten().cloned());
        }
    }
    false
}
