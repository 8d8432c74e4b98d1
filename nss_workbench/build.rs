//! Gives the cdylib the SONAME glibc's NSS loader asks for (`libnss_<service>.so.2`).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_workbench.so.2");
    println!("cargo:rerun-if-changed=build.rs");
}
