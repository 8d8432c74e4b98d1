"""Incremental syncs (design.md §8, issue 12 item 3): after a complete copy, `workbench-
cached sync` lists ids (`attributes=id`) and asks only for what changed
(`meta.lastModified gt`); a user changed or added on the server appears, a deleted one
disappears, all through glibc. A server that refuses or ignores those requests, or whose
answer does not add up, gets complete copies instead, remembered until SIGHUP, and
`status` says so. `kill -9` during an incremental sync loses nothing it committed.

The fixture's request log is the proof of which requests a sync made."""

import functools
import json
import os
import signal
import sqlite3
import subprocess

import pytest

from conftest import ALICE_LINE, SAMPLE, SAMPLE_USERS, show
from workbench_testkit import polling
from workbench_testkit.sandbox import BASE_ENV

pytestmark = pytest.mark.usefixtures("module_answers")

wait_for = functools.partial(polling.wait_for, timeout=10.0, interval=0.05)

FRANK = {"id": "u-frank", "userName": "frank@example.com", "posixUserName": "frank",
         "posixUserId": 1106, "displayName": "Frank Fisher"}
FRANK_LINE = "frank:x:1106:1106:Frank Fisher:/home/frank:/bin/bash"

@pytest.fixture
def daemon(fresh):
    return fresh


def list_requests(server):
    """(endpoint, kind) of every list request in the fixture's log, kind being
    `changed` (meta.lastModified filter), `ids` (attributes=id), `full` (neither) or
    `lookup` (another filter)."""
    out = []
    for e in server.control.counters()["log"]:
        path, query = e.get("path", ""), e.get("query") or ""
        endpoint = path.rsplit("/", 1)[-1]
        if endpoint not in ("Users", "Groups"):
            continue
        f = e.get("filter")
        if f is not None:
            kind = "changed" if f.startswith("meta.lastModified gt ") else "lookup"
        elif "attributes=id" in query:
            kind = "ids"
        else:
            kind = "full"
        out.append((endpoint, kind, e.get("token_kind"), e.get("status")))
    return out


def kinds(server):
    return {(ep, kind) for ep, kind, _, _ in list_requests(server)}


def sync(daemon):
    p = daemon.cli("sync")
    assert p.returncode == 0, show(p)
    return p


def test_changes_come_incrementally(fresh, getent, run):
    server, control = fresh.server, fresh.server.control
    st = fresh.status()
    assert st["sync"]["last_kind"] == "full", st["sync"]
    assert st["sync"]["last_full_reason"] == "no complete copy yet", st["sync"]

    control.add_user(FRANK)
    bob = getent("passwd", "bob").stdout
    assert bob.startswith("bob:x:1002:2001:Bob Baker:"), bob
    # bob's display name changes on the server.
    control.add_user({"id": "u-bob", "userName": "bob@example.com", "posixUserName": "bob",
                      "posixUserId": 1002, "posixGroupId": 2001,
                      "homeDirectory": "/srv/home/bob", "displayName": "Bob Renamed"})
    control.reset_counters()
    p = sync(fresh)
    assert "users added: frank" in p.stdout, show(p)
    assert "\nincremental sync, " in p.stdout, show(p)

    requests = list_requests(server)
    assert kinds(server) == {("Users", "ids"), ("Groups", "ids"), ("Users", "changed"),
                             ("Groups", "changed")}, requests
    assert all(status == 200 for *_, status in requests), requests
    # Shadow data likewise: the admin token asked only for changes too.
    assert ("Users", "changed", "admin", 200) in requests, requests
    assert not [r for r in requests if r[1] == "full"], requests

    assert getent("passwd", "frank").stdout == FRANK_LINE + "\n"
    assert getent("passwd", "bob").stdout.startswith("bob:x:1002:2001:Bob Renamed:")
    p = run(["id", "frank"])
    assert p.stdout == "uid=1106(frank) gid=1106(frank) groups=1106(frank)\n", show(p)
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"

    st = fresh.status()
    assert st["sync"]["incremental"] == "supported", st["sync"]
    assert st["sync"]["last_kind"] == "incremental", st["sync"]
    assert st["sync"]["last_full_reason"] is None, st["sync"]
    assert st["sync"]["last_bytes"] > 0 and st["sync"]["last_resources"] > 0, st["sync"]
    assert st["cached"]["users"] == len(SAMPLE_USERS) + 1, st
    log = fresh.log_path.read_text(errors="replace")
    assert "sync applied: incremental" in log

    # Nothing changed since: an incremental sync that changes nothing.
    control.reset_counters()
    p = sync(fresh)
    assert "added" not in p.stdout and "removed" not in p.stdout, show(p)
    assert not [r for r in list_requests(server) if r[1] == "full"]


