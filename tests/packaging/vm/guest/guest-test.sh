#!/bin/sh
# The in-guest half of tests/vm/test_vm_install.py: runs as root on a freshly booted
# Debian node (real kernel with AppArmor, systemd as PID 1), from wb-vmtest.service.
# Every check appends "ok ID" or "not ok ID: what was seen" to $W/results; the host test
# asserts on them by ID. Two boots: phase 1 installs, configures, breaks and repairs,
# then reboots; phase 2 checks the service came up at boot on its own, then purges.
#
# The host shares this directory over 9p: this script, params (SCIM_URL, DEB, ...), the
# .deb and the two token files.
set -u
W=/mnt/wb
OUT=$W/results
STATE=/var/lib/wb-vmtest
UNIT=workbench-cached.service
SOCKET_UNIT=workbench-cached.socket
SOCK=/run/workbench-nss/socket
CONF=/etc/rstudio/workbench-nss.conf
# shellcheck source=/dev/null
. "$W/params"
mkdir -p "$STATE"
phase=$(cat "$STATE/phase" 2>/dev/null || echo 1)

say() { printf 'WBTEST %s\n' "$*"; }
ok() { echo "ok $1" >>"$OUT"; say "ok $1"; }
# not ok ID DETAIL: detail flattened to one line (the host shows it on failure).
notok() {
    id=$1; shift
    detail=$(printf '%s' "$*" | tr '\n' '|' | cut -c1-2000)
    echo "not ok $id: $detail" >>"$OUT"
    say "not ok $id: $detail"
}
# check ID CMD...: ok when CMD exits 0; otherwise its output is the detail.
check() {
    id=$1; shift
    if out=$("$@" 2>&1); then ok "$id"; else notok "$id" "exit $?: $out"; fi
}
# expect_eq ID EXPECTED ACTUAL
expect_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1" "expected [$2], got [$3]"; fi
}
info() { echo "info $1 $2" >>"$OUT"; say "info $1 $2"; }
# skip ID REASON: the check cannot mean anything on this node (the host test skips it).
skip() { echo "skip $1: $2" >>"$OUT"; say "skip $1: $2"; }
now_ms() { date +%s%3N; }
prop() { systemctl show -p "$2" --value "$1"; }
unit_state() { systemctl is-active "$UNIT" 2>/dev/null; }
# wait_for SECONDS CMD...: polls CMD every 0.2 s; the deadline is a bound, not a sleep.
wait_for() {
    limit=$(( $(now_ms) + $1 * 1000 )); shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -lt "$limit" ] || return 1
        sleep 0.2
    done
}
# getent_fails_fast ID NAME: the lookup gives "not found" (exit 2) within 2 s: the module
# answered UNAVAIL or NOTFOUND and glibc went on, nothing hung.
getent_fails_fast() {
    t0=$(now_ms); out=$(getent passwd "$2" 2>&1); rc=$?; took=$(( $(now_ms) - t0 ))
    if [ "$rc" -eq 2 ] && [ "$took" -lt 2000 ]; then ok "$1"; else notok "$1" "exit $rc after ${took} ms: $out"; fi
}
journal_has() { journalctl -u "$UNIT" -o cat --no-pager 2>&1 | grep -F -q -- "$1"; }
# socket_closed ID: workbench-cached.socket went down with the service (BindsTo=) and
# took its file with it, so lookups get ENOENT at once rather than queueing on a socket
# nobody serves.
socket_closed() {
    st=$(systemctl is-active "$SOCKET_UNIT" 2>&1)
    if [ "$st" != active ] && [ ! -e "$SOCK" ]; then ok "$1"
    else notok "$1" "socket unit $st; $(ls -l "$SOCK" 2>&1)"; fi
}
# The listening socket is shared by systemd (PID 1, which bound it in the host's mount
# namespace) and the daemon it was passed to.
socket_held_by_systemd() {
    ss -xlp | grep -F "$SOCK" | grep -q 'pid=1,'
}
pam_as_alice() {
    printf '%s\n' "$1" | setpriv --reuid=1001 --regid=1001 --clear-groups pamtester wbtest alice authenticate
}
reload_chkpwd_profile() { apparmor_parser -r -T -W /etc/apparmor.d/unix-chkpwd; }

