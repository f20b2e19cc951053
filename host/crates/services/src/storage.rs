//! Per-plugin key-value storage on SQLite (`<data_dir>/storage.db`, WAL): one table keyed by (namespace, key),
//! where the namespace is the plugin's name as the host knows it — a plugin names keys, never namespaces.
//!
//! Quotas (keys, bytes = key length + value length) are checked before every write, after purging the
//! namespace's expired keys when the write would not fit; a refused write changes nothing. Usage per namespace is
//! counted from the table on first use and kept in memory afterwards (all writes go through this module, one at a
//! time). Calls block on SQLite: async callers use [`Storage::run`], which moves them off the async workers.

use cap_std::fs as cap_fs;
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::sync::Arc;

/// Longest key, bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Most keys one `list_keys` returns.
pub const MAX_LIST: usize = 1000;
/// Default quota: keys per plugin.
pub const DEFAULT_MAX_KEYS: u64 = 10_000;
/// Default quota: MiB per plugin.
pub const DEFAULT_MAX_MB: u64 = 16;

/// A plugin's storage quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most keys.
    pub max_keys: u64,
    /// Most bytes (keys plus values).
    pub max_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_keys: DEFAULT_MAX_KEYS,
            max_bytes: DEFAULT_MAX_MB << 20,
        }
    }
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key or value is empty, too long, or (for `increment`) not an integer.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The write would pass the plugin's quota; nothing was changed.
    #[error("storage quota exceeded: {0}; nothing was changed")]
    Quota(String),
    /// SQLite failed.
    #[error("storage failed: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database file is a symbolic link (refused, never followed).
    #[error("{0}")]
    Link(String),
    /// The worker running the call went away.
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    keys: u64,
    bytes: u64,
}

struct Inner {
    conn: Connection,
    usage: HashMap<String, Usage>,
}

