# shellcheck shell=bash
# Shared by scripts/package-deb, scripts/package-rpm and scripts/install: the version,
# the release build, and embedding packaging/nsswitch-edit into maintainer scripts.

wb_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1
}

# Release build of the module and the daemon (unless WB_NO_BUILD=1).
wb_release_build() {
    if [ -n "${WB_NO_BUILD:-}" ]; then
        return 0
    fi
    local locked=()
    [ -f Cargo.lock ] && locked=(--locked)
    printf '==> cargo build --release -p nss_workbench -p cached %s\n' "${locked[*]}" >&2
    cargo build --release -p nss_workbench -p cached "${locked[@]}" || return 1
    [ -f target/release/libnss_workbench.so ] && [ -x target/release/workbench-cached ]
}

# Copies TEMPLATE to OUT with the `#WB_NSSWITCH_EDIT#` line replaced by a shell function
# `wb_nsswitch_edit` whose body is packaging/nsswitch-edit (a subshell function, so its
# `set -eu`, traps and exits stay inside it). Embedded, not installed: postrm runs after
# the package's files are gone. A third argument `rpm` doubles every `%` of the embedded
# script (an RPM spec would expand it as a macro), and only those.
wb_embed_nsswitch_edit() {
    local template=$1 out=$2 flavour=${3:-}
    awk -v editor=packaging/nsswitch-edit -v flavour="$flavour" '
        $0 == "#WB_NSSWITCH_EDIT#" {
            print "# packaging/nsswitch-edit, embedded by scripts/lib/package.sh."
            print "wb_nsswitch_edit() ("
            while ((getline line < editor) > 0) {
                if (line ~ /^#!/) continue
                if (flavour == "rpm") gsub(/%/, "%%", line)
                print line
            }
            close(editor)
            print ")"
            next
        }
        { print }
    ' "$template" > "$out"
}
