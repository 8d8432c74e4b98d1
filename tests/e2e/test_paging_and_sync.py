"""Paging (design.md §2: a server may return fewer than `count`; `startIndex` advances
by what arrived) and `workbench-cached sync` / `invalidate` (§4: root only; sync prints
what changed)."""

import re

import pytest

from conftest import ALICE_LINE, SAMPLE, SAMPLE_USERS, show

pytestmark = pytest.mark.usefixtures("module_answers")

SAMPLE_GROUPS = {"devs", "data_science", "alice", "carol", "dave", "erin"}
FRANK = {"id": "u-frank", "userName": "frank@example.com", "posixUserName": "frank",
         "posixUserId": 1106, "displayName": "Frank Fisher"}
FRANK_LINE = "frank:x:1106:1106:Frank Fisher:/home/frank:/bin/bash"


@pytest.fixture(scope="module")
def capped_scim(services):
    """Every page capped at 2 resources, whatever `count` asks."""
    return services.start_server(SAMPLE, "scim-max-page-2", max_page=2)


@pytest.fixture(scope="module")
def sync_scim(services):
    """A server of this module's own: these tests add and remove users."""
    return services.start_server(SAMPLE, "scim-sync")


@pytest.fixture
def daemon(request, services, capped_scim):
    """Default here: page-size 3 against the capped server; `page1`: page-size 1;
    `sync`: the server this module changes."""
    which = getattr(request, "param", "capped")
    if which == "page1":
        return services.ensure(request.getfixturevalue("scim"), page_size=1)
    if which == "sync":
        return services.ensure(request.getfixturevalue("sync_scim"))
    return services.ensure(capped_scim, page_size=3)


def list_queries(server, endpoint):
    """(startIndex, count) of every unfiltered list request the server answered."""
    out = []
    for entry in server.control.counters()["log"]:
        path, query = entry.get("path", ""), entry.get("query") or ""
        if not path.endswith(f"/{endpoint}") or "filter" in query:
            continue
        q = dict(kv.split("=", 1) for kv in query.lstrip("?").split("&") if "=" in kv)
        out.append((int(q.get("startIndex", 0)), int(q.get("count", 0))))
    return out


def assert_full_directory(getent, status):
    st = status()
    assert st["server"]["last_error"] is None, st
    assert st["cached"]["users"] == len(SAMPLE_USERS), st
    p = getent("-s", "workbench", "passwd")
    assert {l.split(":")[0] for l in p.stdout.splitlines()} == SAMPLE_USERS, show(p)
    p = getent("-s", "workbench", "group")
    assert {l.split(":")[0] for l in p.stdout.splitlines()} == SAMPLE_GROUPS, show(p)
    p = getent("group", "data_science")
    assert p.stdout == "data_science:x:2002:alice,carol\n", show(p)


def test_server_returning_fewer_than_asked(daemon, capped_scim, getent, daemon_status):
    assert_full_directory(getent, daemon_status)
    # The daemon asked for 3 and got 2 each time: it advanced by what arrived.
    users = list_queries(capped_scim, "Users")
    assert users[:3] == [(1, 3), (3, 3), (5, 3)], users
    groups = list_queries(capped_scim, "Groups")
    assert groups[:2] == [(1, 3), (3, 3)], groups


@pytest.mark.parametrize("daemon", ["page1"], indirect=True)
def test_page_size_one(daemon, scim, getent, daemon_status):
    assert daemon.settings["page-size"] == "1"
    assert_full_directory(getent, daemon_status)


@pytest.mark.parametrize("daemon", ["sync"], indirect=True)
def test_sync_prints_what_changed(daemon, sync_scim, getent, run):
    sync_scim.control.add_user(FRANK)
    try:
        p = daemon.cli("sync")
        assert p.returncode == 0, show(p)
        assert p.stdout.startswith("sync ok: 6 users"), show(p)
        assert "users added: frank\n" in p.stdout, show(p)
        assert "groups added: frank\n" in p.stdout, show(p)   # the user private group
        p = getent("passwd", "frank")
        assert p.stdout == FRANK_LINE + "\n", show(p)
        p = run(["id", "frank"])
        assert p.stdout == "uid=1106(frank) gid=1106(frank) groups=1106(frank)\n", show(p)
        # Nothing changed since: nothing listed.
        p = daemon.cli("sync")
        assert p.returncode == 0 and "added" not in p.stdout, show(p)
    finally:
        sync_scim.control.remove_user(FRANK["id"])
    p = daemon.cli("sync")
    assert p.returncode == 0, show(p)
    assert "users removed: frank\n" in p.stdout, show(p)
    p = getent("-s", "workbench", "passwd", "frank")
    assert p.returncode == 2 and p.stdout == "", show(p)


@pytest.mark.parametrize("daemon", ["sync"], indirect=True)
def test_sync_and_invalidate_refused_to_unprivileged_users(daemon, sync_scim, run, getent,
                                                          daemon_status):
    before = daemon_status()["server"]["last_sync"]
    sync_requests = sync_scim.control.counters()["by_endpoint"]["Users"]
    for args in (["sync"], ["invalidate", "user", "alice"], ["invalidate", "--all"]):
        p = run([daemon.binary, *args], user=65534)
        assert p.returncode != 0, show(p)
        assert p.stdout == "", show(p)
        assert "permission denied" in p.stderr.lower(), show(p)
        assert p.stderr.count("\n") <= 2, show(p)    # a message, not a dump
    # Nothing happened on their behalf.
    assert sync_scim.control.counters()["by_endpoint"]["Users"] == sync_requests
    assert daemon_status()["server"]["last_sync"] == before
    p = getent("passwd", "alice")
    assert p.stdout == ALICE_LINE + "\n", show(p)
    # Root may: bob (posixUserName set) is dropped and refetched.
    p = daemon.cli("invalidate", "user", "bob")
    assert p.returncode == 0 and re.search(r"\b1\b", p.stdout), show(p)
    p = getent("passwd", "bob")
    assert p.stdout == "bob:x:1002:2001:Bob Baker:/srv/home/bob:/bin/bash\n", show(p)


@pytest.mark.parametrize("daemon", ["sync"], indirect=True)
def test_invalidate_user_named_after_username_comes_back(daemon, getent):
    # alice has no posixUserName (named after userName alice@example.com): a refetch by
    # posixUserName or userName equal to "alice" finds nothing, yet she must come back.
    p = daemon.cli("invalidate", "user", "alice")
    assert p.returncode == 0, show(p)
    p = getent("passwd", "alice")
    assert p.stdout == ALICE_LINE + "\n", show(p)
    p = getent("group", "devs")
    assert p.stdout == "devs:x:2001:alice,bob\n", show(p)