/// The store. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Mutex<Inner>>,
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::Invalid("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::Invalid(format!(
            "the key is {} bytes; at most {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), StorageError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::Invalid(format!(
            "the value is {} bytes; at most {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

impl Storage {
    /// Open (or create) `storage.db` in the folder `dir` (a symbolic link is refused).
    pub fn open(dir: &cap_fs::Dir) -> Result<Storage, StorageError> {
        let conn = crate::db::open(dir, "storage.db").map_err(|e| match e {
            crate::db::OpenError::Database(e) => StorageError::Database(e),
            link => StorageError::Link(link.to_string()),
        })?;
        Self::from_connection(conn)
    }

    /// An in-memory store (tests, benchmarks).
    pub fn in_memory() -> Result<Storage, StorageError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(conn: Connection) -> Result<Storage, StorageError> {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                ns TEXT NOT NULL,
                key TEXT NOT NULL,
                value BLOB NOT NULL,
                expires_ms INTEGER,
                PRIMARY KEY (ns, key)
            ) WITHOUT ROWID;",
        )?;
        Ok(Storage {
            inner: Arc::new(Mutex::new(Inner {
                conn,
                usage: HashMap::new(),
            })),
        })
    }

    /// Run a blocking storage call on the blocking pool (SQLite must not stall the async workers).
    pub async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Storage) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || call(&this))
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    /// The value under `key`, if present and not expired.
    pub fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_at(ns, key, unix_ms())
    }

    /// Store `value` under `key` (expiring after `ttl_secs`), within `quota`.
    pub fn set(
        &self,
        ns: &str,
        quota: Quota,
        key: &str,
        value: &[u8],
        ttl_secs: Option<u32>,
    ) -> Result<(), StorageError> {
        self.set_at(ns, quota, key, value, ttl_secs, unix_ms())
    }

    /// Remove `key`; whether it existed (an expired key did not).
    pub fn delete(&self, ns: &str, key: &str) -> Result<bool, StorageError> {
        self.delete_at(ns, key, unix_ms())
    }

    /// Keys starting with `prefix`, sorted, at most [`MAX_LIST`].
    pub fn list_keys(&self, ns: &str, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.list_keys_at(ns, prefix, unix_ms())
    }

    /// Add `delta` to the integer under `key` (absent: 0); the new value.
    pub fn increment(&self, ns: &str, quota: Quota, key: &str, delta: i64) -> Result<i64, StorageError> {
        self.increment_at(ns, quota, key, delta, unix_ms())
    }

    /// Replace the value under `key` with `new` (none: delete) if it equals `expected` (none: absent).
    pub fn compare_and_swap(
        &self,
        ns: &str,
        quota: Quota,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        self.compare_and_swap_at(ns, quota, key, expected, new, unix_ms())
    }

    /// Keys and bytes a namespace uses now (expired keys included until purged).
    pub fn usage(&self, ns: &str) -> Result<(u64, u64), StorageError> {
        let mut inner = self.lock();
        let usage = inner.usage_of(ns)?;
        Ok((usage.keys, usage.bytes))
    }

    pub(crate) fn get_at(&self, ns: &str, key: &str, now: i64) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let inner = self.lock();
        Ok(inner.current(ns, key, now)?.map(|(value, _)| value))
    }

    pub(crate) fn set_at(
        &self,
        ns: &str,
        quota: Quota,
        key: &str,
        value: &[u8],
        ttl_secs: Option<u32>,
        now: i64,
    ) -> Result<(), StorageError> {
        check_key(key)?;
        check_value(value)?;
        let expires = ttl_secs.map(|t| now + i64::from(t) * 1000);
        let mut inner = self.lock();
        inner.write(ns, quota, key, Some(value), expires, now)
    }

    pub(crate) fn delete_at(&self, ns: &str, key: &str, now: i64) -> Result<bool, StorageError> {
        check_key(key)?;
        let mut inner = self.lock();
        let existed = inner.current(ns, key, now)?.is_some();
        inner.write(ns, Quota::default(), key, None, None, now)?;
        Ok(existed)
    }

    pub(crate) fn list_keys_at(&self, ns: &str, prefix: &str, now: i64) -> Result<Vec<String>, StorageError> {
        if prefix.len() > MAX_KEY_BYTES {
            return Err(StorageError::Invalid(format!(
                "the prefix is over {MAX_KEY_BYTES} bytes"
            )));
        }
        let inner = self.lock();
        // Keys sharing a prefix are contiguous in key order: scan from the prefix and stop at the first key
        // without it (no LIKE, so `%`, `_` and quotes in keys mean nothing special).
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT key, expires_ms FROM kv WHERE ns = ?1 AND key >= ?2 ORDER BY key")?;
        let mut rows = stmt.query(params![ns, prefix])?;
        let mut keys = Vec::new();
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            if !key.starts_with(prefix) {
                break;
            }
            let expires: Option<i64> = row.get(1)?;
            if expires.is_some_and(|e| e <= now) {
                continue;
            }
            keys.push(key);
            if keys.len() >= MAX_LIST {
                break;
            }
        }
        Ok(keys)
    }

    pub(crate) fn increment_at(
        &self,
        ns: &str,
        quota: Quota,
        key: &str,
        delta: i64,
        now: i64,
    ) -> Result<i64, StorageError> {
        check_key(key)?;
        let mut inner = self.lock();
        let (old, expires) = match inner.current(ns, key, now)? {
            None => (0, None),
            Some((value, expires)) => {
                let text = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|t| t.trim().parse::<i64>().ok());
                let Some(n) = text else {
                    return Err(StorageError::Invalid(format!(
                        "the value under {key:?} is not a decimal integer"
                    )));
                };
                (n, expires)
            }
        };
        let new = old
            .checked_add(delta)
            .ok_or_else(|| StorageError::Invalid("the sum overflows a 64-bit integer".into()))?;
        inner.write(ns, quota, key, Some(new.to_string().as_bytes()), expires, now)?;
        Ok(new)
    }

    pub(crate) fn compare_and_swap_at(
        &self,
        ns: &str,
        quota: Quota,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        now: i64,
    ) -> Result<bool, StorageError> {
        check_key(key)?;
        if let Some(new) = new {
            check_value(new)?;
        }
        let mut inner = self.lock();
        let current = inner.current(ns, key, now)?;
        if current.as_ref().map(|(v, _)| v.as_slice()) != expected {
            return Ok(false);
        }
        inner.write(ns, quota, key, new, None, now)?;
        Ok(true)
    }
}