def test_deleted_user_and_group_disappear(fresh, getent):
    server, control = fresh.server, fresh.server.control
    p = getent("group", "data_science")
    assert p.stdout == "data_science:x:2002:alice,carol\n", show(p)
    assert getent("passwd", "carol").returncode == 0
    control.remove_user("u-carol")
    control.reset_counters()
    p = sync(fresh)
    assert "users removed: carol" in p.stdout, show(p)
    assert not [r for r in list_requests(server) if r[1] == "full"], list_requests(server)
    p = getent("passwd", "carol")
    assert p.returncode == 2 and p.stdout == "", show(p)
    # Her memberships went with her (the group itself did not change on the server).
    assert getent("group", "data_science").stdout == "data_science:x:2002:alice\n"
    assert fresh.status()["sync"]["last_kind"] == "incremental"

    # A group deleted on the server.
    devs = getent("group", "devs")
    assert devs.returncode == 0, show(devs)
    control.remove_group("g-devs")
    p = sync(fresh)
    assert "groups removed: devs" in p.stdout, show(p)
    assert getent("group", "devs").returncode == 2


@pytest.mark.parametrize("switch,reason", [
    ({"filter": "refuse"}, "invalidFilter"),
    ({"filter": "ignore"}, "not honoured"),
    ({"attributes": "ignore"}, "attributes=id not honoured"),
])
def test_server_without_support_gets_complete_copies(fresh, getent, switch, reason):
    server, control = fresh.server, fresh.server.control
    control.set_delta(**switch)
    control.add_user(FRANK)
    control.reset_counters()
    p = sync(fresh)
    assert "users added: frank" in p.stdout, show(p)
    assert "\nfull sync, " in p.stdout and "(incremental sync unsupported: " in p.stdout, \
        show(p)
    # The same sync made a complete copy.
    assert ("Users", "full") in kinds(server) and ("Groups", "full") in kinds(server)
    st = fresh.status()
    assert st["sync"]["incremental"].startswith("unsupported ("), st["sync"]
    assert reason in st["sync"]["incremental"], st["sync"]
    assert st["sync"]["last_kind"] == "full", st["sync"]
    assert st["sync"]["last_full_reason"].startswith("incremental sync unsupported"), st
    assert st["server"]["last_error"] is None, st["server"]
    assert getent("passwd", "frank").stdout == FRANK_LINE + "\n"
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"

    # Remembered: even once the server would answer, complete copies only ...
    control.set_delta(filter="ok", attributes="ok")
    control.reset_counters()
    sync(fresh)
    assert kinds(server) == {("Users", "full"), ("Groups", "full")}, list_requests(server)
    # ... until a reload (SIGHUP; `reload` waits for it): then a complete copy (the
    # reload's own sync, or the next), and incremental syncs again.
    control.reset_counters()
    p = fresh.cli("reload", "--config", str(fresh.config_path))
    assert p.returncode == 0, show(p)
    sync(fresh)
    sync(fresh)
    assert ("Users", "full") in kinds(server), list_requests(server)
    st = fresh.status()
    assert st["sync"]["last_kind"] == "incremental", st["sync"]
    assert st["sync"]["incremental"] == "supported", st["sync"]


