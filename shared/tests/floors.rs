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
