"""Staying up (design.md §6, §8): for every way the server can fail, cached entries keep
being served at once, a name not cached is TRYAGAIN (EAGAIN to the caller) and never
"not found" nor remembered as absent, `status` says what is wrong, and clearing the
fault is enough for the daemon to recover. A failing server is not hammered: 60 s of
503s under 50 lookups/s of new names cost a handful of SCIM requests.

The fixture server listens on a Unix socket (so "server down" can be a stopped server
that comes back at the same address) and caps pages at 2 entries (so a sync of the 5
sample users has a middle page to lose). Every test gets a fresh daemon with
request-timeout=1. Every lookup made under a fault is tallied into the fault table
(ondemand_helpers.FAULT_ROWS), printed at the end of the session and written to
target/fault-table.txt.
"""

import signal
import time

import pytest

from conftest import SAMPLE, show
from ondemand_helpers import FAULT_ROWS, FaultRow, compact_user, many_lookups, wait_for

pytestmark = pytest.mark.usefixtures("module_answers")

CACHED_FAST_MS = 500  # a cached entry never waits for the network
RECOVERY_S = 60  # backoff after two failures is at most ~10 s (+ jitter); sync retry 5 s

# (label, fault mode or None for "server stopped", fault arguments, sync-only fault)
FAULTS = [
    ("server down (stopped)", None, {}, False),
    ("hang", "hang", {}, False),
    ("latency 2 s > request-timeout 1 s", "latency", {"seconds": 2}, False),
    ("HTTP 500", "status", {"code": 500}, False),
    ("HTTP 503 + Retry-After", "status", {"code": 503, "retry_after": 30}, False),
    ("malformed JSON", "malformed", {}, False),
    ("truncated body", "truncated", {}, False),
    ("connection closed", "close", {}, False),
    ("page missing mid-sync", "drop_page", {"start_index": 3, "endpoint": "Users"}, True),
    ("totalResults changes mid-sync", "total_changes", {}, True),
    ("401 on the user token", "unauthorized", {}, False),
]


@pytest.fixture(scope="module")
def server(services, sandbox):
    return services.start_server(SAMPLE, "scim-outages", max_page=2,
                                 unix=sandbox.workdir / "scim-outages.sock")


@pytest.fixture
def daemon(services, server):
    with services.fresh(server, request_timeout=1) as d:
        yield d


class Tally:
    """Lookups through nss-probe, each recorded in the fault's row."""

    def __init__(self, probe, row):
        self.probe, self.row = probe, row

    def lookup(self, db, key):
        p, data = self.probe("lookup", db, str(key), "--expect", "found")
        assert data is not None, show(p)
        return data.get("status"), data.get("errno_name"), data.get("elapsed_ms", 0.0), data

    def cached(self):
        """Entries the daemon has: found, right, without waiting."""
        for db, key, check in (("passwd", "alice", ("name", "alice")),
                               ("passwd", 1002, ("name", "bob")),
                               ("group", "devs", ("gid", 2001)),
                               ("passwd", "carol", ("uid", 1003))):
            status, errno_name, ms, data = self.lookup(db, key)
            right = status == "found" and data["entry"].get(check[0]) == check[1]
            self.row.add(ok=status == "found", wrong=not right, ms=ms, cached=True)
            assert right, f"cached {db} {key} under '{self.row.fault}': {data}"
            assert ms < CACHED_FAST_MS, f"cached {db} {key} waited: {data}"

    def uncached(self, name, allowed):
        """A name the daemon has not cached: EAGAIN (or found when the fault only hits
        full syncs), never notfound."""
        status, errno_name, ms, data = self.lookup("passwd", name)
        outcome = errno_name if status == "error" else status
        self.row.add(ok=status == "found", wrong=outcome not in allowed, ms=ms)
        assert outcome in allowed, f"uncached {name} under '{self.row.fault}': {data}"
        return outcome


def add_late_user(server, n):
    name = f"late{n:02d}"
    server.control.add_user(compact_user(f"u-{name}", name, 1200 + n, home=f"/home/{name}"))
    return name


