"""The root-only CLI commands (design.md §4, §7): `invalidate user|group NAME`,
`invalidate --all` and `sync` work for root and are refused for anyone else with a clear
message and a non-zero exit; `status` works for everyone. An invalidated entry is
fetched again from the server (the fixture's counters show the filtered request) and
served again."""

import re

import pytest

from conftest import ALICE_LINE, SAMPLE, show

pytestmark = pytest.mark.usefixtures("module_answers")

NOBODY = 65534
BOB_LINE = "bob:x:1002:2001:Bob Baker:/srv/home/bob:/bin/bash"


@pytest.fixture(scope="module")
def ops_scim(services):
    return services.start_server(SAMPLE, "scim-ops")


@pytest.fixture
def daemon(services, ops_scim):
    return services.ensure(ops_scim)


@pytest.fixture
def control(ops_scim):
    c = ops_scim.control
    c.clear_fault()
    c.reset()
    c.reset_counters()
    return c


def invalidated(p):
    """How many entries `invalidate` says it dropped or marked (the first number)."""
    m = re.search(r"\d+", p.stdout)
    assert p.returncode == 0 and m, show(p)
    return int(m.group())


def filtered_requests(control, value):
    return [e for e in control.counters()["log"]
            if value in (e.get("filter") or "") and e["status"] == 200]


@pytest.fixture
def resync(daemon, run):
    """Whatever a test invalidated, the next one starts from a full copy."""
    yield
    if daemon.running():
        run([daemon.binary, "sync"])


@pytest.mark.parametrize("user,line,uid", [
    ("bob", BOB_LINE, 1002),
    # Named after its userName (alice@example.com): not findable by a name filter.
    ("alice", ALICE_LINE, 1001),
])
def test_invalidate_user_refetches(daemon, resync, control, run, getent, user, line, uid):
    p = run([daemon.binary, "invalidate", "user", user])
    assert invalidated(p) >= 1, show(p)
    assert control.counters()["filtered"] == 0
    p = getent("passwd", user)
    assert p.stdout == line + "\n", show(p)
    assert (filtered_requests(control, f'"{user}"')
            or filtered_requests(control, f"eq {uid}")), control.counters()["log"]
    # Served from the cache again: no further request.
    n = control.counters()["requests"]
    assert getent("passwd", user).stdout == line + "\n"
    assert control.counters()["requests"] == n


def test_invalidate_group_refetches(daemon, resync, control, run, getent):
    p = run([daemon.binary, "invalidate", "group", "devs"])
    assert invalidated(p) == 1, show(p)
    p = getent("group", "devs")
    assert p.stdout == "devs:x:2001:alice,bob\n", show(p)
    assert (filtered_requests(control, '"devs"')
            or filtered_requests(control, "eq 2001")), control.counters()["log"]
    n = control.counters()["requests"]
    assert getent("group", "devs").stdout == "devs:x:2001:alice,bob\n"
    assert control.counters()["requests"] == n


def test_invalidate_unknown_name_drops_nothing(daemon, control, run):
    p = run([daemon.binary, "invalidate", "user", "nosuchuser"])
    assert invalidated(p) == 0, show(p)


def test_sync_as_root_prints_what_changed(daemon, control, run, getent):
    control.add_user({"id": "u-olga", "userName": "olga@example.com",
                      "posixUserName": "olga", "posixUserId": 1030,
                      "displayName": "Olga Ops"})
    control.reset_counters()
    p = run([daemon.binary, "sync"])
    assert p.returncode == 0, show(p)
    assert "sync ok" in p.stdout and "olga" in p.stdout, show(p)
    assert control.counters()["by_endpoint"]["Users"] >= 1
    n = control.counters()["requests"]
    assert getent("passwd", "olga").stdout.startswith("olga:x:1030:1030:Olga Ops:")
    assert control.counters()["requests"] == n  # from the copy, not a miss
    control.remove_user("u-olga")
    p = run([daemon.binary, "sync"])
    assert p.returncode == 0 and "olga" in p.stdout, show(p)


def test_sync_failure_is_non_zero_with_reason(daemon, control, run, getent):
    control.set_fault("status", code=503, endpoint="Users", count=1)
    p = run([daemon.binary, "sync"])
    assert p.returncode != 0, show(p)
    assert "sync failed" in p.stderr and "503" in p.stderr, show(p)
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"


@pytest.mark.parametrize("args", [["invalidate", "user", "alice"],
                                  ["invalidate", "group", "devs"],
                                  ["invalidate", "--all"],
                                  ["sync"]],
                         ids=["invalidate-user", "invalidate-group", "invalidate-all", "sync"])
def test_refused_for_non_root(daemon, control, run, getent, args):
    before = daemon.status()
    p = run([daemon.binary, *args], user=NOBODY)
    assert p.returncode != 0, show(p)
    assert "permission denied" in p.stderr and "requires root" in p.stderr, show(p)
    # Nothing happened: no request to the server, nothing dropped.
    assert control.counters()["requests"] == 0, control.counters()["log"]
    after = daemon.status()
    assert after["cached"] == before["cached"], (before, after)
    assert after["server"]["last_sync"] == before["server"]["last_sync"]
    assert getent("passwd", "alice").stdout == ALICE_LINE + "\n"
    assert control.counters()["requests"] == 0


def test_refused_for_non_root_in_root_group(daemon, control, run):
    """Only uid 0 counts: gid 0 is not enough."""
    p = run([daemon.binary, "invalidate", "--all"], user=(NOBODY, 0))
    assert p.returncode != 0 and "requires root" in p.stderr, show(p)


def test_status_works_for_non_root(daemon, run):
    p = run([daemon.binary, "status"], user=NOBODY)
    assert p.returncode == 0, show(p)
    assert "cached" in p.stdout and "5 users" in p.stdout, show(p)
    p = run([daemon.binary, "status", "--json"], user=NOBODY)
    assert p.returncode == 0 and '"cached"' in p.stdout, show(p)
    # Per-entry refusal details are for root only.
    assert "refused_entries" not in p.stdout


# Last in this file: the full sync that --all asks for may still be running when the
# test ends, and a `sync` started meanwhile reports that sync rather than one of its own
# (see test_sync_as_root_prints_what_changed).
def test_invalidate_all_refetches_everything(daemon, control, run, getent):
    p = run([daemon.binary, "invalidate", "--all"])
    assert invalidated(p) >= 5 + 2, show(p)  # five users, two groups
    # Either the full sync --all asks for, or a filtered fetch, brings alice back.
    p = getent("passwd", "alice")
    assert p.stdout == ALICE_LINE + "\n", show(p)
    assert getent("group", "devs").stdout == "devs:x:2001:alice,bob\n"
    assert control.counters()["requests"] >= 1
