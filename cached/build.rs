//! Exports the recursion-guard symbol from the daemon binary so that the NSS module,
//! if glibc ever loads it inside the daemon, can find it with `dlsym` and stay out.
fn main() {
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol=workbench_cached_recursion_guard"
    );
}
