//! The architecture, checked: the crate graph points one way (the pure core depends on no
//! runtime, network, database or terminal crate), and no crate's top-level modules import each
//! other in a cycle. Cargo already refuses cycles between crates; inside a crate only this
//! test does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The crates, lowest first: each may depend only on crates listed before it.
const LAYERS: &[&str] = &["core", "config", "store", "net", "sandbox", "tui"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module → the top-level modules it names through `crate::` (or `super::` from a
/// file directly under src/, where `super` is the crate root).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?.to_string();
        let name = first.trim_end_matches(".rs").to_string();
        (name != "lib" && name != "main").then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(from) = top(f) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        let at_root = f.parent() == Some(src);
        let mut names = BTreeSet::new();
        for prefix in ["crate::", "super::"] {
            if prefix == "super::" && !at_root {
                continue;
            }
            for (i, _) in text.match_indices(prefix) {
                let rest = &text[i + prefix.len()..];
                if let Some(group) = rest.strip_prefix('{') {
                    // `use crate::{a, b::c}`: every first segment in the group.
                    let inner = &group[..group.find('}').unwrap_or(group.len())];
                    for item in inner.split(',') {
                        names.insert(item.trim().split("::").next().unwrap_or("").to_string());
                    }
                } else {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    names.insert(name);
                }
            }
        }
        let edges = graph.entry(from.clone()).or_default();
        for n in names {
            if n != from && modules.contains(&n) {
                edges.insert(n);
            }
        }
    }
    graph
}

/// A cycle in the graph, if there is one, as the list of modules around it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_cycle_between_its_top_level_modules() {
    let mut srcs: Vec<(String, PathBuf)> = LAYERS
        .iter()
        .map(|c| {
            (
                c.to_string(),
                Path::new(ROOT).join("crates").join(c).join("src"),
            )
        })
        .collect();
    srcs.push(("creditops".into(), Path::new(ROOT).join("src")));
    let mut checked = 0;
    for (name, src) in srcs {
        assert!(src.is_dir(), "{name}: no {}", src.display());
        let graph = module_graph(&src);
        checked += graph.len();
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{name}: import cycle {}", cycle.join(" → "));
        }
    }
    assert!(checked > 30, "only {checked} modules seen");
}

#[test]
fn the_cycle_finder_finds_cycles() {
    // The check above is only as good as this: a graph with a cycle is caught.
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let edge = |g: &mut BTreeMap<String, BTreeSet<String>>, a: &str, b: &str| {
        g.entry(a.into()).or_default().insert(b.into());
    };
    edge(&mut g, "credits", "planner");
    edge(&mut g, "planner", "estimate");
    assert_eq!(find_cycle(&g), None);
    edge(&mut g, "estimate", "credits");
    let cycle = find_cycle(&g).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4);
}

/// The `creditops-*` crates and external crates a crate's Cargo.toml depends on.
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(ROOT)
            .join("crates")
            .join(krate)
            .join("Cargo.toml"),
    )
    .unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_on_the_layers_below_them() {
    for (i, krate) in LAYERS.iter().enumerate() {
        for dep in dependencies(krate) {
            if let Some(other) = dep.strip_prefix("creditops-") {
                let j = LAYERS.iter().position(|l| *l == other);
                assert!(
                    j.is_some_and(|j| j < i),
                    "creditops-{krate} depends on {dep}, which is not below it"
                );
            }
        }
    }
    // The pure core: no runtime, server, client, database or terminal.
    for forbidden in [
        "tokio",
        "axum",
        "reqwest",
        "rusqlite",
        "ratatui",
        "crossterm",
    ] {
        assert!(
            !dependencies("core").iter().any(|d| d == forbidden),
            "creditops-core depends on {forbidden}"
        );
    }
}
