//! Link settings for the `coral` binary: its relative relocations packed (DT_RELR) where the C library it is built
//! against can load them, and its hot functions placed together (`link-order.txt`) where the linker is lld.
//!
//! A position-independent executable carries one 24-byte relocation for each pointer in its read-only data (Rust's
//! vtables, tables of strings and functions): 1.4 MB for `coral`, read by the loader at every start and resident
//! from then on. Packed, they take a few kilobytes (`BENCHMARKS.md`, issue 20). glibc loads packed relocations since
//! 2.36, and a binary that has them does not start on an older one; `coral` runs where it is built, so the check
//! is the glibc of the build machine (cross builds to another target are left as they were).
//!
//! The kernel maps 64 KB around every page of code the process faults in, so the few thousand functions start-up and
//! the event path run, scattered over a 30 MB text segment, kept 15 MB of it resident. `link-order.txt` lists them in
//! the order they first ran (`scripts/link-order.sh` traces a run's page faults to find them); lld's
//! `--symbol-ordering-file` places them first, next to each other, and the resident code drops to what runs
//! (`BENCHMARKS.md`, issue 20). A name the build does not have (the list is older than the code) is skipped: that
//! function stays where it was, which costs memory, not correctness. The release profile's `codegen-units = 1` keeps
//! the names free of path-dependent `.llvm.<hash>` suffixes, so the list matches in any clone. Only release builds
//! of the x86-64 Linux target, where rustc links with its own lld unless told otherwise.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |key: &str| std::env::var(key).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    if !(native && var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu") {
        return;
    }
    if glibc_version().is_some_and(|version| version >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let list = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if var("PROFILE") == "release" && links_with_rust_lld(&var) && list.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether rustc links this build with its own lld: the default for `x86_64-unknown-linux-gnu` since Rust 1.90, unless
/// a linker or linker flavour is chosen (by environment or flags), when the ordering option might not be understood.
fn links_with_rust_lld(var: &dyn Fn(&str) -> String) -> bool {
    let flags = var("CARGO_ENCODED_RUSTFLAGS");
    var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("RUSTC_LINKER").is_empty()
        && var("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_empty()
        && !["linker", "link-self-contained", "fuse-ld"]
            .iter()
            .any(|flag| flags.contains(flag))
}

/// The build machine's glibc version, from `getconf GNU_LIBC_VERSION` (`glibc 2.36`).
fn glibc_version() -> Option<(u32, u32)> {
    let output = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    let minor = minor.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
