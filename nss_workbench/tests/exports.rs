//! The shared object exports exactly the NSS entry points and carries the SONAME glibc's
//! loader asks for. Reads the cdylib Cargo built next to this test binary.

use std::path::PathBuf;
use std::process::Command;

const EXPECTED: [&str; 15] = [
    "getpwnam_r",
    "getpwuid_r",
    "setpwent",
    "getpwent_r",
    "endpwent",
    "getgrnam_r",
    "getgrgid_r",
    "setgrent",
    "getgrent_r",
    "endgrent",
    "initgroups_dyn",
    "getspnam_r",
    "setspent",
    "getspent_r",
    "endspent",
];

/// The cdylib Cargo built for this test run: `target/<profile>/deps/libnss_workbench.so`
/// beside this binary (`cargo build` also copies it up to `target/<profile>/`).
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps, deps.parent().unwrap()]
        .iter()
        .map(|d| d.join("libnss_workbench.so"))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("libnss_workbench.so not found near {}", deps.display()))
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exports_exactly_the_nss_entry_points() {
    let lib = cdylib();
    let nm = run("nm", &["-D", "--defined-only", lib.to_str().unwrap()]);
    let mut got: Vec<String> = nm
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s).to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = EXPECTED
        .iter()
        .map(|s| format!("_nss_workbench_{s}"))
        .collect();
    want.sort();
    assert_eq!(got, want, "nm -D --defined-only:\n{nm}");
}

#[test]
fn soname_is_libnss_workbench_so_2() {
    let lib = cdylib();
    let dynamic = run("readelf", &["-d", lib.to_str().unwrap()]);
    assert!(
        dynamic.contains("Library soname: [libnss_workbench.so.2]"),
        "{dynamic}"
    );
}