def test_growing_total_drops_the_sync_and_the_next_is_complete(fresh, getent):
    server, control = fresh.server, fresh.server.control
    control.add_user(FRANK)
    control.set_fault("total_changes")
    control.reset_counters()
    p = fresh.cli("sync")
    assert p.returncode != 0, show(p)
    st = fresh.status()
    assert "changed from" in (st["server"]["last_error"] or ""), st["server"]
    assert st["server"]["dropped_syncs"]["incomplete"] == 1, st["server"]
    assert st["sync"]["incremental"].startswith("unsupported"), st["sync"]
    # Both tried: the incremental requests, then a complete copy; neither applied.
    assert ("Users", "ids") in kinds(server) and ("Users", "full") in kinds(server)
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
    assert getent("-s", "workbench", "passwd", "frank").returncode == 2
    control.clear_fault()
    control.reset_counters()
    sync(fresh)
    assert ("Users", "full") in kinds(server)
    assert ("Users", "changed") not in kinds(server)
    assert getent("passwd", "frank").stdout == FRANK_LINE + "\n"
    assert fresh.status()["sync"]["last_kind"] == "full"


def test_answer_over_the_budget_drops_the_sync(services, getent):
    """A server that answers the incremental filter with everything, a lot of it: the
    sync stops at sync-max-bytes, the cache is kept, the next sync is complete."""
    server = services.start_server(SAMPLE, "scim-incremental-budget")
    try:
        daemon = services.ensure(server, sync_max_bytes="1M", page_size=2)
        control = server.control
        control.set_delta(filter="ignore", attributes="ignore")
        # An endless directory from now on: only the budget ends the sync.
        control.set_fault("endless", pad=20_000)
        p = daemon.cli("sync")
        assert p.returncode != 0, show(p)
        st = daemon.status()
        assert st["server"]["dropped_syncs"]["over_max_bytes"] == 1, st["server"]
        assert "sync-max-bytes" in (st["server"]["last_error"] or "") or \
            "bytes" in (st["server"]["last_error"] or ""), st["server"]
        assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
        assert st["cached"]["users"] == len(SAMPLE_USERS), st
        control.clear_fault()
        control.reset_counters()
        sync(daemon)
        assert ("Users", "full") in kinds(server)
    finally:
        services.stop()
        server.stop()