@pytest.mark.parametrize("label,mode,args,sync_only", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault(label, mode, args, sync_only, daemon, server, probe):
    row = FaultRow(label)
    FAULT_ROWS.append(row)
    tally = Tally(probe, row)
    n = FAULTS.index((label, mode, args, sync_only))
    late = add_late_user(server, n)  # on the server, not in the daemon's copy
    allowed_uncached = {"EAGAIN", "found"} if sync_only else {"EAGAIN"}

    if mode is None:
        server.stop()
    else:
        server.control.set_fault(mode, **args)
    try:
        tally.cached()
        # With a sync-only fault the filtered lookup still works and adds the user.
        known = 5 + (tally.uncached(late, allowed_uncached) == "found")
        # A sync under the fault fails, and status says so; the copy is kept.
        p = daemon.cli("sync")
        assert p.returncode != 0, f"sync succeeded under '{label}'" + show(p)
        st = daemon.status()
        assert st["serving_stale"] is True, st
        assert st["server"]["last_error"], st
        assert st["cached"]["users"] == known, st
        row.notes.append(st["server"]["last_error"])
        if mode is None:
            assert st["server"]["reachable"] is False, st["server"]
        if mode == "unauthorized":
            assert st["tokens"]["user"] == "rejected", st["tokens"]
        tally.cached()
        assert tally.uncached(late, allowed_uncached) == "found" or known == 5
        assert daemon.status()["ondemand"]["negative_cached"] == 0, "a failure was cached"
    finally:
        if mode is None:
            server.start()
            late = add_late_user(server, n)  # the restarted server reloaded its data
        else:
            server.control.clear_fault()
    if mode == "unauthorized":
        # A rejected token is not retried while its file stays the same (test_tokens);
        # SIGHUP re-reads it.
        daemon.proc.send_signal(signal.SIGHUP)

    # Recovery without an operator: the backoff-driven retry (on-demand probe or the
    # sync thread's retry) finds the late user; never "not found" meanwhile.
    def resolved():
        return tally.uncached(late, {"EAGAIN", "found"}) == "found"
    wait_for(f"{late} resolves after clearing '{label}'", resolved, timeout=RECOVERY_S,
             interval=0.5)
    p = daemon.cli("sync")
    assert p.returncode == 0, show(p)
    st = daemon.status()
    assert st["serving_stale"] is False and st["server"]["last_error"] is None, st
    assert st["tokens"]["user"] == "ok" and st["server"]["reachable"] is True, st
    assert st["cached"]["users"] == 6, st
    tally.cached()
    print(f"{label}: {row.cells()}; status said: {row.notes}")


def test_failing_server_is_not_hammered(daemon, server, sandbox):
    """60 s of 503s while clients look up 50 new names a second: the backoff gate lets
    only a few probes through (5 s, 10 s, 20 s, 40 s … with jitter)."""
    label = "HTTP 503 for 60 s, 50 lookups/s of new names"
    row = FaultRow(label)
    FAULT_ROWS.append(row)
    ctl = server.control
    ctl.reset_counters()
    ctl.set_fault("status", code=503)
    names = [f"ghost{i:05d}" for i in range(50 * 60)]
    t0 = time.monotonic()
    out = many_lookups(sandbox, {"mode": "paced", "names": names, "rate": 50, "workers": 16},
                       timeout=300)
    took = time.monotonic() - t0
    counters = ctl.counters()
    requests = counters["requests"]
    by = out["by_status"]
    row.add_many(out["lookups"], out["lookups"] - by.get("found", 0),
                 out["lookups"] - by.get("EAGAIN", 0), out["worst_ms"])
    print(f"\n{label}: {out['lookups']} lookups in {took:.1f}s -> {requests} SCIM requests "
          f"(by status {by}, worst {out['worst_ms']:.0f} ms, slowest {out['slowest']})")
    row.notes.append(f"{requests} SCIM requests")
    row.fault = f"{label} ({requests} SCIM requests)"
    assert out["lookups"] == len(names)
    assert by == {"EAGAIN": len(names)}, by
    assert requests <= 15, counters["log"][-20:]
    st = daemon.status()
    assert st["ondemand"]["negative_cached"] == 0, st["ondemand"]
    assert st["ondemand"]["backoff_failures"] >= 2, st["ondemand"]
