//! `coral new NAME --lang rust|python|js|c`: create a plugin project (code, its WIT, a build script, a test) that
//! builds and loads as generated.

use cap_std::fs as cap_fs;
use std::path::{Path, PathBuf};

/// The contract, embedded so a new project gets the exact WIT this `coral` speaks.
const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../wit/types.wit")),
    ("bot.wit", include_str!("../../wit/bot.wit")),
    ("log.wit", include_str!("../../wit/log.wit")),
    ("storage.wit", include_str!("../../wit/storage.wit")),
    ("schedule.wit", include_str!("../../wit/schedule.wit")),
    ("http.wit", include_str!("../../wit/http.wit")),
    ("command.wit", include_str!("../../wit/command.wit")),
    ("world.wit", include_str!("../../wit/world.wit")),
];

/// Languages `coral new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with `coral-sdk`.
    Rust,
    /// Python with componentize-py.
    Python,
    /// C with `wit-bindgen c` and clang (a native unit test of the logic, no SDK).
    C,
    /// JavaScript with componentize-qjs.
    #[value(alias = "javascript")]
    Js,
}

/// Why a project could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not usable as a plugin name.
    #[error("{0:?} is not a plugin name: use lowercase letters, digits and `-`, starting with a letter")]
    BadName(String),
    /// The folder exists.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("writing {path}: {source}")]
    Io {
        /// What.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

/// The Rust SDK this `coral` was built with, file by file: a Rust project gets its own copy in `coral-sdk/`
/// (its bindings are generated from the project's `wit/`, beside it), so it builds anywhere, without this
/// repository.
const RUST_SDK: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../sdk/Cargo.toml")),
    ("src/lib.rs", include_str!("../../sdk/src/lib.rs")),
    ("src/bot.rs", include_str!("../../sdk/src/bot.rs")),
    ("src/command.rs", include_str!("../../sdk/src/command.rs")),
    ("src/error.rs", include_str!("../../sdk/src/error.rs")),
    ("src/http.rs", include_str!("../../sdk/src/http.rs")),
    ("src/log.rs", include_str!("../../sdk/src/log.rs")),
    ("src/message.rs", include_str!("../../sdk/src/message.rs")),
    ("src/plugin.rs", include_str!("../../sdk/src/plugin.rs")),
    ("src/schedule.rs", include_str!("../../sdk/src/schedule.rs")),
    ("src/storage.rs", include_str!("../../sdk/src/storage.rs")),
];

/// Where this `coral`'s own scripts install the guest toolchains (`.tools` in its repository): a build script's
/// last place to look, after the environment and `PATH`.
fn coral_tools() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.tools")
        .display()
        .to_string()
}

/// The SDK's version (its `Cargo.toml`), which a Rust project's dependency names.
fn sdk_version() -> &'static str {
    RUST_SDK[0]
        .1
        .lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .unwrap_or("0.1.0")
}

