//! The crate's layering (see `src/lib.rs`): a module uses only modules of its own layer or of
//! lower ones. Read from the sources, so that a new `use crate::...` that points upwards fails
//! here, with the file and the module it reached for.

use std::path::{Path, PathBuf};

/// The layer of a top-level module of the crate.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "critical" | "locking" | "signal" => 0,
        "mcache" | "stack" => 1,
        "fiber" => 2,
        "task" => 3,
        "scheduler" => 4,
        "blocking" | "bridge" | "coroutine" | "diagnostics" | "join" | "local" | "park_cache"
        | "runtime" => 5,
        "sync" => 6,
        _ => return None,
    })
}

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

/// The module names a path after `crate::` starts with: one for `crate::task::Task`, each of
/// the group's for `crate::{scheduler::Shared, task}` (nested groups below the first level name
/// submodules, not top-level modules).
fn top_level_names(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let mut names = Vec::new();
    let mut depth = 0;
    let mut start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && !c.is_whitespace() => {
                names.push(ident(&group[i..]));
                start = false;
            }
            _ => {}
        }
    }
    names
}

#[test]
fn grouped_paths_are_read_name_by_name() {
    assert_eq!(top_level_names("task::Task;"), ["task"]);
    assert_eq!(
        top_level_names("{scheduler::{Shared, Worker}, task, sync::Mutex};"),
        ["scheduler", "task", "sync"]
    );
}

#[test]
fn no_module_uses_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_str().unwrap();
        let top = top.strip_suffix(".rs").unwrap_or(top);
        if top == "lib" {
            continue; // the root declares and re-exports everything
        }
        let own =
            layer(top).unwrap_or_else(|| panic!("{}: module `{top}` has no layer", rel.display()));
        let text = std::fs::read_to_string(file).unwrap();
        // The whole text, not line by line: a group (`crate::{a, b}`) may span lines.
        let mut from = 0;
        while let Some(at) = text[from..].find("crate::") {
            from += at + "crate::".len();
            let line = text[..from].lines().count();
            for name in top_level_names(&text[from..]) {
                if let Some(theirs) = layer(&name) {
                    checked += 1;
                    if theirs > own {
                        violations.push(format!(
                            "{}:{line}: layer {own} module `{top}` uses layer {theirs} module `{name}`",
                            rel.display(),
                        ));
                    }
                }
            }
        }
    }
    assert!(
        checked > 50,
        "the check found only {checked} paths: is it reading the sources?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
