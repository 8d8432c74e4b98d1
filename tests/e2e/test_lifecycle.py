"""The daemon's life cycle (design.md §4, §6): restarts with the server down, `kill -9`
during a sync, a corrupt cache file, a sync that would empty the cache, SIGHUP and
SIGTERM. Everything is observed through glibc (getent, nss-probe), the fixture's
counters and `status --json`.

Each test gets its own fixture server and daemon (and so its own cache file): they stop
the server, kill the daemon or remove every user."""

import functools
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import ALICE_LINE, SAMPLE, SAMPLE_USERS, show
from workbench_testkit import polling
from workbench_testkit.sandbox import BASE_ENV, PAM_SERVICE

pytestmark = pytest.mark.usefixtures("module_answers")

SAMPLE_GROUPS = ["devs", "data_science", "alice", "carol", "dave", "erin"]
POLL_S = 0.05
wait_for = functools.partial(polling.wait_for, timeout=10.0, interval=POLL_S)


@pytest.fixture
def daemon(fresh):
    return fresh


def snapshot(getent):
    """Every sample user and group as glibc shows it through the module."""
    out = {}
    for name in sorted(SAMPLE_USERS):
        p = getent("passwd", name)
        assert p.returncode == 0, show(p)
        out[("passwd", name)] = p.stdout
    for name in SAMPLE_GROUPS:
        p = getent("group", name)
        assert p.returncode == 0, show(p)
        out[("group", name)] = p.stdout
    return out


def assert_snapshot(getent, expected):
    for (db, name), line in expected.items():
        p = getent(db, name)
        assert p.returncode == 0 and p.stdout == line, f"{db} {name}: " + show(p)


def expect_tryagain(probe, name):
    """A name the cache does not know, with the server down: EAGAIN, never NOTFOUND."""
    p, data = probe("lookup", "passwd", name, "--expect", "EAGAIN")
    assert p.returncode == 0, show(p)
    assert data["status"] != "notfound", data


def test_restart_with_server_down_serves_everything_cached(fresh, getent, probe, run):
    before = snapshot(getent)
    id_before = run(["id", "alice"]).stdout
    assert "devs" in id_before and "data_science" in id_before, id_before

    fresh.server.stop()
    assert fresh.stop() == 0
    fresh.start()  # returns once READY=1 arrived, although the server is down

    # With a usable cache the daemon no longer syncs at start (design.md §8: a fleet
    # rebooted together would ask the server all at once); it serves the cache and syncs
    # after a delay spread over sync-interval. Asking for a sync shows the daemon's own
    # view of the server, which this test is about.
    p = run([fresh.binary, "sync"])
    assert p.returncode != 0, show(p)
    st = fresh.status()
    assert st["server"]["reachable"] is False, st
    assert st["cached"]["users"] == len(SAMPLE_USERS), st
    assert_snapshot(getent, before)
    assert run(["id", "alice"]).stdout == id_before
    expect_tryagain(probe, "nosuchuser")
    p, data = probe("lookup", "group", "nosuchgroup", "--expect", "EAGAIN")
    assert p.returncode == 0, show(p)
    # Password checks too, also as the user: pam_unix then runs the setgid unix_chkpwd,
    # which the daemon lets read the cached hash as a member of the shadow group, known
    # from /etc/group without a sync.
    for as_user in (None, (1001, 1001)):
        p = run(["pamtester", PAM_SERVICE, "alice", "authenticate"],
                input="alice-password\n", user=as_user)
        assert p.returncode == 0, show(p)


