//! Two link options for the `hasip` binary, both for its idle memory (BENCHMARKS.md):
//!
//! - Packed relative relocations (DT_RELR) on Linux/glibc: the position-independent binary's
//!   300 KiB table of relative relocations shrinks to a few KiB, which the dynamic loader
//!   would otherwise read at every start. GNU ld 2.38+ and glibc 2.36+ use it; an older ld
//!   ignores the option with a warning, and ld only emits DT_RELR when the C library supports
//!   it.
//! - In builds linked by LLD (debug builds too, so that every CI run links with it), the
//!   linker script `link-order.ld` (written by `bench/link_order.sh`) lists the functions
//!   that start-up and an idle gateway run first in `.text`. Spread over 6.7 MiB of code,
//!   the pages the kernel maps around each one touched (64 KiB at a time) kept 2.5 MiB of
//!   it resident; gathered, 1.4 MiB. The names are patterns without Rust's symbol hashes, so
//!   the list survives dependency and compiler changes; a pattern that matches nothing is
//!   skipped, so a stale list only loses some of the saving. Rust 1.90+ links
//!   x86_64-unknown-linux-gnu with its own LLD; other targets, older compilers and builds
//!   that turn LLD off keep the default order (the script was only tried with LLD), as does
//!   `HASIP_NO_LINK_ORDER=1`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link-order.ld");
    println!("cargo:rerun-if-env-changed=HASIP_NO_LINK_ORDER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    if var("HASIP_NO_LINK_ORDER").is_empty() && links_with_lld() {
        let list = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link-order.ld");
        if list.is_file() {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", list.display());
        }
    }
}

/// Whether rustc will link with its self-contained LLD: the default for
/// x86_64-unknown-linux-gnu since Rust 1.90, unless the flags turn it off.
fn links_with_lld() -> bool {
    if std::env::var("TARGET").unwrap_or_default() != "x86_64-unknown-linux-gnu" {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags.contains("linker-features") || flags.contains("link-self-contained") {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