# config_refused PREFIX TEXT...: after a refused start the unit is `failed` rather than
# waiting to restart (auto-restart would show as `activating`), was not restarted, the
# journal holds every TEXT, root still resolves and an unknown name fails fast.
config_refused() {
    p=$1; shift
    expect_eq "${p}_failed" failed "$(unit_state)"
    expect_eq "${p}_no_restart_loop" 0 "$(prop "$UNIT" NRestarts)"
    missing=
    for text in "$@"; do journal_has "$text" || missing="$missing [$text]"; done
    if [ -z "$missing" ]; then ok "${p}_journal"
    else notok "${p}_journal" "no$missing in: $(journalctl -u "$UNIT" -o cat --no-pager | tail -5)"; fi
    socket_closed "${p}_socket_closed"
    check "${p}_root_resolves" getent passwd root
    getent_fails_fast "${p}_fallthrough" alice
}

network_up() {
    # No DHCP client in the image: qemu's user network has fixed addresses.
    ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
}

write_config() {
    mkdir -p /etc/rstudio
    # The fixture server is on the host, reached through qemu's NAT: not loopback, so
    # plain http needs allow-insecure-http (a real node would use https or unix:).
    printf 'server-address=%s\nallow-insecure-http=1\n%s' "$SCIM_URL" "${1:-}" >"$CONF"
    install -m 0600 "$W/user-token" /etc/rstudio/nss-user-token
    install -m 0600 "$W/admin-token" /etc/rstudio/nss-admin-token
}

# unprivileged_checks PREFIX: the running daemon is not root, owns its cache, got the
# tokens as credentials, and serves passwd, group, shadow to root and unix_chkpwd.
unprivileged_checks() {
    p=$1
    pid=$(prop "$UNIT" MainPID)
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>&1)
    if [ -n "$uid" ] && [ "$uid" != 0 ]; then ok "${p}daemon_not_root"; else notok "${p}daemon_not_root" "uid [$uid]"; fi
    expect_eq "${p}daemon_user" "_workbench-nss" "$(stat -c %U "/proc/$pid" 2>&1)"
    expect_eq "${p}cache_owner" "_workbench-nss:600" "$(stat -c %U:%a /var/cache/workbench-nss/cache.db 2>&1)"
    expect_eq "${p}socket_dir_root" "root:755" "$(stat -c %U:%a /run/workbench-nss 2>&1)"
    if journal_has "user token read from credential" && journal_has "admin token read from credential"; then
        ok "${p}tokens_from_credentials"
    else notok "${p}tokens_from_credentials" "$(journalctl -u "$UNIT" -o cat --no-pager | grep -i token | tail -5)"; fi
    if getent group devs >/dev/null; then ok "${p}getent_group"; else notok "${p}getent_group" "$(getent group devs 2>&1)"; fi
    # Shadow to root (the admin token reached the server): a hash, never printed here.
    case $(getent shadow alice | cut -d: -f2) in '$'*) ok "${p}shadow_to_root" ;; *) notok "${p}shadow_to_root" "no hash for alice" ;; esac
    printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >/etc/pam.d/wbtest
    check "${p}pam_root" sh -c "printf '%s\n' \"\$1\" | pamtester wbtest alice authenticate" sh "$ALICE_PASSWORD"
    check "${p}pam_unix_chkpwd" pam_as_alice "$ALICE_PASSWORD"
}

status_user_token() {
    workbench-cached status --json | tr -d ' \n' | sed -n 's/.*"tokens":{[^}]*"user":"\([a-z-]*\)".*/\1/p'
}

