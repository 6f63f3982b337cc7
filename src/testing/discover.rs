//! Finding test files: under directories, beside policies, or under the current directory.

use std::path::{Path, PathBuf};

use super::SUFFIX;

/// The test files the given paths stand for, sorted and without repeats. A directory stands
/// for every `*.test.yaml` under it (build and VCS folders skipped), a test file for itself,
/// and a policy file for the test file beside it. No paths means the current directory.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        } else if is_test_file(path) {
            out.push(path.clone());
        } else if path.exists() {
            let beside = beside(path);
            if !beside.exists() {
                return Err(format!(
                    "{} is not a test file and has no test file beside it (looked for {})",
                    path.display(),
                    beside.display()
                ));
            }
            out.push(beside);
        } else {
            return Err(format!("{} does not exist", path.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SUFFIX))
}

/// `dir/x.yaml` (or `x.rkl`) -> `dir/x.test.yaml`.
fn beside(policy: &Path) -> PathBuf {
    let stem = policy
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    policy.with_file_name(format!("{stem}{SUFFIX}"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                walk(&path, out)?;
            }
        } else if is_test_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}