def test_kill_9_during_incremental_sync_loses_nothing_committed(fresh, getent):
    control = fresh.server.control
    control.add_user(FRANK)
    sync(fresh)
    assert fresh.status()["sync"]["last_kind"] == "incremental"
    frank = getent("passwd", "frank").stdout
    assert frank == FRANK_LINE + "\n"

    # The next incremental sync held up on its change request: kill -9 then.
    control.remove_user("u-bob")
    control.set_fault("latency", seconds=30, endpoint="Groups")
    control.reset_counters()
    cli = subprocess.Popen([fresh.binary, "sync"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=dict(BASE_ENV))
    try:
        wait_for("the sync's Groups request in flight on the server",
                 lambda: control.counters()["in_flight"] >= 1)
        assert ("Users", "ids") in kinds(fresh.server)
        os.kill(fresh.pid, signal.SIGKILL)
        fresh.proc.wait(timeout=10)
        fresh.proc = None
        cli.communicate(timeout=10)
        assert cli.returncode != 0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    control.clear_fault()
    fresh.server.stop()
    fresh.start()
    # What the incremental sync committed is there; what the killed one was doing is not.
    assert getent("passwd", "frank").stdout == frank
    assert getent("passwd", "bob").returncode == 0
    assert fresh.status()["cached"]["users"] == len(SAMPLE_USERS) + 1


def test_shadow_change_arrives_incrementally(fresh, getent):
    """The admin token's copy is incremental too: a changed hash is served after the
    sync, asked for with the same filter."""
    control = fresh.server.control
    bob = [u for u in json.loads(SAMPLE.read_text(encoding="utf-8"))["users"]
           if u["id"] == "u-bob"][0]
    ext = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User"
    new_hash = "$6$incrsalt$" + "A" * 86
    changed = dict(bob, **{ext: dict(bob[ext], shadowPassword=new_hash)})
    before = getent("shadow", "bob")
    assert before.returncode == 0 and new_hash not in before.stdout
    control.add_user(changed)
    control.reset_counters()
    sync(fresh)
    assert fresh.status()["sync"]["last_kind"] == "incremental"
    assert ("Users", "changed", "admin", 200) in list_requests(fresh.server)
    p = getent("shadow", "bob")
    # Compared without printing the hash (CONTRIBUTING: no hash in output).
    assert p.returncode == 0 and p.stdout.split(":")[1] == new_hash, "bob's hash not updated"


def restart(daemon):
    """Stops the daemon and starts it again with its settings as they are now; the
    fixture's request log starts empty at the restart."""
    assert daemon.stop() == 0
    daemon.server.control.reset_counters()
    daemon.start()


def test_restart_with_a_usable_cache_resumes_incremental_syncs(fresh, getent):
    """Issue 12 (fleet): the sync baseline is kept in the cache file, so a restarted
    daemon goes on with incremental syncs; with a usable cache it serves at once and
    does not ask the server at start (its first sync comes after a delay spread over
    sync-interval: a fleet rebooted together does not stampede). Any doubt about the
    cache (other settings, a garbled baseline) means a complete copy at start."""
    server, control = fresh.server, fresh.server.control
    assert fresh.status()["sync"]["last_kind"] == "full"
    control.add_user(FRANK)  # on the server only

    restart(fresh)
    # Ready, serving the cache, and nothing asked of the server.
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
    assert list_requests(server) == [], list_requests(server)
    log = fresh.log_path.read_text(errors="replace")
    assert "cache usable as it is: served now, first sync (incremental)" in log, log[-2000:]
    assert "first sync in " in log
    # The next sync builds on the cached copy. The sample directory has a group the
    # daemon refuses (g-nogid): its id is listed by the server and is not in the copy,
    # so the restarted daemon must know why (the refused ids are kept with the copy),
    # or the sync would be in doubt and copy everything.
    p = sync(fresh)
    assert "\nincremental sync, " in p.stdout, show(p)
    assert "users added: frank" in p.stdout, show(p)
    assert not [r for r in list_requests(server) if r[1] == "full"], list_requests(server)
    assert getent("passwd", "frank").stdout == FRANK_LINE + "\n"

    # A setting that shapes entries changed: the cache is not built on; a complete copy
    # at start, before READY=1.
    fresh.settings["default-shell"] = "/bin/sh"
    restart(fresh)
    assert kinds(server) >= {("Users", "full"), ("Groups", "full")}, list_requests(server)
    st = fresh.status()
    assert st["sync"]["last_kind"] == "full", st["sync"]
    assert st["sync"]["last_full_reason"] == "no complete copy yet", st["sync"]
    assert getent("passwd", "frank").stdout == FRANK_LINE.replace("/bin/bash", "/bin/sh") + "\n"

    # Same settings again: usable.
    restart(fresh)
    assert list_requests(server) == [], list_requests(server)

    # A garbled baseline: a complete copy at start.
    assert fresh.stop() == 0
    db = sqlite3.connect(fresh.workdir / "cache.db")
    with db:
        n = db.execute("UPDATE meta SET value = 'v1 garbage' WHERE key = 'sync_baseline'")
        assert n.rowcount == 1, "no sync baseline in the cache file"
    db.close()
    control.reset_counters()
    fresh.start()
    assert kinds(server) >= {("Users", "full"), ("Groups", "full")}, list_requests(server)
    log = fresh.log_path.read_text(errors="replace")
    assert "the sync baseline in the cache is unreadable: complete copy at start" in log
