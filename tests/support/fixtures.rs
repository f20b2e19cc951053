//! Test support: the one place that finds the OneBot V11 fixtures (`<repo>/tests/fixtures/onebot`).
//!
//! `$CORAL_FIXTURES` points the tests at another folder. Every crate's unit tests include this one file (`#[path]`,
//! compiled only under `cfg(test)`), and so do the e2e tests (`tests/e2e/support/mod.rs`), so all resolve the
//! folder the same way.

use std::path::{Path, PathBuf};

/// The environment variable that points the tests at another fixture folder (the one holding `api/`, `cq/`,
/// `events/` and `segments/`). A relative value is taken from the repository root.
pub const FIXTURES_ENV: &str = "CORAL_FIXTURES";

/// The repository root: the nearest folder above the including crate that holds `wit/` and `host/`.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("wit").is_dir() && dir.join("host").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no repository root (a folder with wit/ and host/) above {}",
                manifest.display()
            )
        })
        .to_path_buf()
}

/// The OneBot fixture folder: `$CORAL_FIXTURES` when set (and not empty), else `<repo>/tests/fixtures/onebot`.
///
/// Panics with a clear message when the folder does not exist, and, unless `CORAL_FIXTURES` is set, when it
/// resolves (after following symlinks) to somewhere outside the repository: the tests read nothing beyond it.
pub fn fixtures_dir() -> PathBuf {
    let root = repo_root();
    let from_env = std::env::var_os(FIXTURES_ENV).filter(|v| !v.is_empty());
    let overridden = from_env.is_some();
    let dir = match from_env {
        Some(value) => root.join(value),
        None => root.join("tests/fixtures/onebot"),
    };
    let source = if overridden {
        format!("from ${FIXTURES_ENV}")
    } else {
        format!("the repository's own copy; set ${FIXTURES_ENV} to use another folder")
    };
    if !dir.is_dir() {
        panic!(
            "OneBot fixture folder {} not found ({source}); it should hold api/, cq/, events/ and segments/",
            dir.display()
        );
    }
    if !overridden {
        let canonical = |p: &Path| {
            p.canonicalize()
                .unwrap_or_else(|e| panic!("resolving {}: {e}", p.display()))
        };
        let (dir_real, root_real) = (canonical(&dir), canonical(&root));
        assert!(
            dir_real.starts_with(&root_real),
            "the OneBot fixture folder {} resolves to {}, outside the repository {}: tests must not read outside \
             it (set ${FIXTURES_ENV} to use a folder elsewhere on purpose)",
            dir.display(),
            dir_real.display(),
            root_real.display()
        );
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_are_in_the_repository() {
        let dir = fixtures_dir();
        for sub in ["api", "cq", "events", "segments"] {
            assert!(dir.join(sub).is_dir(), "{} has no {sub}/", dir.display());
        }
        if std::env::var_os(FIXTURES_ENV).is_none_or(|v| v.is_empty()) {
            assert!(
                dir.canonicalize()
                    .unwrap()
                    .starts_with(repo_root().canonicalize().unwrap())
            );
        }
    }
}