/// A stored value and its expiry (Unix ms).
type Entry = (Vec<u8>, Option<i64>);

impl Inner {
    /// The live value and expiry of a key.
    fn current(&self, ns: &str, key: &str, now: i64) -> Result<Option<Entry>, StorageError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value, expires_ms FROM kv WHERE ns = ?1 AND key = ?2")?;
        let row: Option<Entry> = stmt
            .query_row(params![ns, key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.filter(|(_, expires)| expires.is_none_or(|e| e > now)))
    }

    /// Keys and bytes of a namespace, counted once then kept up to date by [`Inner::write`].
    fn usage_of(&mut self, ns: &str) -> Result<Usage, StorageError> {
        if let Some(usage) = self.usage.get(ns) {
            return Ok(*usage);
        }
        let (keys, bytes): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) FROM kv WHERE ns = ?1",
            params![ns],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let usage = Usage {
            keys: keys as u64,
            bytes: bytes as u64,
        };
        self.usage.insert(ns.to_string(), usage);
        Ok(usage)
    }

    /// Delete a namespace's expired keys and recount its usage.
    fn purge_expired(&mut self, ns: &str, now: i64) -> Result<Usage, StorageError> {
        self.conn.execute(
            "DELETE FROM kv WHERE ns = ?1 AND expires_ms IS NOT NULL AND expires_ms <= ?2",
            params![ns, now],
        )?;
        self.usage.remove(ns);
        self.usage_of(ns)
    }

    /// Write (`Some`) or delete (`None`) one key, checking the quota first; nothing changes on refusal.
    fn write(
        &mut self,
        ns: &str,
        quota: Quota,
        key: &str,
        value: Option<&[u8]>,
        expires: Option<i64>,
        now: i64,
    ) -> Result<(), StorageError> {
        let old_len: Option<u64> = self
            .conn
            .prepare_cached("SELECT length(value) FROM kv WHERE ns = ?1 AND key = ?2")?
            .query_row(params![ns, key], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|n| n as u64);
        let key_len = key.len() as u64;
        let old_bytes = old_len.map_or(0, |n| n + key_len);
        let Some(value) = value else {
            if old_len.is_some() {
                self.conn
                    .execute("DELETE FROM kv WHERE ns = ?1 AND key = ?2", params![ns, key])?;
                let mut usage = self.usage_of(ns)?;
                usage.keys = usage.keys.saturating_sub(1);
                usage.bytes = usage.bytes.saturating_sub(old_bytes);
                self.usage.insert(ns.to_string(), usage);
            }
            return Ok(());
        };
        let new_bytes = key_len + value.len() as u64;
        let fits = |u: Usage| {
            let keys = u.keys + u64::from(old_len.is_none());
            let bytes = u.bytes.saturating_sub(old_bytes) + new_bytes;
            // Shrinking or same-size rewrites are always allowed, so a full store can still be tidied.
            (keys <= quota.max_keys || old_len.is_some()) && (bytes <= quota.max_bytes || new_bytes <= old_bytes)
        };
        let mut usage = self.usage_of(ns)?;
        if !fits(usage) {
            usage = self.purge_expired(ns, now)?;
            // The key itself may have just been purged: then it is a new key.
            let still_there: bool = self
                .conn
                .prepare_cached("SELECT 1 FROM kv WHERE ns = ?1 AND key = ?2")?
                .exists(params![ns, key])?;
            if !still_there && old_len.is_some() {
                return self.write(ns, quota, key, Some(value), expires, now);
            }
            if !fits(usage) {
                let keys = usage.keys + u64::from(old_len.is_none());
                return Err(StorageError::Quota(if keys > quota.max_keys {
                    format!("{} keys is the limit", quota.max_keys)
                } else {
                    format!(
                        "{} + {} bytes would pass the limit of {} bytes",
                        usage.bytes.saturating_sub(old_bytes),
                        new_bytes,
                        quota.max_bytes
                    )
                }));
            }
        }
        self.conn.execute(
            "INSERT INTO kv (ns, key, value, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_ms = excluded.expires_ms",
            params![ns, key, value, expires],
        )?;
        usage.keys += u64::from(old_len.is_none());
        usage.bytes = usage.bytes.saturating_sub(old_bytes) + new_bytes;
        self.usage.insert(ns.to_string(), usage);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quota = Quota {
        max_keys: 10_000,
        max_bytes: 16 << 20,
    };

    #[test]
    fn namespaces_are_isolated_whatever_the_key() {
        let s = Storage::in_memory().unwrap();
        let tricky = [
            "../b/x",
            "b:x",
            "%",
            "_",
            "x' OR '1'='1",
            "x\"; DROP TABLE kv; --",
            "b\0x",
            "🙂",
        ];
        for key in tricky {
            s.set("a", Q, key, b"from a", None).unwrap();
        }
        s.set("b", Q, "x", b"from b", None).unwrap();
        for key in tricky {
            assert_eq!(s.get("a", key).unwrap().as_deref(), Some(&b"from a"[..]), "{key:?}");
            assert_eq!(s.get("b", key).unwrap(), None, "{key:?} leaked into b");
        }
        assert_eq!(s.get("b", "x").unwrap().as_deref(), Some(&b"from b"[..]));
        assert_eq!(s.list_keys("b", "").unwrap(), vec!["x".to_string()]);
        // `%` and `_` are not wildcards in prefixes.
        assert_eq!(s.list_keys("a", "%").unwrap(), vec!["%".to_string()]);
        assert_eq!(s.list_keys("a", "_").unwrap(), vec!["_".to_string()]);
        assert_eq!(s.list_keys("a", "").unwrap().len(), tricky.len());
        assert!(!s.delete("b", "%").unwrap());
        assert!(s.get("a", "%").unwrap().is_some());
        assert_eq!(s.usage("b").unwrap(), (1, 7));
    }

    #[test]
    fn a_full_quota_refuses_writes_and_loses_nothing() {
        let s = Storage::in_memory().unwrap();
        let q = Quota {
            max_keys: 3,
            max_bytes: 100,
        };
        for k in ["k1", "k2", "k3"] {
            s.set("p", q, k, b"0123456789", None).unwrap();
        }
        let err = s.set("p", q, "k4", b"x", None).unwrap_err();
        assert!(matches!(err, StorageError::Quota(_)), "{err}");
        assert!(matches!(s.increment("p", q, "n", 1), Err(StorageError::Quota(_))));
        assert!(matches!(
            s.compare_and_swap("p", q, "k5", None, Some(b"v")),
            Err(StorageError::Quota(_))
        ));
        // Replacing an existing key within the byte limit still works; growing past it does not.
        s.set("p", q, "k1", b"abc", None).unwrap();
        let err = s.set("p", q, "k2", &[7u8; 90], None).unwrap_err();
        assert!(err.to_string().contains("100 bytes"), "{err}");
        assert_eq!(s.get("p", "k1").unwrap().unwrap(), b"abc");
        assert_eq!(s.get("p", "k2").unwrap().unwrap(), b"0123456789");
        assert_eq!(s.get("p", "k3").unwrap().unwrap(), b"0123456789");
        assert_eq!(s.get("p", "k4").unwrap(), None);
        assert_eq!(s.list_keys("p", "").unwrap(), ["k1", "k2", "k3"]);
        // Freeing a key makes room again.
        assert!(s.delete("p", "k3").unwrap());
        s.set("p", q, "k4", b"x", None).unwrap();
    }

    #[test]
    fn expired_keys_vanish_and_are_purged_before_a_quota_refusal() {
        let s = Storage::in_memory().unwrap();
        let q = Quota {
            max_keys: 2,
            max_bytes: 1000,
        };
        s.set_at("p", q, "short", b"v", Some(10), 0).unwrap();
        s.set_at("p", q, "long", b"v", None, 0).unwrap();
        assert!(s.get_at("p", "short", 9_999).unwrap().is_some());
        assert!(s.get_at("p", "short", 10_000).unwrap().is_none());
        assert_eq!(s.list_keys_at("p", "", 10_000).unwrap(), ["long"]);
        // Still counted until purged: the write that needs its slot purges it.
        assert_eq!(s.usage("p").unwrap().0, 2);
        s.set_at("p", q, "third", b"v", None, 10_000).unwrap();
        assert_eq!(s.list_keys_at("p", "", 10_000).unwrap(), ["long", "third"]);
        assert_eq!(s.usage("p").unwrap().0, 2);
        assert!(
            !s.delete_at("p", "short", 10_000).unwrap(),
            "an expired key did not exist"
        );
        // A fourth key does not fit: nothing has expired now.
        assert!(matches!(
            s.set_at("p", q, "fourth", b"v", None, 10_000),
            Err(StorageError::Quota(_))
        ));
    }

    #[test]
    fn increment_and_compare_and_swap_are_exact() {
        let s = Storage::in_memory().unwrap();
        assert_eq!(s.increment("p", Q, "n", 5).unwrap(), 5);
        assert_eq!(s.increment("p", Q, "n", -7).unwrap(), -2);
        assert_eq!(s.get("p", "n").unwrap().unwrap(), b"-2");
        s.set("p", Q, "text", b"hello", None).unwrap();
        assert!(matches!(s.increment("p", Q, "text", 1), Err(StorageError::Invalid(_))));
        s.set("p", Q, "big", i64::MAX.to_string().as_bytes(), None).unwrap();
        assert!(matches!(s.increment("p", Q, "big", 1), Err(StorageError::Invalid(_))));

        assert!(s.compare_and_swap("p", Q, "c", None, Some(b"1")).unwrap());
        assert!(!s.compare_and_swap("p", Q, "c", None, Some(b"2")).unwrap());
        assert!(!s.compare_and_swap("p", Q, "c", Some(b"0"), Some(b"2")).unwrap());
        assert_eq!(s.get("p", "c").unwrap().unwrap(), b"1");
        assert!(s.compare_and_swap("p", Q, "c", Some(b"1"), Some(b"2")).unwrap());
        assert!(s.compare_and_swap("p", Q, "c", Some(b"2"), None).unwrap());
        assert_eq!(s.get("p", "c").unwrap(), None);
    }

    #[test]
    fn limits_on_keys_and_values() {
        let s = Storage::in_memory().unwrap();
        assert!(matches!(s.set("p", Q, "", b"v", None), Err(StorageError::Invalid(_))));
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            s.set("p", Q, &long, b"v", None),
            Err(StorageError::Invalid(_))
        ));
        s.set("p", Q, &long[1..], b"v", None).unwrap();
        let big = vec![0u8; MAX_VALUE_BYTES + 1];
        assert!(matches!(s.set("p", Q, "k", &big, None), Err(StorageError::Invalid(_))));
        for i in 0..(MAX_LIST + 5) {
            s.set("q", Q, &format!("k{i:05}"), b"", None).unwrap();
        }
        let keys = s.list_keys("q", "k").unwrap();
        assert_eq!(keys.len(), MAX_LIST);
        assert_eq!(keys[0], "k00000");
    }

    #[test]
    fn data_and_usage_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Storage::open(&cap_fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap())
                .unwrap();
            s.set("p", Q, "a", b"1", None).unwrap();
            s.set("p", Q, "b", b"22", None).unwrap();
        }
        let s =
            Storage::open(&cap_fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap()).unwrap();
        assert_eq!(s.get("p", "b").unwrap().unwrap(), b"22");
        assert_eq!(s.usage("p").unwrap(), (2, 5));
        let q = Quota {
            max_keys: 2,
            max_bytes: 100,
        };
        assert!(matches!(s.set("p", q, "c", b"", None), Err(StorageError::Quota(_))));
    }
}
