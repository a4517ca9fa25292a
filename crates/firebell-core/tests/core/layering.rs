//! No module of `firebell-core` or `firebell-engine` imports a module that
//! imports it back (directly or round a longer loop): each file's
//! `crate::…` and `super::…` references (doc links included), outside its
//! tests and plain comments,
//! must form a graph without cycles. The crate root (`lib.rs`) composes the
//! modules and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`config::diag`) → file, for every `.rs` file under `src`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// The code of a file without its tests and plain comments. Doc comments
/// stay: an intra-doc link (`[`crate::quiet`]`) is a dependency too.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with("//") || l.starts_with("///") || l.starts_with("//!")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The longest known module a path of identifiers starts with.
fn longest_known<'a>(parts: &[&str], known: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    (1..=parts.len()).rev().find_map(|k| {
        known
            .get_key_value(&parts[..k].join("::"))
            .map(|(m, _)| m.as_str())
    })
}

/// The lowercase path segments `s` starts with: `quiet::Hold` → `[quiet]`,
/// `config::diag::{Errors}` → `[config, diag]`, `quiet`]) …` → `[quiet]`.
fn identifiers(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(&rest[..end]);
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out
}

/// Module → the modules its code refers to.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(src);
    let mut edges = BTreeMap::new();
    for (name, path) in &known {
        let code = code(path);
        let mut refs = BTreeSet::new();
        // `crate::a::b::Item` and `use crate::{a, b::c}`.
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    if let Some(m) = longest_known(&identifiers(item.trim()), &known) {
                        refs.insert(m.to_string());
                    }
                }
            } else if let Some(m) = longest_known(&identifiers(rest), &known) {
                refs.insert(m.to_string());
            }
        }
        // `super::x::Item`: the parent's child `x` if it is a module, else
        // the parent itself.
        let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
        for (i, _) in code.match_indices("super::") {
            let rest = &code[i + "super::".len()..];
            let mut parts: Vec<&str> = if parent.is_empty() {
                Vec::new()
            } else {
                vec![parent]
            };
            parts.extend(identifiers(rest));
            let joined = parts.join("::");
            let parts: Vec<&str> = joined.split("::").collect();
            if let Some(m) = longest_known(&parts, &known) {
                refs.insert(m.to_string());
            } else if !parent.is_empty() {
                refs.insert(parent.to_string());
            }
        }
        // `use child::Item` / `pub use child::Item`: a module's own children.
        for line in code.lines() {
            let line = line.trim_start();
            let Some(path) = ["use ", "pub use ", "pub(crate) use "]
                .iter()
                .find_map(|p| line.strip_prefix(p))
            else {
                continue;
            };
            let first = identifiers(path);
            if let Some(head) = first.first() {
                let child = if name.is_empty() {
                    head.to_string()
                } else {
                    format!("{name}::{head}")
                };
                if known.contains_key(&child) {
                    refs.insert(child);
                }
            }
        }
        refs.remove(name);
        edges.insert(name.clone(), refs);
    }
    edges
}

/// Every cycle found by a depth-first walk, as the modules round it.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn walk(
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        state.insert(at.to_string(), 1);
        stack.push(at.to_string());
        for next in edges.get(at).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let from = stack.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    found.push(cycle);
                }
                Some(_) => {}
                None => walk(next, edges, state, stack, found),
            }
        }
        stack.pop();
        state.insert(at.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for m in edges.keys() {
        if !state.contains_key(m) {
            walk(m, edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    for krate in ["firebell-core", "firebell-engine"] {
        let edges = graph(&crate_src(krate));
        assert!(
            edges.len() > 10,
            "{krate}: only {} modules found",
            edges.len()
        );
        let found: Vec<String> = cycles(&edges).iter().map(|c| c.join(" -> ")).collect();
        assert!(
            found.is_empty(),
            "{krate} has import cycles:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("config")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod config;\npub mod rules;\n").unwrap();
    std::fs::write(
        src.join("config/mod.rs"),
        "use crate::rules::Rule;\npub mod diag;\n",
    )
    .unwrap();
    std::fs::write(src.join("config/diag.rs"), "pub struct Errors;\n").unwrap();
    // rules → config::diag is fine; rules → config closes a loop.
    std::fs::write(src.join("rules.rs"), "use crate::config::diag::Errors;\n").unwrap();
    assert!(cycles(&graph(src)).is_empty());
    std::fs::write(
        src.join("rules.rs"),
        "use crate::{config::Config, config::diag::Errors};\n#[cfg(test)]\nmod tests { use crate::x; }\n",
    )
    .unwrap();
    let found = cycles(&graph(src));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(&"config".to_string()) && found[0].contains(&"rules".to_string()));

    // A parent that re-exports its child, and the child that imports the
    // parent: a cycle too. A child importing a sibling through `super::` is not.
    std::fs::write(src.join("rules.rs"), "use crate::config::diag::Errors;\n").unwrap();
    std::fs::write(
        src.join("config/mod.rs"),
        "pub mod diag;\npub mod kinds;\npub use kinds::Kind;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("config/kinds.rs"),
        "use super::diag::Errors;\npub struct Kind;\n",
    )
    .unwrap();
    assert!(cycles(&graph(src)).is_empty(), "{:?}", cycles(&graph(src)));
    std::fs::write(
        src.join("config/kinds.rs"),
        "use super::Config;\npub struct Kind;\n",
    )
    .unwrap();
    assert_eq!(cycles(&graph(src)).len(), 1);

    // An intra-doc link back is a dependency too.
    std::fs::write(src.join("config/kinds.rs"), "pub struct Kind;\n").unwrap();
    assert!(cycles(&graph(src)).is_empty());
    std::fs::write(
        src.join("config/kinds.rs"),
        "//! Read by [`crate::rules`], which uses them.\npub struct Kind;\n",
    )
    .unwrap();
    std::fs::write(src.join("rules.rs"), "use crate::config::kinds::Kind;\n").unwrap();
    assert_eq!(cycles(&graph(src)).len(), 1, "{:?}", cycles(&graph(src)));
}