/// Create the project `name` in the folder `dir` (opened by the caller; `shown` is its path, for messages); returns
/// the files written. Every file is written relative to `dir`. A Rust project depends on `sdk` when given (a path,
/// e.g. a checkout's `sdk/`), else on its own copy of the SDK in `coral-sdk/`.
pub fn create(
    name: &str,
    lang: Lang,
    dir: &cap_fs::Dir,
    shown: &Path,
    sdk: Option<&Path>,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    let root = PathBuf::from(name);
    if dir.symlink_metadata(&root).is_ok() {
        return Err(ScaffoldError::Exists(shown.join(root)));
    }
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk.map_or("coral-sdk".into(), |p| p.display().to_string()))
            .replace("{{sdk_version}}", sdk_version())
            .replace("{{coral_tools}}", &coral_tools())
    };
    let mut files: Vec<(PathBuf, String)> = match lang {
        Lang::Rust => vec![
            (
                root.join("Cargo.toml"),
                fill(include_str!("scaffold/rust_cargo.toml.tmpl")),
            ),
            (root.join("src/lib.rs"), fill(include_str!("scaffold/rust_lib.rs.tmpl"))),
            (root.join("build.sh"), fill(include_str!("scaffold/rust_build.sh.tmpl"))),
        ],
        Lang::Python => vec![
            (root.join("app.py"), fill(include_str!("scaffold/python_app.py.tmpl"))),
            // The SDK, as it is in this repository (one file, no placeholders).
            (
                root.join("coral_sdk.py"),
                include_str!("../../sdk/python/coral_sdk.py").to_string(),
            ),
            (
                root.join("logic.py"),
                fill(include_str!("scaffold/python_logic.py.tmpl")),
            ),
            (
                root.join("test_logic.py"),
                fill(include_str!("scaffold/python_test.py.tmpl")),
            ),
            (
                root.join("build.sh"),
                fill(include_str!("scaffold/python_build.sh.tmpl")),
            ),
        ],
        Lang::C => vec![
            (root.join("plugin.c"), fill(include_str!("scaffold/c_plugin.c.tmpl"))),
            (root.join("logic.h"), fill(include_str!("scaffold/c_logic.h.tmpl"))),
            (root.join("logic.c"), fill(include_str!("scaffold/c_logic.c.tmpl"))),
            (
                root.join("logic_test.c"),
                fill(include_str!("scaffold/c_logic_test.c.tmpl")),
            ),
            (root.join("test.sh"), fill(include_str!("scaffold/c_test.sh.tmpl"))),
            (root.join("build.sh"), fill(include_str!("scaffold/c_build.sh.tmpl"))),
            (root.join(".gitignore"), fill(include_str!("scaffold/c_gitignore.tmpl"))),
        ],
        Lang::Js => vec![
            (root.join("app.js"), fill(include_str!("scaffold/js_app.js.tmpl"))),
            // The SDK, as it is in this repository (one file, no placeholders).
            (
                root.join("coral_sdk.js"),
                include_str!("../../sdk/js/coral_sdk.js").to_string(),
            ),
            (root.join("logic.js"), fill(include_str!("scaffold/js_logic.js.tmpl"))),
            (
                root.join("logic.test.js"),
                fill(include_str!("scaffold/js_test.js.tmpl")),
            ),
            (
                root.join("package.json"),
                fill(include_str!("scaffold/js_package.json.tmpl")),
            ),
            (root.join("README.md"), fill(include_str!("scaffold/js_readme.md.tmpl"))),
            (root.join("build.sh"), fill(include_str!("scaffold/js_build.sh.tmpl"))),
        ],
    };
    if lang == Lang::Rust && sdk.is_none() {
        for (file, text) in RUST_SDK {
            files.push((root.join("coral-sdk").join(file), text.to_string()));
        }
    }
    for (file, text) in WIT {
        files.push((root.join("wit").join(file), text.to_string()));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let io = |source| ScaffoldError::Io {
            path: shown.join(&path),
            source,
        };
        dir.create_dir_all(path.parent().unwrap_or(&root)).map_err(io)?;
        dir.write(&path, text).map_err(io)?;
        if path.extension().is_some_and(|e| e == "sh") {
            set_executable(dir, &path).map_err(io)?;
        }
        written.push(shown.join(path));
    }
    Ok(written)
}

