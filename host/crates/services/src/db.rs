//! Opening a SQLite database inside the data folder's handle (a cap-std `Dir` the host opened once).
//!
//! SQLite needs a path, so the database is opened as `/proc/self/fd/<folder fd>/<name>`: the folder that was
//! opened, whatever its configured path names now. SQLite resolves that path once, at open, and keeps the result
//! for its `-wal` and `-shm` files, which it opens with `O_NOFOLLOW` (as it does the database file itself).
//! `SQLITE_OPEN_NOFOLLOW` is not used: SQLite would refuse the `/proc/self/fd` link itself (and any link in the
//! operator's own path to the data folder). What it would miss, a database file that is a symbolic link (SQLite
//! resolves a link in the last component before opening), is refused here first, through the handle.

use cap_fs::Dir;
use cap_std::fs as cap_fs;
use rusqlite::Connection;
use std::os::fd::AsRawFd as _;

/// Why a database file is not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file is a symbolic link: refused, never followed.
    #[error(
        "`{0}` in the data folder is a symbolic link; Coral does not follow links in its folders (replace it with \
         the database file itself)"
    )]
    Link(String),
    /// SQLite failed.
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

/// Open (creating) the database `name` (a plain file name) in `dir`, refusing a symbolic link.
pub fn open(dir: &Dir, name: &str) -> Result<Connection, OpenError> {
    debug_assert!(!name.contains('/'));
    for file in [
        name.to_string(),
        format!("{name}-wal"),
        format!("{name}-shm"),
        format!("{name}-journal"),
    ] {
        if dir.symlink_metadata(&file).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(OpenError::Link(file));
        }
    }
    Ok(Connection::open(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(root.path().join("outside.db"), b"").unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.db"), data.join("storage.db")).unwrap();
        let dir = Dir::open_ambient_dir(&data, cap_std::ambient_authority()).unwrap();
        let err = open(&dir, "storage.db").expect_err("refused");
        assert!(
            err.to_string()
                .contains("`storage.db` in the data folder is a symbolic link"),
            "{err}"
        );
        assert_eq!(std::fs::metadata(root.path().join("outside.db")).unwrap().len(), 0);
        // A plain database in the folder opens, and lands in the folder.
        let conn = open(&dir, "jobs.db").unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        drop(conn);
        assert!(std::fs::metadata(data.join("jobs.db")).unwrap().len() > 0);
    }
}
