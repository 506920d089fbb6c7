//! Invariants of ARCHITECTURE.md checked over the sources (the one-write-path rule is checked by
//! clippy.toml's `disallowed-methods`).

use std::path::Path;

use binfmtd_tests::fixtures::workspace_root;

/// Files allowed to print "skipping": the one helper (`binfmtd_tests::skip`, which panics under
/// `CI=true`) and xtask's inline copy of it (xtask does not depend on binfmtd-tests).
const SKIP_HELPERS: &[&str] = &["tests/src/lib.rs", "xtask/src/dist.rs"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.flatten() {
        let path = item.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// No test prints "skipping" and passes by itself: every skip goes through the helper, which
/// fails under `CI=true`.
#[test]
fn no_test_skips_silently_in_ci() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "tests", "xtask"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} sources", files.len());
    let mut offenders = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap_or(file);
        if SKIP_HELPERS.iter().any(|h| rel == Path::new(h)) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.contains("println!(\"skipping") || line.contains("print!(\"skipping") {
                offenders.push(format!("{}:{}", rel.display(), n + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tests that print \"skipping\" and pass, even under CI=true (use binfmtd_tests::skip): {offenders:?}"
    );
}
