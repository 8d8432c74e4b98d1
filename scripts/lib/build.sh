# shellcheck shell=bash
# Release build of the whole workspace: the module, the daemon and nss-probe.

wb_build() {
    local locked=()
    [ -f Cargo.lock ] && locked=(--locked)
    printf '==> cargo build --release --workspace %s\n' "${locked[*]}" >&2
    cargo build --release --workspace "${locked[@]}"
    local f missing=0
    for f in target/release/libnss_workbench.so target/release/workbench-cached target/release/nss-probe; do
        if [ ! -e "$f" ]; then
            printf 'build did not produce %s\n' "$f" >&2
            missing=1
        fi
    done
    return "$missing"
}
