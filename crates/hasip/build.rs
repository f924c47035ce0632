//! Link the `hasip` binary with packed relative relocations (DT_RELR) on Linux/glibc: the
//! position-independent binary's 300 KiB table of relative relocations shrinks to a few
//! KiB, which the dynamic loader would otherwise read at every start (idle RSS,
//! BENCHMARKS.md). GNU ld 2.38+ and glibc 2.36+ use it; an older ld ignores the option with
//! a warning, and ld only emits DT_RELR when the C library supports it.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