# A token file replaced (renamed over, as README says) restarts the daemon through
# workbench-cached-tokens.path, and the new contents are what it uses.
rotation_checks() {
    expect_eq rotation_path_active active "$(systemctl is-active workbench-cached-tokens.path 2>&1)"
    pid=$(prop "$UNIT" MainPID)
    logged_before=$(journalctl -u "$UNIT" -o cat --no-pager | grep -c 'by workbench-cached reload')
    printf 'not-the-right-token\n' >/etc/rstudio/nss-user-token.new
    chmod 600 /etc/rstudio/nss-user-token.new
    mv -f /etc/rstudio/nss-user-token.new /etc/rstudio/nss-user-token
    # The .path unit reloads: the daemon logs the pushed token, and keeps its PID.
    reloaded() { [ "$(journalctl -u "$UNIT" -o cat --no-pager | grep -c 'by workbench-cached reload')" -gt "$logged_before" ]; }
    check rotation_reloads wait_for 30 reloaded
    expect_eq rotation_same_pid "$pid" "$(prop "$UNIT" MainPID)"
    workbench-cached sync >/dev/null 2>&1
    expect_eq rotation_bad_token_used rejected "$(status_user_token)"
    # Lookups went on from the cache meanwhile.
    expect_eq rotation_cache_serves "$ALICE_LINE" "$(getent passwd alice)"
    logged_before=$(journalctl -u "$UNIT" -o cat --no-pager | grep -c 'by workbench-cached reload')
    install -m 0600 "$W/user-token" /etc/rstudio/nss-user-token.new
    mv -f /etc/rstudio/nss-user-token.new /etc/rstudio/nss-user-token
    check rotation_reloads_again wait_for 30 reloaded
    check rotation_sync workbench-cached sync
    expect_eq rotation_good_token_ok ok "$(status_user_token)"
    expect_eq rotation_same_pid_again "$pid" "$(prop "$UNIT" MainPID)"
    check rotation_systemctl_reload systemctl reload "$UNIT"
    expect_eq rotation_same_pid_after_reload "$pid" "$(prop "$UNIT" MainPID)"
}

phase1() {
    check network network_up
    cp /etc/nsswitch.conf "$STATE/nsswitch.conf.orig"

    # --- install with systemd running and no configuration yet -------------------
    out=$(dpkg -i "$W/$DEB" 2>&1); rc=$?
    if [ "$rc" -eq 0 ]; then ok install; else notok install "exit $rc: $out"; fi
    case $out in
        *"journalctl -u workbench-cached"*) ok install_says_why ;;
        *) notok install_says_why "dpkg -i output has no pointer to the journal: $out" ;;
    esac
    expect_eq enabled enabled "$(systemctl is-enabled "$UNIT" 2>&1)"
    if grep -q '^passwd:.*files workbench' /etc/nsswitch.conf; then ok nsswitch_edited
    else notok nsswitch_edited "$(cat /etc/nsswitch.conf)"; fi
    # No configuration: the daemon refuses to start with a clear message, systemd does
    # not keep restarting it (a missing file does not fix itself), lookups go on.
    config_refused no_config "configuration error" "$CONF"

    # --- configured: start, resolve, hardening in effect --------------------------
    write_config
    check start systemctl restart "$UNIT"
    expect_eq active active "$(unit_state)"
    expect_eq socket_active active "$(systemctl is-active "$SOCKET_UNIT" 2>&1)"
    if journal_has "(socket passed by systemd)"; then ok socket_passed
    else notok socket_passed "$(journalctl -u "$UNIT" -o cat --no-pager | tail -5)"; fi
    check socket_held_by_systemd socket_held_by_systemd
    expect_eq getent_alice "$ALICE_LINE" "$(getent passwd alice)"
    expect_eq getent_s_workbench "$ALICE_LINE" "$(getent -s workbench passwd alice)"
    expect_eq id_alice 1001 "$(id -u alice)"
    check status_cli workbench-cached status
    # The in-process map under the unit's sandbox (memfd, seals, SCM_RIGHTS past the
    # seccomp filter): published, and handed to the getent above.
    fp=$(workbench-cached status --json | grep -o '"fast_path":{[^}]*')
    case $fp in
        *'"enabled":true'*'"images_handed_out":0,'*) notok fast_path_published "$fp" ;;
        *'"enabled":true'*'"images_handed_out":'*) ok fast_path_published ;;
        *) notok fast_path_published "${fp:-no fast_path in status}" ;;
    esac
    # A hardened service (its own user, no new privileges, a read-only system) gets the
    # same answer, through the map or the socket.
    # (A unit file, not systemd-run: the guest has no D-Bus.)
    cat >/run/systemd/system/wb-sandboxed.service <<'UNIT'
