//! File access relative to the host's folders: each is a cap-std `Dir` the host opened once, and every read,
//! write and rename here is relative to it, so no name (a plugin's, a file event's, a config entry's) reaches
//! outside its folder. The plugin folder ([`PluginDir`]) also refuses any symbolic link, even one that stays
//! inside: a plugin is a plain `<name>.wasm` directly in the folder.

use cap_fs::{Dir, File, OpenOptions, OpenOptionsExt as _};
use cap_std::fs as cap_fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a plugin file is not read.
#[derive(Debug, thiserror::Error)]
pub enum PluginFileError {
    /// Not a name a plugin can have (a path, `..`, a leading dot, control characters, …).
    #[error("`{0}` is not a plugin name (letters, digits, `-`, `_`, `.`, not starting with `.`; at most 128 bytes)")]
    BadName(String),
    /// The file is a symbolic link: refused, never followed.
    #[error(
        "`{0}` in the plugin folder is a symbolic link; Coral does not follow links in its folders (copy the file in instead)"
    )]
    Link(String),
    /// There is no such file.
    #[error("there is no `{0}` in the plugin folder")]
    Missing(String),
    /// Something other than a plain file (a folder, a socket, …).
    #[error("`{0}` in the plugin folder is not a plain file")]
    NotFile(String),
    /// Over the size cap.
    #[error("`{name}` is {len} bytes, over the {max}-byte limit")]
    TooBig {
        /// The file's name.
        name: String,
        /// Its size.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// Reading failed.
    #[error("cannot read `{name}`: {source}")]
    Io {
        /// The file's name.
        name: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Whether `name` is a plugin name as the plugin folder knows it: one file name without its `.wasm`, with no path,
/// no `..`, no leading dot and no control characters.
pub fn check_plugin_name(name: &str) -> Result<(), PluginFileError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(PluginFileError::BadName(coral_model::text::bounded(name, 64)))
    }
}

/// What listing the plugin folder found.
#[derive(Debug, Default)]
pub struct Listing {
    /// The plugins: names of plain `<name>.wasm` files, sorted.
    pub plugins: Vec<String>,
    /// `.wasm` entries that are not loaded, each with why (a link, a bad name, not a plain file), escaped.
    pub refused: Vec<(String, String)>,
}

/// The plugin folder, as a handle.
#[derive(Clone, Debug)]
pub struct PluginDir {
    dir: Arc<Dir>,
    /// Where it is, for messages only (never opened).
    shown: PathBuf,
}

impl PluginDir {
    /// The folder `dir`, opened by the host at `shown`.
    pub fn new(dir: Arc<Dir>, shown: &Path) -> PluginDir {
        PluginDir {
            dir,
            shown: shown.to_path_buf(),
        }
    }

    /// Where it is (for messages).
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// The handle.
    pub fn dir(&self) -> &Arc<Dir> {
        &self.dir
    }

    /// The plugins of the folder, and the `.wasm` entries refused.
    pub fn list(&self) -> std::io::Result<Listing> {
        let mut listing = Listing::default();
        for entry in self.dir.entries()? {
            let entry = entry?;
            let file = entry.file_name();
            let Some(file) = file.to_str() else { continue };
            let Some(name) = file.strip_suffix(".wasm") else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            match self.check(name) {
                Ok(_) => listing.plugins.push(name.to_string()),
                // Gone since it was listed.
                Err(PluginFileError::Missing(_)) => {}
                Err(e) => listing
                    .refused
                    .push((coral_model::text::escape(file).into_owned(), e.to_string())),
            }
        }
        listing.plugins.sort();
        listing.refused.sort();
        Ok(listing)
    }

