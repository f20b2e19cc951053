//! Turning an untrusted `.wasm` file into a loaded component. The compiler (Cranelift) runs in a child process,
//! `coral compile-worker` (this same binary), under a memory and CPU rlimit, and is killed at the deadline: a file
//! made to be slow or huge to compile costs a process, never a host thread or the host's heap. The native code it
//! returns is cached on disk by content and engine settings and mapped from that file, so a restart loads plugins
//! without compiling, and their code pages are file-backed rather than part of the host's own memory.
//!
//! Trust: the artifact is produced by this binary's compiler with this engine's settings (wasmtime checks the
//! header against the engine when loading it); the cache folder is the operator's, trusted like the binary. It
//! is reached only through the handle the host opened (cap-std `Dir`), and a cache entry that is a symbolic
//! link is never mapped (it is removed and the code compiled again).

use cap_std::fs as cap_fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The hidden subcommand the worker runs as.
pub const WORKER_COMMAND: &str = "compile-worker";
/// Default deadline for one compilation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Default memory (data segment and anonymous mappings, `RLIMIT_DATA`) the worker may use, MiB.
pub const DEFAULT_MEMORY_MB: u64 = 2048;
/// The most native code a worker may hand back.
const MAX_ARTIFACT: u64 = 1 << 30;
/// The most of the worker's error output kept.
const MAX_STDERR: u64 = 16 * 1024;

/// Where compilation happens.
#[derive(Debug, Clone)]
pub enum Compiler {
    /// In this process, on a blocking thread (library use, tests, benchmarks).
    InProcess,
    /// In a child process: `<program> compile-worker`.
    Worker(PathBuf),
}

/// Bounds on one compilation in the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Killed after this long (its CPU rlimit is the same, in whole seconds).
    pub timeout: Duration,
    /// Its memory rlimit, bytes.
    pub memory_bytes: u64,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            timeout: DEFAULT_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_MB << 20,
        }
    }
}

/// Why a file could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// Not a valid component (the compiler's own message).
    #[error("{0}")]
    Invalid(String),
    /// The deadline passed; the worker was killed.
    #[error("compiling took over {0} s; the compiler was stopped")]
    TimedOut(u64),
    /// The worker died or could not run (out of memory, CPU limit, a crash).
    #[error("the compiler stopped: {0}")]
    Crashed(String),
    /// The compiled code could not be stored or loaded.
    #[error("the compiled code could not be loaded: {0}")]
    Load(String),
}

/// The cache file name for content with this SHA-256 (hex) on this engine: content, engine settings, Coral version.
fn cache_key(engine: &Engine, sha256: &str) -> String {
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    env!("CARGO_PKG_VERSION").hash(&mut settings);
    format!("{sha256}-{:016x}", settings.finish())
}

/// Compile (or load from `cache_dir`) a component from `bytes`, whose SHA-256 (hex) is `sha256`.
pub async fn load(
    engine: &Engine,
    bytes: Vec<u8>,
    sha256: &str,
    cache_dir: Option<&cap_fs::Dir>,
    compiler: &Compiler,
    limits: &CompileLimits,
) -> Result<Component, CompileError> {
    let name = format!("{}.cwasm", cache_key(engine, sha256));
    let cached = cache_dir.map(|dir| (dir, name.as_str()));
    if let Some((dir, name)) = cached
        && let Ok(meta) = dir.symlink_metadata(name)
    {
        let usable = if meta.is_file() {
            deserialize_file(engine, &crate::folder::fd_path(dir, name)).map_err(|e| format!("{e:#}"))
        } else {
            Err("not a plain file".to_string())
        };
        match usable {
            Ok(component) => return Ok(component),
            // From another engine or version, damaged, or a link: compile again.
            Err(e) => {
                tracing::debug!(file = %name, "cached code not usable ({e}); compiling again");
                let _ = dir.remove_file(name);
            }
        }
    }
    let artifact = match compiler {
        Compiler::InProcess => {
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || engine.precompile_component(&bytes))
                .await
                .map_err(|e| CompileError::Crashed(e.to_string()))?
                .map_err(|e| CompileError::Invalid(format!("{e:#}")))?
        }
        Compiler::Worker(program) => {
            let started = std::time::Instant::now();
            let artifact = run_worker(program, &bytes, limits).await?;
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                bytes = artifact.len(),
                "compiled in a child process (coral compile-worker)"
            );
            artifact
        }
    };
    match cached {
        Some((dir, name)) => {
            let temp = format!("{name}.tmp{}", std::process::id());
            crate::folder::write_atomic(dir, name, &temp, &artifact)
                .map_err(|e| CompileError::Load(format!("writing {name} in the cache folder: {e}")))?;
            drop(artifact);
            deserialize_file(engine, &crate::folder::fd_path(dir, name))
                .map_err(|e| CompileError::Load(format!("{e:#}")))
        }
        None => deserialize(engine, &artifact).map_err(|e| CompileError::Load(format!("{e:#}"))),
    }
}

