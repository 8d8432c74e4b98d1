//! The daemon's top-level modules form layers (the table in `src/lib.rs`): a module may
//! use only modules of a lower layer. This test reads the sources and fails on a
//! dependency that goes up or sideways (and so on any cycle), and on a top-level module
//! missing from the table, naming the file and the line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module, lowest first. Keep in step with `src/lib.rs`.
const LAYERS: &[(&str, u32)] = &[
    ("posix", 0),
    ("text", 0),
    ("schedule", 0),
    ("config", 1),
    ("tokens", 2),
    ("scim", 3),
    ("directory", 4),
    ("cache", 5),
    ("fastpath", 6),
    ("state", 7),
    ("ondemand", 8),
    ("server", 9),
    ("daemon", 10),
    ("cli", 10),
    ("docs", 11),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named by `crate::…` paths in `line` (plain or grouped,
/// `crate::{a, b::c}`), comments excluded.
fn crate_references(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
        rest = after;
    }
    found
}

/// Edges between top-level modules: (from, to) → first place seen.
fn edges(src: &Path) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let Some(first) = rel.components().next() else {
            continue;
        };
        let from = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if from == "lib" || from == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            !text.contains("super::super"),
            "{}: reaches out of its module with super::super; use crate::",
            rel.display()
        );
        for (n, line) in text.lines().enumerate() {
            for to in crate_references(line) {
                if to != from {
                    out.entry((from.clone(), to))
                        .or_insert_with(|| format!("{}:{}", rel.display(), n + 1));
                }
            }
        }
    }
    out
}

#[test]
fn modules_only_use_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        let name = name.trim_end_matches(".rs").to_string();
        if name != "lib" && name != "main" {
            modules.insert(name);
        }
    }
    for m in &modules {
        if !layer.contains_key(m.as_str()) {
            problems.push(format!("top-level module {m} is not in the LAYERS table"));
        }
    }
    for ((from, to), at) in edges(&src) {
        match (layer.get(from.as_str()), layer.get(to.as_str())) {
            (Some(a), Some(b)) if b < a => {}
            (Some(a), Some(b)) => problems.push(format!(
                "{at}: {from} (layer {a}) uses {to} (layer {b}): a module may use only lower layers"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_finds_grouped_and_plain_paths_but_not_comments() {
    assert_eq!(
        crate_references("use crate::{config::Config, state::Shared};"),
        ["config", "state"]
    );
    assert_eq!(
        crate_references("    let x = crate::scim::f(); // crate::cli"),
        ["scim"]
    );
    assert!(crate_references("//! see [`crate::server`]").is_empty());
}
