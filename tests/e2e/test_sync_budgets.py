"""Budgets against a hostile SCIM server (design.md §3: sync-max-bytes, sync-deadline).

A server that pages forever, reports a totalResults that grows, ignores startIndex,
sends a 100 MB page or drips its pages slowly: the sync is dropped, the cache kept and
served through glibc, `status` says why (server.last_error and a server.dropped_syncs
counter), the daemon's memory stays bounded, and the first sync after the fault is
cleared succeeds. Enumeration of large records: test_enumeration_large_records.py.

The fixture server caps pages at 2 entries, so the 5 sample users take 3 pages. Every
test gets a fresh daemon with small budgets (sync-max-bytes=2M).
"""

import re
import time

import pytest

from conftest import SAMPLE, SAMPLE_USERS, show
from workbench_testkit.polling import wait_for

pytestmark = pytest.mark.usefixtures("module_answers")

MAX_BYTES = 2 * 1024 * 1024
# A daemon that read a 100 MB page, or even its 64 MiB per-page cap, would have a peak
# RSS above this; one that stops at the 2 MiB budget stays far below.
MAX_PEAK_RSS_KB = 32 * 1024

# (label, fault mode, fault arguments, daemon settings, dropped_syncs key, text that
# server.last_error must contain)
HOSTILE = [
    ("pages forever, large resources", "endless", {"pad": 100_000},
     {"sync_deadline": 60}, "over_max_bytes", "sync-max-bytes"),
    ("pages forever, small resources", "endless", {},
     {"sync_deadline": 3, "sync_max_bytes": "1G"}, "past_deadline", "sync-deadline"),
    ("ignores startIndex", "endless", {"ignore_start_index": True},
     {"sync_deadline": 60}, "incomplete", "asked for startIndex 3, got 1"),
    ("totalResults grows", "total_changes", {},
     {"sync_deadline": 60}, "incomplete", "totalResults changed"),
    ("100 MB page", "huge_page", {},
     {"sync_deadline": 60}, "over_max_bytes", "sync-max-bytes"),
    ("slow drip", "drip", {"seconds": 2},
     {"sync_deadline": 3, "request_timeout": 5}, "past_deadline", "sync-deadline"),
]


@pytest.fixture(scope="module")
def server(services):
    return services.start_server(SAMPLE, "scim-budgets", max_page=2)


@pytest.fixture
def daemon(services, server, request):
    settings = {"sync_max_bytes": "2M"}
    case = getattr(request, "param", None)
    if case is not None:
        settings.update(case)
    with services.fresh(server, **settings) as d:
        yield d


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["VmHWM"].split()[0])


def listed(getent, db):
    p = getent(db)
    assert p.returncode == 0, show(p)
    return [line.split(":", 1)[0] for line in p.stdout.splitlines()]


@pytest.mark.parametrize(
    "label,mode,args,daemon,dropped,why",
    HOSTILE, ids=[h[0] for h in HOSTILE], indirect=["daemon"])
def test_hostile_sync_is_dropped_and_the_cache_kept(label, mode, args, daemon, dropped, why,
                                                    server, getent, run):
    before = daemon.status()
    assert before["cached"]["users"] == len(SAMPLE_USERS), before
    assert all(n == 0 for n in before["server"]["dropped_syncs"].values()), before

    server.control.set_fault(mode, **args)
    started = time.monotonic()
    p = daemon.cli("sync", timeout=120)
    took = time.monotonic() - started
    assert p.returncode != 0, f"sync succeeded under '{label}'" + show(p)
    assert why in p.stdout + p.stderr, show(p)

    st = daemon.status()
    assert why in st["server"]["last_error"], st["server"]
    counts = st["server"]["dropped_syncs"]
    assert counts[dropped] == 1, counts
    assert sum(counts.values()) == 1, counts
    assert st["serving_stale"] is True, st
    assert st["cached"]["users"] == len(SAMPLE_USERS), st["cached"]
    # The copy kept is served through glibc; nothing of the hostile copy is.
    assert SAMPLE_USERS <= set(listed(getent, "passwd")), "cache not kept"
    assert not any(n.startswith("endless") for n in listed(getent, "passwd"))
    p = run(["id", "-nG", "alice"])
    assert p.returncode == 0 and "devs" in p.stdout.split(), show(p)

    peak = peak_rss_kb(daemon.pid)
    print(f"{label}: sync refused after {took:.1f} s; daemon peak RSS {peak // 1024} MiB; "
          f"last_error: {st['server']['last_error']}")
    assert peak < MAX_PEAK_RSS_KB, f"peak RSS {peak} KiB"
    if dropped == "past_deadline":
        # Ended at the deadline, not at the end of the directory or request-timeout.
        deadline = int(daemon.settings["sync-deadline"])
        assert took < deadline + 2.5, took

    server.control.clear_fault()
    p = daemon.cli("sync", timeout=120)
    assert p.returncode == 0, f"sync after clearing '{label}'" + show(p)
    read = re.search(r"^sync ok: 5 users, .*, (\d+) bytes read", p.stdout, re.M)
    assert read and 0 < int(read.group(1)) < MAX_BYTES, show(p)
    st = daemon.status()
    assert st["server"]["last_error"] is None, st["server"]
    assert st["serving_stale"] is False, st
    assert st["server"]["dropped_syncs"][dropped] == 1, st["server"]


FIRST_SYNC_DEADLINE_S = 45  # cached/src/daemon/sync.rs


def test_first_sync_is_cut_short_so_the_daemon_gets_ready(services, server, getent):
    """A server that pages forever at start-up, with sync-deadline at its default
    (30 minutes): READY=1 still comes once the first sync's own deadline (45 s, below
    systemd's default 90 s start timeout) has passed, and once the server behaves the
    sync thread's retry copies the directory."""
    services.stop()
    server.control.set_fault("endless")
    started = time.monotonic()
    daemon = services.ensure(server, sync_max_bytes="1G")
    ready_after = time.monotonic() - started
    assert "sync-deadline" not in daemon.settings
    st = daemon.status()
    print(f"READY=1 after {ready_after:.1f} s; last_error: {st['server']['last_error']}")
    assert st["server"]["dropped_syncs"]["past_deadline"] == 1, st["server"]
    assert "(sync-deadline)" in st["server"]["last_error"], st["server"]
    assert FIRST_SYNC_DEADLINE_S <= ready_after < FIRST_SYNC_DEADLINE_S + 10, ready_after
    assert st["cached"]["users"] == 0, st["cached"]

    server.control.clear_fault()

    def copied():
        s = daemon.status()
        return s["server"]["last_sync"] is not None and s["cached"]["users"] == len(SAMPLE_USERS)
    wait_for("the sync thread's retry copies the directory", copied, timeout=60)
    assert SAMPLE_USERS <= set(listed(getent, "passwd"))
