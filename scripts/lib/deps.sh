# shellcheck shell=bash
# Installs what the end-to-end tests need. Sourced by scripts/test and scripts/demo.
# Idempotent: asks apt only when something is missing, and runs `apt-get update` once
# before the first install.

wb_log() { printf '==> %s\n' "$*" >&2; }

wb_apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        wb_log "missing packages: $* (run as root to install them)"
        return 1
    fi
    if [ -z "${WB_APT_UPDATED:-}" ]; then
        wb_log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        WB_APT_UPDATED=1
    fi
    wb_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wb_deps_ensure() {
    local missing=()
    command -v pamtester >/dev/null 2>&1 || missing+=(pamtester)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # setpriv, unshare, mount: util-linux (mount lives in its own package on Debian).
    command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
    command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
    command -v mount >/dev/null 2>&1 || missing+=(mount)
    command -v getent >/dev/null 2>&1 || missing+=(libc-bin)
    command -v ldconfig >/dev/null 2>&1 || missing+=(libc-bin)
    command -v id >/dev/null 2>&1 || missing+=(coreutils)
    # pam_unix.so and its setgid helper unix_chkpwd.
    dpkg -s libpam-modules >/dev/null 2>&1 || missing+=(libpam-modules)
    [ -x /usr/sbin/unix_chkpwd ] || [ -x /sbin/unix_chkpwd ] || missing+=(libpam-modules-bin)
    # rusqlite (bundled) and the linker need a C toolchain.
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    # tests/e2e/test_socket_activation.py drives the daemon with systemd's own activator;
    # tests/packaging/test_unit.py runs systemd-analyze.
    command -v systemd-socket-activate >/dev/null 2>&1 || missing+=(systemd)
    # tests/packaging runs packaging/nsswitch-edit (the maintainer scripts' editor) under
    # each awk a node may have; they run before wb_packaging_deps_ensure, hence here.
    command -v mawk >/dev/null 2>&1 || missing+=(mawk)
    command -v gawk >/dev/null 2>&1 || missing+=(gawk)
    command -v original-awk >/dev/null 2>&1 || missing+=(original-awk)
    command -v busybox >/dev/null 2>&1 || missing+=(busybox)
    if [ "${#missing[@]}" -gt 0 ]; then
        # shellcheck disable=SC2207
        missing=($(printf '%s\n' "${missing[@]}" | sort -u))
        wb_apt_install "${missing[@]}" || return 1
    fi

    if ! command -v cargo >/dev/null 2>&1; then
        wb_log "cargo not found: install a Rust toolchain >= 1.80 (rustup), then re-run"
        return 1
    fi

    # pytest for whichever python3 is first on PATH. Debian's python3-pytest only
    # helps Debian's own interpreter; anything else (pyenv, venv) gets it from pip.
    if ! python3 -c 'import pytest' >/dev/null 2>&1; then
        if [ "$(readlink -f "$(command -v python3)")" = "$(readlink -f /usr/bin/python3 2>/dev/null)" ]; then
            wb_apt_install python3-pytest || return 1
        else
            wb_log "python3 -m pip install pytest"
            python3 -m pip install --quiet --disable-pip-version-check pytest || return 1
        fi
    fi
}

# What scripts/package-deb, scripts/package-rpm and their checks need: dpkg-dev
# (dpkg-architecture, dpkg-shlibdeps), binutils (strip), lintian, rpm (rpmbuild, and
# rpm --root for the install test), rpmlint; with an argument, also debootstrap for
# the install tests in a clean Debian 12 root.
wb_packaging_deps_ensure() {
    local missing=()
    command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
    command -v strip >/dev/null 2>&1 || missing+=(binutils)
    command -v lintian >/dev/null 2>&1 || missing+=(lintian)
    command -v rpmbuild >/dev/null 2>&1 || missing+=(rpm)
    command -v rpmlint >/dev/null 2>&1 || missing+=(rpmlint)
    if [ -n "${1:-}" ]; then
        command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
        # The VM install test: qemu, an ext4 image made from a folder (mkfs.ext4 -d).
        command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
        command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
    fi
    [ "${#missing[@]}" -eq 0 ] || wb_apt_install "${missing[@]}"
}