[Service]
Type=oneshot
DynamicUser=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes
RestrictAddressFamilies=AF_UNIX
ExecStart=/usr/bin/getent passwd alice
StandardOutput=file:/run/wb-sandboxed.out
UNIT
    systemctl daemon-reload
    if out=$(systemctl start wb-sandboxed.service 2>&1); then
        expect_eq sandboxed_service_getent "$ALICE_LINE" "$(cat /run/wb-sandboxed.out)"
    else
        notok sandboxed_service_getent "$out $(journalctl -u wb-sandboxed -o cat --no-pager | tail -5)"
    fi
    pid=$(prop "$UNIT" MainPID)
    st=$(cat "/proc/$pid/status")
    case $st in *"NoNewPrivs:	1"*) ok no_new_privs ;; *) notok no_new_privs "$st" ;; esac
    case $st in *"CapBnd:	0000000000000000"*) ok empty_capability_bounding_set ;; *) notok empty_capability_bounding_set "$st" ;; esac
    case $st in *"Seccomp:	2"*) ok seccomp_filter ;; *) notok seccomp_filter "$st" ;; esac
    sec=$(systemd-analyze security --no-pager "$UNIT" 2>&1)
    score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    info exposure "${score:-none}"
    if [ -n "$score" ]; then ok security_analyzed; else notok security_analyzed "$sec"; fi
    out=$(systemd-analyze verify "/usr/lib/systemd/system/$UNIT" "/usr/lib/systemd/system/$SOCKET_UNIT" 2>&1)
    case $out in *workbench-cached*) notok unit_verifies "$out" ;; *) ok unit_verifies ;; esac

    # --- issue 10: no root, tokens as credentials, rotation through the .path unit ---
    unprivileged_checks ""
    # An older version ran as root: a root-owned cache must keep working (systemd
    # chowns the CacheDirectory= at start).
    check root_cache_stop systemctl stop "$UNIT"
    chown -R root:root /var/cache/workbench-nss
    check root_cache_start systemctl start "$UNIT"
    expect_eq root_cache_chowned "_workbench-nss:600" "$(stat -c %U:%a /var/cache/workbench-nss/cache.db 2>&1)"
    expect_eq root_cache_resolves "$ALICE_LINE" "$(getent passwd alice)"
    rotation_checks

    # --- AppArmor: unix_chkpwd confined as Ubuntu ships it ------------------------
    expect_eq apparmor_enabled Yes "$(aa-enabled 2>&1)"
    # Debian ships the unix-chkpwd profile in complain mode and pins the parser to an
    # old kernel's feature set; Ubuntu enforces the same profile text, compiled for the
    # running kernel. Do as Ubuntu does.
    sed -i 's/ flags=(complain)//' /etc/apparmor.d/unix-chkpwd
    sed -i 's/^policy-features=/#&/' /etc/apparmor/parser.conf
    check chkpwd_profile_loads reload_chkpwd_profile
    if grep -q '^unix-chkpwd (enforce)' /sys/kernel/security/apparmor/profiles; then ok chkpwd_enforced
    else notok chkpwd_enforced "$(grep unix-chkpwd /sys/kernel/security/apparmor/profiles)"; fi
    printf 'auth required pam_unix.so\naccount required pam_unix.so\n' >/etc/pam.d/wbtest
    # pam_unix as a non-root user cannot read shadow itself: it runs the setgid
    # unix_chkpwd helper, which asks the daemon for alice's hash as the shadow group.
    check pam_confined_helper pam_as_alice "$ALICE_PASSWORD"
    if pam_as_alice "not-$ALICE_PASSWORD" >/dev/null 2>&1; then notok pam_wrong_password "accepted"
    else ok pam_wrong_password; fi

    # Does AppArmor check a connect() to the socket here at all? A canary: getent under
    # a profile of the same ABI with no rule for the socket. Where it still gets through
    # (Debian: its parser's ABI 4.0 does not cover upstream's af_unix mediation), the
    # rule cannot matter and the checks that it does are reported as skipped.
    cp /usr/bin/getent /usr/local/bin/wb-canary
    printf 'abi <abi/4.0>,\ninclude <tunables/global>\nprofile wb-canary /usr/local/bin/wb-canary {\n  include <abstractions/base>\n  /etc/** r,\n  /usr/local/bin/wb-canary mr,\n}\n' \
        >/etc/apparmor.d/wb-canary
    apparmor_parser -r -T -W /etc/apparmor.d/wb-canary
    if /usr/local/bin/wb-canary -s workbench passwd alice >/dev/null 2>&1; then
        why="this kernel and parser do not mediate connect() on a Unix socket path (canary got through)"
        for id in pam_denied_without_rule apparmor_denial_logged pam_with_rule_again; do skip "$id" "$why"; done
        info apparmor_unix_mediation no
    else
        info apparmor_unix_mediation yes
        # The rule is what makes it work: without it the helper is denied the socket.
        mv /etc/apparmor.d/abstractions/nameservice.d/workbench-nss "$STATE/workbench-nss.rule"
        reload_chkpwd_profile
        dmesg -C
        if pam_as_alice "$ALICE_PASSWORD" >/dev/null 2>&1; then notok pam_denied_without_rule "accepted without the rule"
        else ok pam_denied_without_rule; fi
        denial=$(dmesg | grep 'apparmor="DENIED"' | grep 'profile="unix-chkpwd"' | grep 'workbench-nss/socket')
        if [ -n "$denial" ]; then ok apparmor_denial_logged; else notok apparmor_denial_logged "$(dmesg | tail -5)"; fi
        mv "$STATE/workbench-nss.rule" /etc/apparmor.d/abstractions/nameservice.d/workbench-nss
        reload_chkpwd_profile
        check pam_with_rule_again pam_as_alice "$ALICE_PASSWORD"
    fi

    # --- a bad value: clear failure, no restart loop, lookups fall through ---------
    write_config 'request-timeout=soon
