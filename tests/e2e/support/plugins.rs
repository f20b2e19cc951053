//! Builds the example and fixture plugins from source (once per test run) and hands out their `.wasm` paths.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (the includer has the fixture helper beside this file as `fixtures`).
pub use super::fixtures::repo_root;

fn wasm_dir() -> PathBuf {
    repo_root().join("target/wasm/wasm32-wasip2/release")
}

/// Build one guest workspace for wasm32-wasip2 into `target/wasm`.
fn build_workspace(manifest: &Path) {
    let output = Command::new(env!("CARGO"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", repo_root().join("target/wasm"))
        // Flags meant for the host build (coverage, sanitizers) must not leak into the guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("running cargo to build guest plugins");
    assert!(
        output.status.success(),
        "building {} failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Plugins written in other languages: (plugin name, folder with its `build.sh`).
const OTHER_LANGUAGES: &[(&str, &str)] = &[
    ("dice", "example-plugins/dice-py"),
    ("calc", "example-plugins/calc-c"),
    ("memo", "example-plugins/memo-js"),
    ("checkin", "example-plugins/checkin-py"),
    ("py-errors", "tests/plugins/py-errors"),
    ("marks", "example-plugins/marks-js"),
    ("js-errors", "tests/plugins/js-errors"),
];

/// Build a plugin that has its own `build.sh` (Python, JavaScript, C): an example into `target/wasm/e2e-lang/`, a
/// test fixture into `target/wasm/fixtures/`. Never into `target/wasm/lang/`, where `./scripts/run.sh` builds the
/// examples it installs: a rebuilt Python or JavaScript component has another hash, and run.sh would install it.
fn build_script_plugin(name: &str, folder: &str) -> PathBuf {
    let dir = if folder.starts_with("tests/") {
        "fixtures"
    } else {
        "e2e-lang"
    };
    let out = repo_root().join(format!("target/wasm/{dir}/{name}.wasm"));
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let script = repo_root().join(folder).join("build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .expect("running build.sh");
    assert!(
        output.status.success(),
        "{} failed (./scripts/test.sh installs the toolchains):\n{}{}",
        script.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The path of a built plugin (`ping`, `moderation`, `trap`, `spin`, `hog`, `dice`, …), building on first use.
pub fn wasm(name: &str) -> PathBuf {
    if let Some((_, folder)) = OTHER_LANGUAGES.iter().find(|(n, _)| *n == name) {
        static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
            return path.clone();
        }
        let path = build_script_plugin(name, folder);
        built.push((name.to_string(), path.clone()));
        return path;
    }
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        build_workspace(&repo_root().join("example-plugins/Cargo.toml"));
        build_workspace(&repo_root().join("tests/plugins/Cargo.toml"));
    });
    // Cargo names the artifact after the crate with `-` turned into `_`.
    let path = wasm_dir().join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