# What scripts/fuzz needs beyond the build: a C++ compiler (the libfuzzer-sys crate
# builds libFuzzer from its C++ source).
wb_fuzz_deps_ensure() {
    command -v c++ >/dev/null 2>&1 || wb_apt_install g++
}

# The peers scripts/bench measures beside the module: glibc's nscd and, with an
# argument, SSSD (sssd-common: the monitor, sssd_nss, sssd_be; sssd-proxy: the proxy
# provider the row uses; libnss-sss: the client with the memory-cache reader). Their .deb files are fetched
# with `apt-get download` and unpacked under $WB_PEERS_ROOT (target/bench/peers/root),
# never installed: installing them runs maintainer scripts that start the host's nscd or
# sssd and add `sss` to the host's nsswitch.conf and PAM stack. scripts/lib/bench.py
# lays the unpacked tree over /usr inside its private mount namespace only. The shared
# libraries SSSD links against are ordinary packages and are installed.
# Idempotent: a stamp file records what was unpacked.
WB_PEERS_ROOT=${WB_PEERS_ROOT:-target/bench/peers/root}

wb_peer_unpack() {
    # wb_peer_unpack PACKAGE[=VERSION]...
    local debs
    debs=$(dirname "$WB_PEERS_ROOT")/debs
    mkdir -p "$debs" "$WB_PEERS_ROOT"
    if [ -z "${WB_APT_UPDATED:-}" ]; then
        wb_log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        WB_APT_UPDATED=1
    fi
    wb_log "apt-get download $* (unpacked under $WB_PEERS_ROOT, not installed)"
    # _apt cannot write into a private checkout: download as root, quietly.
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$@" >/dev/null) || return 1
    local p name
    for p in "$@"; do
        name=${p%%=*}
        dpkg-deb -x "$(ls -t "$debs/${name}"_*.deb | head -n 1)" "$WB_PEERS_ROOT" || return 1
    done
}

wb_bench_peers_ensure() {
    local want_sssd=${1:-}
    if [ "$(id -u)" -ne 0 ]; then
        wb_log "scripts/bench needs root"
        return 1
    fi
    # nscd must be the same glibc build as the host's libc6 (its protocol is glibc's own).
    local libc
    libc=$(dpkg-query -W -f '${Version}' libc6)
    if [ ! -x "$WB_PEERS_ROOT/usr/sbin/nscd" ] || [ "$(cat "$WB_PEERS_ROOT/.nscd" 2>/dev/null)" != "$libc" ]; then
        wb_peer_unpack "nscd=$libc" || wb_peer_unpack nscd || return 1
        echo "$libc" >"$WB_PEERS_ROOT/.nscd"
    fi
    [ -n "$want_sssd" ] || return 0
    # sssd-proxy: the proxy provider (libsss_proxy.so) the row uses over libnss_files,
    # on demand; the files provider in sssd-common cannot import 10,000 users in bounded
    # time (scripts/lib/bench_peers.py says why).
    if [ ! -x "$WB_PEERS_ROOT/usr/sbin/sssd" ] || [ ! -e "$WB_PEERS_ROOT/.sssd-proxy" ]; then
        wb_peer_unpack sssd-common sssd-proxy libnss-sss || return 1
        # Merged /usr: the client library goes where the overlay puts /usr/lib.
        mkdir -p "$WB_PEERS_ROOT/usr/lib/x86_64-linux-gnu"
        cp -a "$WB_PEERS_ROOT"/lib/*/libnss_sss.so.2 "$WB_PEERS_ROOT/usr/lib/x86_64-linux-gnu/" 2>/dev/null || true
        touch "$WB_PEERS_ROOT/.sssd-proxy"
    fi
    # The shared libraries sssd-common and sssd-proxy link against (not libnss-sss or
    # libpam-sss: see above).
    local libs=() missing=() l
    # shellcheck disable=SC2207
    libs=($(apt-cache depends sssd-common sssd-proxy 2>/dev/null | awk '/^  Depends: lib/ {print $2}' |
        grep -v -e '^libnss-sss$' -e '^libpam-sss$' | sort -u))
    for l in "${libs[@]}"; do
        dpkg -s "$l" >/dev/null 2>&1 || missing+=("$l")
    done
    [ "${#missing[@]}" -eq 0 ] || wb_apt_install "${missing[@]}"
}
