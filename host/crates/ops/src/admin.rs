//! The local admin socket behind `coral status`: a Unix socket (mode 0600, default `<data_dir>/coral.sock`,
//! `[host] admin_socket`) that answers the line `status` with the [`Snapshot`] as one line of JSON, the line
//! `enable <plugin>` by lifting that plugin's quarantine, and a line of JSON ([`crate::Manage`]: `coral plugin
//! list|enable|disable|reload|…`, `coral config reload`) with `{"ok": …}` or `{"error": "…"}`. It is never on the network. A host refuses to start while
//! another one answers on its socket, replaces a stale socket file, and removes its own on exit. The host binds,
//! restricts, renames and removes it relative to its folder's handle (a cap-std `Dir` it opened once).

use super::{Snapshot, Sources};
use cap_fs::{Dir, Permissions, PermissionsExt as _};
use cap_std::fs as cap_fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// How long the client waits for the host's answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the host waits for a client's request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request line, bytes.
const MAX_REQUEST: u64 = 1024;
/// How long the client waits for a management request (a reload compiles a plugin).
const MANAGE_TIMEOUT: Duration = Duration::from_secs(300);

/// Problems with the admin socket.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing is listening there.
    #[error("no coral host is running (nothing answers on {path}); start one with `coral run`")]
    NotRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// Another host answers there.
    #[error("another coral host is already running with the admin socket {path} (stop it, or set [host] admin_socket)")]
    AlreadyRunning {
        /// The socket path.
        path: PathBuf,
    },
    /// Some other I/O failure.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The host refused the request (the reason is the host's).
    #[error("{0}")]
    Refused(String),
    /// The host's answer was not a status.
    #[error("unexpected answer on {path}: {reason}")]
    BadAnswer {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AdminError + '_ {
    move |source| AdminError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A path that reaches `name` (a path inside `dir`, no `..`) through the open handle `dir`, for the socket calls
/// that need one: `/proc/self/fd/<fd>/<name>`.
fn through(dir: &Dir, name: &str) -> PathBuf {
    use std::os::fd::AsRawFd as _;
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// The bound socket; dropping it removes the socket file.
pub struct AdminSocket {
    path: PathBuf,
    /// The folder it is in, and its name there.
    dir: Arc<Dir>,
    name: String,
    listener: Option<std::os::unix::net::UnixListener>,
}

impl AdminSocket {
    /// Bind the socket `name` (a file name) in the folder `dir`, which the operator reaches at `path` (mode 0600).
    /// Fails if another host answers there; a stale file (nobody answering) is replaced.
    pub fn bind_in(dir: Arc<Dir>, name: &str, path: &Path) -> Result<AdminSocket, AdminError> {
        if name.is_empty() || name.contains('/') || name == ".." || name == "." {
            return Err(io(path)(std::io::Error::other(
                "the admin socket must be a file name in its folder",
            )));
        }
        if dir.symlink_metadata(name).is_ok() {
            match std::os::unix::net::UnixStream::connect(through(&dir, name)) {
                Ok(_) => {
                    return Err(AdminError::AlreadyRunning {
                        path: path.to_path_buf(),
                    });
                }
                Err(_) => {
                    tracing::info!(path = %path.display(), "removing a stale admin socket");
                    dir.remove_file(name).map_err(io(path))?;
                }
            }
        }
        // Bind inside a private folder, restrict the socket, then move it into place: nobody else can connect in
        // between.
        let staging = format!(".coral-admin-{}", std::process::id());
        let _ = dir.remove_dir_all(&staging);
        dir.create_dir(&staging).map_err(io(path))?;
        dir.set_permissions(&staging, Permissions::from_mode(0o700))
            .map_err(io(path))?;
        let temp = format!("{staging}/s");
        let bound = (|| {
            let listener = std::os::unix::net::UnixListener::bind(through(&dir, &temp))?;
            dir.set_permissions(&temp, Permissions::from_mode(0o600))?;
            dir.rename(&temp, &dir, name)?;
            Ok(listener)
        })();
        let _ = dir.remove_dir_all(&staging);
        let listener = bound.map_err(io(path))?;
        listener.set_nonblocking(true).map_err(io(path))?;
        Ok(AdminSocket {
            path: path.to_path_buf(),
            dir,
            name: name.to_string(),
            listener: Some(listener),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answer status requests until the host exits (needs a tokio runtime).
    pub fn serve(&mut self, sources: Sources) -> Result<(), AdminError> {
        let Some(listener) = self.listener.take() else {
            return Ok(());
        };
        let listener = tokio::net::UnixListener::from_std(listener).map_err(io(&self.path))?;
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(answer(stream, sources.clone()));
                    }
                    Err(e) => {
                        tracing::warn!("admin socket: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(())
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = self.dir.remove_file(&self.name);
    }
}

async fn answer(stream: tokio::net::UnixStream, sources: Sources) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST);
    let request = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let reply = match request {
        Ok(Ok(_)) if line.trim() == "status" => {
            serde_json::to_string(&sources.snapshot()).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        }
        Ok(Ok(_)) if line.trim().starts_with("enable ") => {
            let name = line.trim()["enable ".len()..].trim();
            let lifted = sources.lift_quarantine(name);
            if lifted {
                tracing::info!(plugin = %crate::text::escape(name), "quarantine lifted by the operator (coral plugin enable)");
            }
            serde_json::json!({"plugin": name, "lifted": lifted}).to_string()
        }
        Ok(Ok(_)) if line.trim().starts_with("job ") => {
            // `job <plugin> <name>`: the name is the rest of the line (job names may hold spaces).
            let rest = line.trim()["job ".len()..].trim_start();
            let (plugin, job) = rest.split_once(' ').unwrap_or((rest, ""));
            match sources.run_job(plugin, job.trim()).await {
                Ok(fired) => {
                    if fired {
                        tracing::info!(plugin = %crate::text::escape(plugin), job = %crate::text::escape(job.trim()),
                            "job made due now by the operator (coral job run)");
                    }
                    serde_json::json!({"plugin": plugin, "job": job.trim(), "due_now": fired}).to_string()
                }
                Err(e) => serde_json::json!({"error": e}).to_string(),
            }
        }
        Ok(Ok(_)) if line.trim_start().starts_with('{') => match serde_json::from_str::<crate::Manage>(&line) {
            Ok(request) => {
                tracing::info!(request = %crate::text::escape(line.trim()), "operator request over the admin socket");
                match sources.manage(request).await {
                    Ok(answer) => serde_json::json!({"ok": answer}).to_string(),
                    Err(error) => serde_json::json!({"error": error}).to_string(),
                }
            }
            Err(e) => serde_json::json!({"error": format!("not a request: {e}")}).to_string(),
        },
        Ok(Ok(_)) => {
            "{\"error\":\"unknown request; send `status`, `enable <plugin>`, `job <plugin> <name>` or a JSON request\"}"
                .to_string()
        }
        _ => return,
    };
    let _ = write.write_all(reply.as_bytes()).await;
    let _ = write.write_all(b"\n").await;
    let _ = write.shutdown().await;
}

/// Ask the host listening on `path` for its status (blocking; for the `coral status` command).
pub fn query(path: &Path) -> Result<Snapshot, AdminError> {
    let line = request(path, "status")?;
    serde_json::from_str(&line).map_err(|e| AdminError::BadAnswer {
        path: path.to_path_buf(),
        reason: format!("{e}: {}", line.chars().take(200).collect::<String>()),
    })
}

/// Ask the host listening on `path` to lift `plugin`'s quarantine at once (blocking; `coral plugin enable`).
/// Whether it was quarantined.
pub fn enable(path: &Path, plugin: &str) -> Result<bool, AdminError> {
    if plugin.is_empty() || plugin.len() > 128 || plugin.chars().any(char::is_control) {
        return Err(AdminError::BadAnswer {
            path: path.to_path_buf(),
            reason: "a plugin name is 1 to 128 characters without control characters".into(),
        });
    }
    let line = request(path, &format!("enable {plugin}"))?;
    let answer: serde_json::Value = serde_json::from_str(&line).map_err(|e| AdminError::BadAnswer {
        path: path.to_path_buf(),
        reason: format!("{e}: {}", line.chars().take(200).collect::<String>()),
    })?;
    answer["lifted"].as_bool().ok_or_else(|| AdminError::BadAnswer {
        path: path.to_path_buf(),
        reason: line.chars().take(200).collect(),
    })
}

/// Ask the host listening on `path` to make `plugin`'s job `job` due now (blocking; `coral job run`). Whether
/// the job exists; an error when the host cannot run jobs or refuses the request.
pub fn run_job(path: &Path, plugin: &str, job: &str) -> Result<bool, AdminError> {
    let bad = |reason: String| AdminError::BadAnswer {
        path: path.to_path_buf(),
        reason,
    };
    let name_ok = |s: &str| !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control);
    if !name_ok(plugin) || plugin.contains(' ') || !name_ok(job) {
        return Err(bad(
            "a plugin name (no spaces) and a job name are 1 to 128 characters without control characters".into(),
        ));
    }
    let line = request(path, &format!("job {plugin} {job}"))?;
    let answer: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| bad(format!("{e}: {}", line.chars().take(200).collect::<String>())))?;
    if let Some(error) = answer["error"].as_str() {
        return Err(bad(error.to_string()));
    }
    answer["due_now"]
        .as_bool()
        .ok_or_else(|| bad(line.chars().take(200).collect()))
}

/// Send an operator's request to the host listening on `path` (blocking); its answer, or its refusal as
/// [`AdminError::Refused`].
pub fn manage(path: &Path, request: &crate::Manage) -> Result<serde_json::Value, AdminError> {
    let bad = |reason: String| AdminError::BadAnswer {
        path: path.to_path_buf(),
        reason,
    };
    let text = serde_json::to_string(request).map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 >= MAX_REQUEST {
        return Err(bad(format!("a request is at most {MAX_REQUEST} bytes")));
    }
    let line = request_within(path, &text, MANAGE_TIMEOUT)?;
    let mut answer: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| bad(format!("{e}: {}", line.chars().take(200).collect::<String>())))?;
    if let Some(error) = answer["error"].as_str() {
        return Err(AdminError::Refused(error.to_string()));
    }
    match answer.get_mut("ok") {
        Some(ok) => Ok(ok.take()),
        None => Err(bad(line.chars().take(200).collect())),
    }
}

/// Send one request line and read the one answer line.
fn request(path: &Path, request: &str) -> Result<String, AdminError> {
    request_within(path, request, CLIENT_TIMEOUT)
}

fn request_within(path: &Path, request: &str, timeout: Duration) -> Result<String, AdminError> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => AdminError::NotRunning {
            path: path.to_path_buf(),
        },
        _ => io(path)(e),
    })?;
    stream.set_read_timeout(Some(timeout)).map_err(io(path))?;
    stream.write_all(format!("{request}\n").as_bytes()).map_err(io(path))?;
    let mut line = String::new();
    BufReader::new(stream.take(64 << 20))
        .read_line(&mut line)
        .map_err(io(path))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host with no plugins and one quarantined plugin name, `q`.
    struct Fake;

    impl crate::Control for Fake {
        fn snapshot(&self) -> Snapshot {
            Snapshot {
                version: env!("CARGO_PKG_VERSION").into(),
                uptime_seconds: 0.0,
                plugins: Vec::new(),
                bots: Vec::new(),
                adapters: Vec::new(),
            }
        }

        fn lift_quarantine(&self, name: &str) -> bool {
            name == "q"
        }

        fn run_job<'a>(&'a self, plugin: &'a str, job: &'a str) -> crate::JobRun<'a> {
            Box::pin(async move {
                match (plugin, job) {
                    ("p", "daily tea") => Ok(true),
                    ("p", _) => Ok(false),
                    _ => Err(format!("no plugin {plugin}")),
                }
            })
        }
    }

    fn sources() -> Sources {
        std::sync::Arc::new(Fake)
    }

    /// Bind `path` as the host does: its folder opened, the socket named in it.
    fn bind(path: &Path) -> Result<AdminSocket, AdminError> {
        let dir = Dir::open_ambient_dir(path.parent().unwrap(), cap_std::ambient_authority()).unwrap();
        AdminSocket::bind_in(Arc::new(dir), path.file_name().unwrap().to_str().unwrap(), path)
    }

    #[tokio::test]
    async fn status_round_trip_mode_0600_second_host_refused_and_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coral.sock");
        assert!(matches!(query(&path), Err(AdminError::NotRunning { .. })));
        let mut socket = bind(&path).unwrap();
        socket.serve(sources()).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777;
        assert_eq!(mode, 0o600);
        let p = path.clone();
        let snapshot = tokio::task::spawn_blocking(move || query(&p)).await.unwrap().unwrap();
        assert_eq!(snapshot.version, env!("CARGO_PKG_VERSION"));
        assert!(snapshot.plugins.is_empty());
        let p = path.clone();
        let lifted = tokio::task::spawn_blocking(move || (enable(&p, "q"), enable(&p, "other")))
            .await
            .unwrap();
        assert!(matches!(lifted, (Ok(true), Ok(false))), "{lifted:?}");
        let p = path.clone();
        let jobs = tokio::task::spawn_blocking(move || {
            (
                run_job(&p, "p", "daily tea"),
                run_job(&p, "p", "other"),
                run_job(&p, "x", "j"),
                run_job(&p, "p", ""),
            )
        })
        .await
        .unwrap();
        assert!(
            matches!(jobs.0, Ok(true)),
            "the name runs to the end of the line: {jobs:?}"
        );
        assert!(matches!(jobs.1, Ok(false)), "{jobs:?}");
        assert!(
            matches!(&jobs.2, Err(AdminError::BadAnswer { reason, .. }) if reason == "no plugin x"),
            "{jobs:?}"
        );
        assert!(
            matches!(jobs.3, Err(AdminError::BadAnswer { .. })),
            "refused before asking: {jobs:?}"
        );
        assert!(matches!(bind(&path), Err(AdminError::AlreadyRunning { .. })));
        drop(socket);
        assert!(!path.exists(), "removed on exit");
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coral.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // leaves the file, nobody listening
        assert!(path.exists());
        assert!(matches!(query(&path), Err(AdminError::NotRunning { .. })));
        let socket = bind(&path).unwrap();
        assert!(path.exists());
        drop(socket);
    }
}
