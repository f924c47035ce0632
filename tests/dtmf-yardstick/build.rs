//! Links Debian's libspandsp (package libspandsp-dev, which `./build.sh test` installs).
fn main() {
    println!("cargo:rustc-link-lib=spandsp");
    println!("cargo:rerun-if-changed=build.rs");
}