'
    if systemctl restart "$UNIT" >/dev/null 2>&1; then notok bad_config_refused "restart succeeded"
    else ok bad_config_refused; fi
    config_refused bad_config "request-timeout" "$CONF:3"
    write_config
    check fixed_config_restarts systemctl restart "$UNIT"
    expect_eq fixed_config_resolves "$ALICE_LINE" "$(getent passwd alice)"

    # --- a crash is restarted (Restart=on-failure) ----------------------------------
    pid=$(prop "$UNIT" MainPID)
    # SIGABRT, as a panic=abort or a failed assertion would end it. (Not SIGSEGV: the
    # Rust runtime handles it, and one sent with kill(2) is ignored.)
    kill -ABRT "$pid"
    gone() { ! kill -0 "$pid"; }
    wait_for 10 gone
    # While the daemon is down nothing may hang: systemd sees the service fail (then
    # schedule its restart) and closes the socket with it (BindsTo=), so a lookup now
    # falls through at once, or, if the restart already came, is answered. Never a
    # connection queued on a socket nobody serves until the module's 3 s deadline.
    t0=$(now_ms); line=$(getent passwd alice); rc=$?; took=$(( $(now_ms) - t0 ))
    if [ "$took" -lt 2000 ] && { [ "$line" = "$ALICE_LINE" ] || [ "$rc" -eq 2 ]; }; then ok crash_lookup_no_hang
    else notok crash_lookup_no_hang "exit $rc after ${took} ms: [$line]"; fi
    info crash_lookup "exit $rc after ${took} ms"
    new_pid() { p=$(prop "$UNIT" MainPID); [ "$p" != 0 ] && [ "$p" != "$pid" ] && [ "$(unit_state)" = active ]; }
    check restarted_after_crash wait_for 30 new_pid
    expect_eq restarted_resolves "$ALICE_LINE" "$(getent passwd alice)"
    check restarted_socket_held_by_systemd socket_held_by_systemd
    # reload = SIGHUP: same process, still serving.
    pid=$(prop "$UNIT" MainPID)
    check reload systemctl reload "$UNIT"
    expect_eq reload_same_pid "$pid" "$(prop "$UNIT" MainPID)"

    # --- stop means stopped: the socket goes too, lookups fall through --------------
    check stop systemctl stop "$UNIT"
    socket_closed stop_socket_closed
    getent_fails_fast stop_fallthrough alice
    # ...and no lookup brings it back (this is not on-demand activation).
    expect_eq stop_stays_stopped inactive "$(unit_state)"
    check start_again systemctl start "$UNIT"
    expect_eq start_again_resolves "$ALICE_LINE" "$(getent passwd alice)"

    # --- upgrade path: dpkg -i over itself runs postinst with the old version, which
    # restarts the service; the socket must come back bound by systemd, one `workbench`.
    pid=$(prop "$UNIT" MainPID)
    check reinstall dpkg -i "$W/$DEB"
    if [ "$(prop "$UNIT" MainPID)" != "$pid" ]; then ok reinstall_restarted
    else notok reinstall_restarted "MainPID still $pid"; fi
    expect_eq reinstall_resolves "$ALICE_LINE" "$(getent passwd alice)"
    check reinstall_socket_held_by_systemd socket_held_by_systemd
    expect_eq reinstall_one_workbench 1 "$(grep '^passwd:' /etc/nsswitch.conf | grep -o workbench | wc -l)"

    journalctl -o short-monotonic --no-pager >"$W/journal-phase1.txt" 2>&1
    echo 2 >"$STATE/phase"
    say "phase 1 done: rebooting"
    systemctl --no-block reboot
}