    /// Whether `name` is a loadable plugin file here (a valid name, a plain file, no link); its size.
    pub fn check(&self, name: &str) -> Result<u64, PluginFileError> {
        check_plugin_name(name)?;
        let file = format!("{name}.wasm");
        let meta = match self.dir.symlink_metadata(&file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PluginFileError::Missing(file)),
            Err(source) => return Err(PluginFileError::Io { name: file, source }),
        };
        if meta.file_type().is_symlink() {
            Err(PluginFileError::Link(file))
        } else if !meta.is_file() {
            Err(PluginFileError::NotFile(file))
        } else {
            Ok(meta.len())
        }
    }

    /// Read the plugin `name` (`<name>.wasm`), at most `max_bytes`: never through a link, never outside the folder.
    pub fn read(&self, name: &str, max_bytes: u64) -> Result<Vec<u8>, PluginFileError> {
        self.check(name)?;
        let file = format!("{name}.wasm");
        let io = |source: std::io::Error| {
            if source.raw_os_error() == Some(libc::ELOOP) {
                PluginFileError::Link(file.clone())
            } else {
                PluginFileError::Io {
                    name: file.clone(),
                    source,
                }
            }
        };
        let mut opened = open_plain(&self.dir, &file).map_err(io)?;
        let len = opened.metadata().map_err(io)?.len();
        if len > max_bytes {
            return Err(PluginFileError::TooBig {
                name: file.clone(),
                len,
                max: max_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        // A file that grows while it is read stops at the cap.
        (&mut opened).take(max_bytes + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > max_bytes {
            return Err(PluginFileError::TooBig {
                name: file.clone(),
                len: bytes.len() as u64,
                max: max_bytes,
            });
        }
        Ok(bytes)
    }

    /// Put `bytes` in place as the plugin `name` (a hidden temporary file renamed over `<name>.wasm`, so the
    /// watcher never sees half a file).
    pub fn install(&self, name: &str, bytes: &[u8]) -> Result<(), PluginFileError> {
        check_plugin_name(name)?;
        let file = format!("{name}.wasm");
        write_atomic(&self.dir, &file, &format!(".{name}.wasm.installing"), bytes)
            .map_err(|source| PluginFileError::Io { name: file, source })
    }
}

/// Open `name` in `dir` for reading, refusing a symbolic link (`O_NOFOLLOW`: a link answers `ELOOP`).
pub fn open_plain(dir: &Dir, name: &str) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).custom_flags(libc::O_NOFOLLOW);
    dir.open_with(name, &options)
}

/// Read `name` in `dir` as text, never through a link.
pub fn read_text(dir: &Dir, name: &str) -> std::io::Result<String> {
    let mut text = String::new();
    open_plain(dir, name)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Write `bytes` to `name` in `dir` through the temporary file `temp` renamed into place (a link at `name` is
/// replaced, never written through).
pub fn write_atomic(dir: &Dir, name: &str, temp: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let _ = dir.remove_file(temp);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).custom_flags(libc::O_NOFOLLOW);
    let mut file = dir.open_with(temp, &options)?;
    file.write_all(bytes)?;
    drop(file);
    dir.rename(temp, dir, name)
}

/// A path that reaches `name` through the open handle `dir` (`/proc/self/fd/<fd>/<name>`), for the few APIs
/// that need a path (mapping a compiled artifact): the folder it names is the one opened, whatever happened to
/// its path since. `name` must be a plain file name (no `/`, no `..`).
pub fn fd_path(dir: &Dir, name: &str) -> PathBuf {
    use std::os::fd::AsRawFd as _;
    debug_assert!(!name.contains('/') && name != ".." && name != ".");
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugins(path: &Path) -> PluginDir {
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap();
        PluginDir::new(Arc::new(dir), path)
    }

    #[test]
    fn names_with_dot_dot_or_a_path_are_refused_and_nothing_outside_is_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("plugins")).unwrap();
        std::fs::write(root.path().join("outside.wasm"), b"outside").unwrap();
        let dir = plugins(&root.path().join("plugins"));
        for name in [
            "../outside",
            "..",
            "a/../../outside",
            "/etc/passwd",
            ".hidden",
            "a..b",
            "",
        ] {
            let err = dir.read(name, 1 << 20).unwrap_err();
            assert!(matches!(err, PluginFileError::BadName(_)), "{name}: {err}");
            assert!(err.to_string().contains("is not a plugin name"), "{err}");
        }
        assert!(dir.install("../outside", b"new").is_err());
        assert_eq!(std::fs::read(root.path().join("outside.wasm")).unwrap(), b"outside");
    }

    #[test]
    fn a_symbolic_link_in_the_plugin_folder_is_refused_inside_or_out() {
        let root = tempfile::tempdir().unwrap();
        let folder = root.path().join("plugins");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(root.path().join("outside.wasm"), b"outside").unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.wasm"), folder.join("evil.wasm")).unwrap();
        std::fs::write(folder.join("plain.wasm"), b"plain").unwrap();
        std::os::unix::fs::symlink("plain.wasm", folder.join("alias.wasm")).unwrap();
        let dir = plugins(&folder);
        for name in ["evil", "alias"] {
            let err = dir.read(name, 1 << 20).unwrap_err();
            assert!(matches!(err, PluginFileError::Link(_)), "{name}: {err}");
            assert!(err.to_string().contains("is a symbolic link"), "{err}");
        }
        assert_eq!(dir.read("plain", 1 << 20).unwrap(), b"plain");
        let listing = dir.list().unwrap();
        assert_eq!(listing.plugins, ["plain"]);
        let refused: Vec<&str> = listing.refused.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(refused, ["alias.wasm", "evil.wasm"]);
        // Installing over a link replaces the link; the file it pointed to is unchanged.
        dir.install("evil", b"installed").unwrap();
        assert_eq!(dir.read("evil", 1 << 20).unwrap(), b"installed");
        assert_eq!(std::fs::read(root.path().join("outside.wasm")).unwrap(), b"outside");
    }

    #[test]
    fn a_file_over_the_cap_is_not_read() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("big.wasm"), vec![0u8; 100]).unwrap();
        let dir = plugins(root.path());
        assert!(matches!(
            dir.read("big", 99),
            Err(PluginFileError::TooBig { len: 100, .. })
        ));
        assert_eq!(dir.read("big", 100).unwrap().len(), 100);
    }
}