#[allow(unsafe_code)]
fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by this binary's compiler for an engine with these settings (see the module
    // docs on trust); wasmtime checks its header against `engine` and refuses a mismatch.
    unsafe { Component::deserialize_file(engine, path) }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: as for `deserialize_file`: produced by this binary's compiler moments ago.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Run `<program> compile-worker` on `bytes`: its stdout is the native code, its stderr the compiler's complaint.
async fn run_worker(program: &Path, bytes: &[u8], limits: &CompileLimits) -> Result<Vec<u8>, CompileError> {
    let cpu_secs = limits.timeout.as_secs().max(1);
    let mut child = tokio::process::Command::new(program)
        .arg(WORKER_COMMAND)
        .arg("--memory-mb")
        .arg((limits.memory_bytes >> 20).max(1).to_string())
        .arg("--cpu-secs")
        .arg(cpu_secs.to_string())
        // It parses hostile input: it gets none of the host's environment (tokens, proxies, paths), only this.
        .env_clear()
        .env("CORAL_LOG", "error")
        // A backtrace taken while out of memory can deadlock the worker (then only the deadline ends it).
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CompileError::Crashed(format!("could not start {} {WORKER_COMMAND}: {e}", program.display())))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let run = async {
        let write = async {
            // A worker that dies early closes its stdin: the reason is in its status, not in this error.
            let _ = stdin.write_all(bytes).await;
            drop(stdin);
        };
        let mut artifact = Vec::new();
        let mut complaint = Vec::new();
        let (mut out_pipe, mut err_pipe) = (stdout.take(MAX_ARTIFACT), stderr.take(MAX_STDERR));
        let read_out = out_pipe.read_to_end(&mut artifact);
        let read_err = err_pipe.read_to_end(&mut complaint);
        let ((), out, _) = tokio::join!(write, read_out, read_err);
        let status = child.wait().await;
        (status, out.map(|_| artifact), complaint)
    };
    let (status, artifact, complaint) = tokio::time::timeout(limits.timeout, run)
        .await
        .map_err(|_| CompileError::TimedOut(limits.timeout.as_secs()))?;
    // What the compiler says may quote the file (names from a hostile component): escaped, bounded, one line.
    let complaint = coral_model::text::bounded(String::from_utf8_lossy(&complaint).trim(), 2048);
    let status = status.map_err(|e| CompileError::Crashed(e.to_string()))?;
    if status.success() {
        return artifact.map_err(|e| CompileError::Crashed(format!("reading its output: {e}")));
    }
    use std::os::unix::process::ExitStatusExt;
    Err(match (status.code(), status.signal()) {
        (Some(WORKER_INVALID), _) => CompileError::Invalid(complaint),
        (_, Some(signal)) => CompileError::Crashed(format!(
            "killed by signal {signal} (over its {} MiB memory or {cpu_secs} s CPU limit, or a compiler crash){}",
            limits.memory_bytes >> 20,
            if complaint.is_empty() {
                String::new()
            } else {
                format!(": {complaint}")
            }
        )),
        (code, None) => CompileError::Crashed(format!(
            "exit code {} (over its {} MiB memory limit, or a compiler crash){}",
            code.unwrap_or(-1),
            limits.memory_bytes >> 20,
            if complaint.is_empty() {
                String::new()
            } else {
                format!(": {complaint}")
            }
        )),
    })
}

/// The worker's exit code for "not a valid component" (its message on stderr).
const WORKER_INVALID: i32 = 2;

/// `coral compile-worker`: limit this process, read a component from stdin, write its native code to stdout.
/// Returns the exit code.
pub fn worker_main(memory_mb: u64, cpu_secs: u64) -> i32 {
    use std::io::{Read, Write};
    if let Err(e) = limit_self(memory_mb << 20, cpu_secs) {
        eprintln!("cannot set the compile worker's limits: {e}");
        return 1;
    }
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        eprintln!("reading the component: {e}");
        return 1;
    }
    let engine = match super::engine::build_engine() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("{e:#}");
            return 1;
        }
    };
    match engine.precompile_component(&bytes) {
        Ok(artifact) => match std::io::stdout().lock().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("writing the compiled code: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            WORKER_INVALID
        }
    }
}

/// Cap this process's memory (`RLIMIT_DATA`: heap and private mappings, not the binary's own pages) and CPU time.
#[allow(unsafe_code)]
fn limit_self(memory_bytes: u64, cpu_secs: u64) -> std::io::Result<()> {
    let set = |resource, soft: u64, hard: u64| {
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit only reads the struct we pass; lowering our own limits is always allowed.
        if unsafe { libc::setrlimit(resource, &limit) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    set(libc::RLIMIT_DATA, memory_bytes, memory_bytes)?;
    // SIGXCPU at the soft limit, SIGKILL a second later.
    set(libc::RLIMIT_CPU, cpu_secs, cpu_secs + 1)
}

/// Compile in a child process running this executable (the `coral` binary).
pub fn worker() -> anyhow::Result<Compiler> {
    use anyhow::Context as _;
    let program = std::env::current_exe().context("finding the coral executable for the compile worker")?;
    Ok(Compiler::Worker(program))
}