phase2() {
    check network_up_again network_up
    # Came up on its own at boot, and was ready before nss-user-lookup.target.
    expect_eq boot_active active "$(unit_state)"
    daemon_at=$(prop "$UNIT" ActiveEnterTimestampMonotonic)
    target_at=$(prop nss-user-lookup.target ActiveEnterTimestampMonotonic)
    if [ "${daemon_at:-0}" -gt 0 ] && [ "${target_at:-0}" -ge "$daemon_at" ]; then ok boot_before_nss_user_lookup
    else notok boot_before_nss_user_lookup "daemon ready at $daemon_at, target reached at $target_at"; fi
    expect_eq boot_getent_alice "$ALICE_LINE" "$(getent passwd alice)"
    check boot_socket_held_by_systemd socket_held_by_systemd
    check boot_pam_confined_helper pam_as_alice "$ALICE_PASSWORD"
    unprivileged_checks boot_

    # Nothing logged on either boot (daemon, PAM, unix_chkpwd, dpkg) holds a token or a
    # password hash.
    journalctl -o short-monotonic --no-pager >"$W/journal-phase2.txt" 2>&1
    leaks=$(grep -n -F -e "$(cat "$W/user-token")" -e "$(cat "$W/admin-token")" -e '$6$' -e '$y$' \
        "$W/journal-phase1.txt" "$W/journal-phase2.txt")
    if [ -z "$leaks" ]; then ok no_secrets_in_journal; else notok no_secrets_in_journal "$leaks"; fi

    check purge dpkg --purge libnss-workbench
    # -f: a process name is cut to 15 characters, so `pgrep -x workbench-cached` would
    # never match anything.
    if pgrep -f '^/usr/sbin/workbench-cached' >/dev/null; then
        notok purge_stopped "$(pgrep -a -f '^/usr/sbin/workbench-cached')"
    else ok purge_stopped; fi
    if cmp -s /etc/nsswitch.conf "$STATE/nsswitch.conf.orig"; then ok purge_nsswitch_restored
    else notok purge_nsswitch_restored "$(diff "$STATE/nsswitch.conf.orig" /etc/nsswitch.conf)"; fi
    expect_eq purge_unit_gone "" "$(systemctl list-unit-files --no-legend "$UNIT" "$SOCKET_UNIT" 2>&1)"
    if [ -e /run/workbench-nss ]; then notok purge_run_dir_gone "$(ls -la /run/workbench-nss 2>&1)"
    else ok purge_run_dir_gone; fi
    getent_fails_fast purge_fallthrough alice
    echo done >>"$OUT"
    say "phase 2 done: powering off"
    systemctl --no-block poweroff
}

case $phase in
    1) phase1 ;;
    2) phase2 ;;
    *) say "unknown phase $phase"; systemctl --no-block poweroff ;;
esac