def test_kill_9_during_sync_loses_nothing_committed(fresh, getent, probe, run):
    control = fresh.server.control
    # Something the first copy did not have, committed by a successful sync.
    control.add_user({"id": "u-frank", "userName": "frank@example.com",
                      "posixUserId": 1010, "displayName": "Frank Fine"})
    p = run([fresh.binary, "sync"])
    assert p.returncode == 0 and "frank" in p.stdout, show(p)
    before = snapshot(getent)
    frank = getent("passwd", "frank")
    assert frank.stdout.startswith("frank:x:1010:1010:Frank Fine:"), show(frank)

    # A sync that will change things, held up on the server: kill -9 while it is in flight.
    control.remove_user("u-bob")
    control.set_fault("latency", seconds=30, endpoint="Users")
    control.reset_counters()
    cli = subprocess.Popen([fresh.binary, "sync"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=dict(BASE_ENV))
    try:
        wait_for("the sync's Users request in flight on the server",
                 lambda: control.counters()["in_flight"] >= 1)
        pid = fresh.pid
        os.kill(pid, signal.SIGKILL)
        fresh.proc.wait(timeout=10)
        fresh.proc = None
        cli.communicate(timeout=10)
        assert cli.returncode != 0, "sync reported success from a killed daemon"
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    control.clear_fault()
    fresh.server.stop()

    fresh.start()
    st = fresh.status()
    assert st["cached"]["users"] == len(SAMPLE_USERS) + 1, st
    assert_snapshot(getent, before)
    assert getent("passwd", "frank").stdout == frank.stdout
    expect_tryagain(probe, "nosuchuser")


def test_corrupt_cache_is_moved_aside_and_rebuilt(fresh, getent):
    cache = fresh.workdir / "cache.db"
    assert cache.exists()
    assert fresh.stop() == 0
    garbage = (b"this is not an SQLite database\n" * 64 + bytes(range(256)) * 64)
    cache.write_bytes(garbage)
    for side in ("cache.db-wal", "cache.db-shm"):
        (fresh.workdir / side).unlink(missing_ok=True)

    fresh.start()
    moved = sorted(fresh.workdir.glob("cache.db.corrupt-*"))
    assert [m for m in moved if m.read_bytes() == garbage], \
        f"garbage not moved aside: {sorted(p.name for p in fresh.workdir.iterdir())}"
    log = fresh.log_path.read_text(errors="replace")
    lines = [l for l in log.splitlines() if "unreadable" in l and "corrupt-" in l]
    assert lines, "no log line about the corrupt cache"
    print(lines[-1])
    # Rebuilt from the server, and written: it serves after a restart without it.
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
    assert fresh.status()["cached"]["users"] == len(SAMPLE_USERS)
    before = snapshot(getent)
    fresh.server.stop()
    assert fresh.stop() == 0
    fresh.start()
    assert_snapshot(getent, before)
    log = fresh.log_path.read_text(errors="replace")
    assert len([l for l in log.splitlines() if "unreadable" in l]) == len(lines), \
        "the rebuilt cache was found unreadable again"


def test_sync_that_would_empty_the_cache_needs_confirmation(fresh, getent, run):
    control = fresh.server.control
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for u in data["users"]:
        control.remove_user(u["id"])
    for g in data["groups"]:
        control.remove_group(g["id"])

    first = run([fresh.binary, "sync"])
    t_first = time.monotonic()
    assert first.returncode != 0, show(first)
    assert "no users" in first.stderr, show(first)
    st = fresh.status()
    # The automatic retry after a failed sync comes no sooner than 4 s (backoff 5 s
    # minus 20% jitter): these checks run well inside that.
    assert st["empty_sync_pending"] is True, st
    assert st["cached"]["users"] == len(SAMPLE_USERS), st
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
    assert getent("group", "devs").stdout == "devs:x:2001:alice,bob\n"
    listed = getent("passwd").stdout
    assert "\nbob:" in "\n" + listed, listed
    assert time.monotonic() - t_first < 4.0, "checks too slow to be before the retry"

    second = run([fresh.binary, "sync"])
    assert second.returncode == 0, show(second)
    st = fresh.status()
    assert st["empty_sync_pending"] is False, st
    assert st["cached"]["users"] == 0 and st["cached"]["groups"] == 0, st
    listed = getent("passwd").stdout
    assert not any(l.split(":")[0] in SAMPLE_USERS for l in listed.splitlines()), listed
    # Now the server has said there is no alice: NOTFOUND (the server answered).
    p = getent("passwd", "alice")
    assert p.returncode == 2 and p.stdout == "", show(p)


def directory_users_listed(getent):
    names = {l.split(":")[0] for l in getent("passwd").stdout.splitlines()}
    return names & SAMPLE_USERS


def test_sighup_reloads_configuration(fresh, getent):
    assert directory_users_listed(getent) == SAMPLE_USERS
    fresh.settings["enumerate"] = "0"
    fresh.write_config()
    fresh.proc.send_signal(signal.SIGHUP)
    wait_for("getent passwd to stop listing directory users after SIGHUP",
             lambda: not directory_users_listed(getent))
    # Keyed lookups are unaffected by enumerate=0.
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
    fresh.settings["enumerate"] = "1"
    fresh.write_config()
    fresh.proc.send_signal(signal.SIGHUP)
    wait_for("directory users listed again after the second SIGHUP",
             lambda: directory_users_listed(getent) == SAMPLE_USERS)
    assert fresh.running()


def test_sighup_reloads_token_paths(fresh, getent, run):
    """The user token moves to another file (the server accepts only the new token):
    only a configuration reload can make the daemon read it."""
    server = fresh.server
    new_token = "wbu-rotated-" + os.urandom(12).hex()
    new_path = fresh.workdir / "user-token.rotated"
    from workbench_testkit.sandbox import write_secret
    write_secret(new_path, new_token)
    old_token = server.user_token_path.read_text()
    # The daemon reads its token from its own copy, so the server's file can change
    # without the daemon's (watched) file changing.
    own = write_secret(fresh.workdir / "user-token.own", old_token.strip())
    fresh.settings["user-token-path"] = str(own)
    fresh.write_config()
    fresh.proc.send_signal(signal.SIGHUP)
    wait_for("sync with the daemon's own token file",
             lambda: run([fresh.binary, "sync"]).returncode == 0)

    write_secret(server.user_token_path, new_token)
    try:
        p = run([fresh.binary, "sync"])
        assert p.returncode != 0, show(p)
        wait_for("user token rejected", lambda: fresh.status()["tokens"]["user"] == "rejected")
        assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"  # cache kept

        fresh.settings["user-token-path"] = str(new_path)
        fresh.write_config()
        fresh.proc.send_signal(signal.SIGHUP)
        wait_for("user token ok after SIGHUP",
                 lambda: fresh.status()["tokens"]["user"] == "ok"
                 and fresh.status()["server"]["last_error"] is None)
        p = run([fresh.binary, "sync"])
        assert p.returncode == 0, show(p)
    finally:
        write_secret(server.user_token_path, old_token.strip())


def test_sigterm_finishes_in_flight_lookup(fresh, sandbox):
    control = fresh.server.control
    # Added after the daemon's copy: a lookup is a miss that asks the server.
    control.add_user({"id": "u-late", "userName": "late@example.com",
                      "posixUserName": "late", "posixUserId": 1020, "displayName": "Late Comer"})
    control.set_fault("latency", seconds=1.0, endpoint="Users", count=1)
    control.reset_counters()
    lookup = subprocess.Popen([str(sandbox.bin["probe"]), "lookup", "passwd", "late"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(BASE_ENV))
    try:
        wait_for("the lookup's filtered request in flight on the server",
                 lambda: control.counters()["in_flight"] >= 1, timeout=5)
        fresh.proc.send_signal(signal.SIGTERM)
        out, err = lookup.communicate(timeout=20)
    finally:
        if lookup.poll() is None:
            lookup.kill()
            lookup.wait()
    data = json.loads(out)
    assert lookup.returncode == 0 and data["status"] == "found", (out, err)
    assert data["entry"]["name"] == "late" and data["entry"]["uid"] == 1020, data
    code = fresh.proc.wait(timeout=20)
    assert code == 0, f"daemon exited {code} after SIGTERM"
    assert any("late" in (e.get("filter") or "") for e in control.counters()["log"])


def test_before_the_first_complete_copy_a_name_filters_cannot_find_is_tryagain(
        services, probe, getent):
    """alice has no posixUserName: her name comes from userName alice@example.com, which
    neither `eq` filter the daemon can send finds (a server that knows only `eq`, so
    not `userName sw "alice@"`). On a new node whose first sync cannot
    finish (here the server's Groups listing hangs), "none" from the filters must not
    become "no such user": EAGAIN, and her uid (filterable) is found. Once a copy is
    complete, the name resolves."""
    server = services.start_server(SAMPLE, "scim-lifecycle-eq-only", eq_only=True)
    try:
        server.control.set_fault("hang", endpoint="Groups", then="close")
        services.stop()
        daemon = services.ensure(server, request_timeout=1)
        assert daemon.status()["server"]["last_sync"] is None, daemon.status()
        p, data = probe("lookup", "passwd", "alice", "--expect", "EAGAIN")
        assert p.returncode == 0 and data["status"] != "notfound", show(p)
        p = getent("passwd", "1001")
        assert p.returncode == 0 and p.stdout.strip() == ALICE_LINE, show(p)

        server.control.clear_fault()
        daemon.cli("sync")
        wait_for("a complete copy", lambda: daemon.status()["server"]["last_sync"])
        p = getent("passwd", "alice")
        assert p.returncode == 0 and p.stdout.strip() == ALICE_LINE, show(p)
    finally:
        services.stop()
        server.stop()
