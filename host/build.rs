//! Link settings for the `coral` binary: its relative relocations packed (DT_RELR) where the C library it is built
//! against can load them.
//!
//! A position-independent executable carries one 24-byte relocation for each pointer in its read-only data (Rust's
//! vtables, tables of strings and functions): 1.4 MB for `coral`, read by the loader at every start and resident
//! from then on. Packed, they take a few kilobytes (`BENCHMARKS.md`, issue 20). glibc loads packed relocations since
//! 2.36, and a binary that has them does not start on an older one; `coral` runs where it is built, so the check
//! is the glibc of the build machine (cross builds to another target are left as they were).

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
}

/// The build machine's glibc version, from `getconf GNU_LIBC_VERSION` (`glibc 2.36`).
fn glibc_version() -> Option<(u32, u32)> {
    let output = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    let minor = minor.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