fn set_executable(dir: &cap_fs::Dir, path: &Path) -> std::io::Result<()> {
    use cap_fs::PermissionsExt as _;
    dir.set_permissions(path, cap_fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_in(at: &Path, name: &str, lang: Lang, sdk: Option<&Path>) -> Result<Vec<PathBuf>, ScaffoldError> {
        let dir = cap_fs::Dir::open_ambient_dir(at, cap_std::ambient_authority()).unwrap();
        create(name, lang, &dir, at, sdk)
    }

    #[test]
    fn a_rust_project_carries_every_sdk_file_and_depends_on_it_by_version() {
        // Every file of sdk/src is in the copy (a new SDK file must be added to RUST_SDK).
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/src");
        let mut on_disk: Vec<String> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| format!("src/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let mut copied: Vec<String> = RUST_SDK.iter().skip(1).map(|(f, _)| f.to_string()).collect();
        copied.sort();
        assert_eq!(copied, on_disk);
        let dir = tempfile::tempdir().unwrap();
        create_in(dir.path(), "standalone", Lang::Rust, None).unwrap();
        let cargo = std::fs::read_to_string(dir.path().join("standalone/Cargo.toml")).unwrap();
        assert!(
            cargo.contains(&format!(
                "coral-sdk = {{ version = \"{}\", path = \"coral-sdk\" }}",
                sdk_version()
            )),
            "{cargo}"
        );
        assert!(dir.path().join("standalone/coral-sdk/src/command.rs").is_file());
        assert!(dir.path().join("standalone/wit/command.wit").is_file());
    }

    #[test]
    fn names_are_checked_and_existing_folders_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            create_in(dir.path(), "Bad", Lang::Rust, Some(Path::new("/sdk"))),
            Err(ScaffoldError::BadName(_))
        ));
        assert!(matches!(
            create_in(dir.path(), "a b", Lang::Rust, Some(Path::new("/sdk"))),
            Err(ScaffoldError::BadName(_))
        ));
        let files = create_in(dir.path(), "my-plugin", Lang::Rust, Some(Path::new("/sdk"))).unwrap();
        assert!(files.iter().any(|f| f.ends_with("wit/world.wit")));
        let cargo = std::fs::read_to_string(dir.path().join("my-plugin/Cargo.toml")).unwrap();
        assert!(
            cargo.contains("name = \"my-plugin\"") && cargo.contains("path = \"/sdk\""),
            "{cargo}"
        );
        let build = std::fs::read_to_string(dir.path().join("my-plugin/build.sh")).unwrap();
        assert!(build.contains("my_plugin.wasm"), "{build}");
        assert!(matches!(
            create_in(dir.path(), "my-plugin", Lang::Python, Some(Path::new("/sdk"))),
            Err(ScaffoldError::Exists(_))
        ));
    }

    #[test]
    fn a_c_project_has_its_glue_pure_logic_native_test_and_executable_scripts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        create_in(dir.path(), "my-calc", Lang::C, Some(Path::new("/sdk"))).unwrap();
        let root = dir.path().join("my-calc");
        let logic = std::fs::read_to_string(root.join("logic.c")).unwrap();
        assert!(logic.contains("\"my-calc \"") && !logic.contains("{{"), "{logic}");
        let plugin = std::fs::read_to_string(root.join("plugin.c")).unwrap();
        assert!(
            plugin.contains("plugin_string_dup(&ret->name, \"my-calc\")"),
            "{plugin}"
        );
        for script in ["build.sh", "test.sh"] {
            let mode = std::fs::metadata(root.join(script)).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{script} is not executable");
        }
        let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
        assert!(
            ignore.contains("build/"),
            "generated bindings must stay out of git: {ignore}"
        );
        assert!(root.join("wit/types.wit").is_file() && root.join("logic_test.c").is_file());
    }

    #[test]
    fn js_projects_get_app_logic_test_and_build_script() {
        let dir = tempfile::tempdir().unwrap();
        let files = create_in(dir.path(), "memo-two", Lang::Js, Some(Path::new("/sdk"))).unwrap();
        for want in [
            "app.js",
            "logic.js",
            "logic.test.js",
            "package.json",
            "build.sh",
            "wit/world.wit",
            "wit/command.wit",
        ] {
            assert!(files.iter().any(|f| f.ends_with(want)), "{want} missing: {files:?}");
        }
        let app = std::fs::read_to_string(dir.path().join("memo-two/app.js")).unwrap();
        assert!(app.contains("name: \"memo-two\"") && !app.contains("{{"), "{app}");
        let build = std::fs::read_to_string(dir.path().join("memo-two/build.sh")).unwrap();
        assert!(
            build.contains("CORAL_JS_TOOLS") && build.contains("memo-two.wasm"),
            "{build}"
        );
    }
}
