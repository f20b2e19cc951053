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
//! the order they first ran (`scripts/link-order.sh` traces a run's page faults to find them); a linker script
//! (`link_order_script`) places them first, next to each other, and the resident code drops to what runs
//! (`BENCHMARKS.md`, issue 20). The release profile's `codegen-units = 1` keeps the names free of path-dependent
//! `.llvm.<hash>` suffixes. The hash that ends a legacy-mangled name comes from the crate's metadata (its
//! dependencies and their features among it) and has changed under a list before (`BENCHMARKS.md`, issue 20 part
//! 5), so each name is followed by a hash-free fallback: a list older than the build costs some memory, never
//! correctness. Only release builds of the x86-64 Linux target, where rustc links with its own lld unless told
//! otherwise.

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
        let script = std::path::Path::new(&var("OUT_DIR")).join("link-order.ld");
        let text = std::fs::read_to_string(&list).expect("reading link-order.txt");
        std::fs::write(&script, link_order_script(&text)).expect("writing the link-order script");
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}

/// The linker script that places the listed functions first, in the list's order, in an output section of their own
/// (`.text.hot`, inserted before `.text`; everything else keeps lld's default layout). Each function is in its own
/// section `.text.<name>` or `.text.unlikely.<name>` (rustc and the `cc` crate compile with function sections), so
/// each name is an input section pattern; a pattern that matches nothing is skipped by the linker.
///
/// A legacy-mangled name ends in a hash (`17h<16 hex digits>E`) that changes with the crate's metadata, which
/// changes with its dependencies and their features: a list made before a dependency changed would miss most of the
/// event path. So after the whole names come their hash-free forms, in the same order, each matching every function
/// of that path (every instance of a generic one). A section goes to the first pattern that matches it: with a
/// current list the whole names take the functions that ran and the fallbacks only collect their unused siblings,
/// after them; with a stale one the fallbacks keep the event path together, siblings and all.
fn link_order_script(list: &str) -> String {
    // Only what a mangled name or a C function name may contain: nothing else reaches the script.
    let names: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_$.".contains(c)))
        .collect();
    let mut script = String::from("SECTIONS {\n  .text.hot : {\n");
    for name in &names {
        // LLVM puts a cold function (`#[cold]`, e.g. `RawVec::grow_one`) in `.text.unlikely.<name>`.
        script.push_str(&format!("    *(.text.{name} .text.unlikely.{name})\n"));
    }
    let mut seen = std::collections::HashSet::new();
    for name in &names {
        if let Some(path) = legacy_path(name)
            && seen.insert(path)
        {
            script.push_str(&format!("    *(.text.{path}17h* .text.unlikely.{path}17h*)\n"));
        }
    }
    script.push_str("  }\n}\nINSERT BEFORE .text;\n");
    script
}

/// A legacy-mangled name without its hash: `_ZN…17h0123456789abcdefE` → `_ZN…` (`None` for any other name).
fn legacy_path(name: &str) -> Option<&str> {
    let path = name.strip_suffix('E')?;
    let (path, hash) = path.split_at_checked(path.len().checked_sub(19)?)?;
    (name.starts_with("_ZN") && hash.starts_with("17h") && hash[3..].bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(path)
}

/// Whether rustc links this build with its own lld: the default for `x86_64-unknown-linux-gnu` since Rust 1.90, unless
/// a linker or linker flavour is chosen (by environment or flags), when the linker script might not be understood.
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
