//! The library's floors (see `src/lib.rs`), checked on the source: a module may use only
//! modules on floors below its own (or its own submodules). An import that climbs or stays on
//! its floor is an import circle in the making, and fails here with the line that does it.

use std::fs;
use std::path::Path;

/// Top-level module → floor. `testing` may use anything.
const FLOORS: &[(&str, u8)] = &[
    ("model", 0),
    ("day", 0),
    ("rules", 1),
    ("config", 2),
    ("metrics", 2),
    ("store", 3),
    ("ingest", 4),
    ("refresh", 4),
    ("api", 4),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_from_lower_floors() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs");
        if top == "lib" || top == "testing" {
            continue;
        }
        let own = floor(top).unwrap_or_else(|| panic!("{top} has no floor in FLOORS"));
        let text = fs::read_to_string(file).unwrap();
        // Up to the unit tests: a test may build its fixtures from anywhere.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            for (i, _) in line.match_indices("crate::") {
                let used: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                checked += 1;
                assert!(
                    !used.is_empty(),
                    "{}:{}: name the module (no `crate::{{…}}`)",
                    relative.display(),
                    n + 1
                );
                if used == top {
                    continue;
                }
                match floor(&used) {
                    Some(f) if f < own => {}
                    _ => violations.push(format!(
                        "{}:{}: {top} (floor {own}) uses {used}",
                        relative.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} imports found: is the scan broken?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

/// The modules a file's code (up to its unit tests) names through `super::` or
/// `crate::TOP::…::` paths, as paths from `src/` (`api/query`, `ingest/s3/key`).
fn used_modules(relative: &Path, code: &str) -> Vec<String> {
    let parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    // The module's own path: `api/mod.rs` is `api`, `api/query.rs` is `api/query`.
    let mut own = parts.clone();
    if own.last().is_some_and(|p| p == "mod") {
        own.pop();
    }
    let mut used = Vec::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for (i, _) in line.match_indices("super::") {
            // `super::super::x` climbs twice; `super::x` names a sibling of this module.
            let mut base = own.clone();
            let mut rest = &line[i..];
            while let Some(r) = rest.strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                base.push(name);
                used.push(base.join("/"));
            }
        }
        for (i, _) in line.match_indices("crate::") {
            let path: Vec<String> = line[i + 7..]
                .split("::")
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|s| !s.is_empty())
                .collect();
            if path.len() >= 2 {
                used.push(path[..2].join("/"));
            }
        }
    }
    used
}

/// Sibling files of one folder may use each other, but never in a circle: `a` uses `b` and `b`
/// (directly or through other siblings) uses `a` is one module split in two places.
#[test]
fn no_import_circle_between_sibling_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // module path → the sibling modules it uses.
    let mut edges: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    let modules: std::collections::BTreeSet<String> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().with_extension("");
            let mut p: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if p.last().is_some_and(|x| x == "mod") {
                p.pop();
            }
            p.join("/")
        })
        .collect();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        if relative.starts_with("testing") {
            continue;
        }
        let text = fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let mut own: Vec<String> = relative
            .with_extension("")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if own.last().is_some_and(|p| p == "mod") {
            own.pop();
        }
        let own = own.join("/");
        let parent = own.rsplit_once('/').map_or("", |(p, _)| p).to_string();
        for used in used_modules(relative, code) {
            let used_parent = used.rsplit_once('/').map_or("", |(p, _)| p);
            if used != own && used_parent == parent && modules.contains(&used) {
                edges.entry(own.clone()).or_default().insert(used);
            }
        }
    }
    assert!(
        edges.values().map(|s| s.len()).sum::<usize>() > 10,
        "only a few sibling imports found: is the scan broken? {edges:?}"
    );
    // A circle is an edge a → b with a path b → … → a.
    let mut circles = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            let mut stack = vec![b.clone()];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(m) = stack.pop() {
                if m == *a {
                    circles.push(format!("{a} → {b} → … → {a}"));
                    break;
                }
                if seen.insert(m.clone()) {
                    stack.extend(edges.get(&m).into_iter().flatten().cloned());
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}
