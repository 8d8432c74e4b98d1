"""Shared by test_freshness.py, test_outages.py and test_single_flight.py: bounded
waiting on conditions, many glibc lookups from one subprocess (ctypes getpwnam_r, paced
or all at once), and the fault table the outage tests fill.

Nothing here sleeps as synchronisation: `wait_for` polls a condition with a bound, and
the pacing of `paced_lookups` is the load being measured, not a wait for the daemon.
"""

import functools
import json
import sys
from pathlib import Path

from workbench_testkit import polling

WAIT_S = 30

# polling.wait_for with this family's bound (on-demand fetches, outages, recoveries).
wait_for = functools.partial(polling.wait_for, timeout=WAIT_S, interval=0.1)


def compact_user(rid, name, uid, gid=None, home=None, gecos=None):
    """A compact SCIM user for the fixture's control API (resources.py)."""
    user = {"id": rid, "userName": f"{name}@example.com", "posixUserName": name,
            "posixUserId": uid, "displayName": gecos or name.capitalize(),
            "active": True}
    if gid is not None:
        user["posixGroupId"] = gid
    if home is not None:
        user["homeDirectory"] = home
    return user


# One process, many getpwnam_r calls through glibc (so through nsswitch.conf and the
# module), each timed; prints a JSON summary. argv[1]: {"mode": "paced", "names": [...],
# "rate": per second, "workers": n} or {"mode": "burst", "name": ..., "threads": n}.
LOOKUP_SCRIPT = r'''
import ctypes, errno, json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

class Passwd(ctypes.Structure):
    _fields_ = [("pw_name", ctypes.c_char_p), ("pw_passwd", ctypes.c_char_p),
                ("pw_uid", ctypes.c_uint32), ("pw_gid", ctypes.c_uint32),
                ("pw_gecos", ctypes.c_char_p), ("pw_dir", ctypes.c_char_p),
                ("pw_shell", ctypes.c_char_p)]

libc = ctypes.CDLL("libc.so.6", use_errno=True)

def lookup(name):
    pw = Passwd()
    buf = ctypes.create_string_buffer(65536)
    res = ctypes.POINTER(Passwd)()
    t0 = time.monotonic()
    rc = libc.getpwnam_r(name.encode(), ctypes.byref(pw), buf, len(buf), ctypes.byref(res))
    ms = (time.monotonic() - t0) * 1000.0
    if rc == 0 and res:
        return "found", res.contents.pw_name.decode(), res.contents.pw_uid, ms
    if rc == 0:
        return "notfound", None, None, ms
    return errno.errorcode.get(rc, str(rc)), None, None, ms

spec = json.loads(sys.argv[1])
results = []
lock = threading.Lock()

def one(name):
    r = lookup(name)
    with lock:
        results.append(r + (time.monotonic() - t_start,))

t_start = time.monotonic()
if spec["mode"] == "paced":
    names, rate = spec["names"], float(spec["rate"])
    with ThreadPoolExecutor(max_workers=spec.get("workers", 16)) as pool:
        for i, name in enumerate(names):
            due = t_start + i / rate
            left = due - time.monotonic()
            if left > 0:
                time.sleep(left)
            pool.submit(one, name)
else:
    n = spec["threads"]
    barrier = threading.Barrier(n)
    def worker():
        barrier.wait()
        one(spec["name"])
    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

by_status = {}
for status, *_ in results:
    by_status[status] = by_status.get(status, 0) + 1
print(json.dumps({
    "lookups": len(results),
    "by_status": by_status,
    "answers": sorted({f"{n}:{u}" for s, n, u, *_ in results if s == "found"}),
    "worst_ms": max((r[3] for r in results), default=0.0),
    "seconds": time.monotonic() - t_start,
    # The slowest calls: [seconds since start, ms, status].
    "slowest": [[round(r[4], 2), round(r[3]), r[0]]
                for r in sorted(results, key=lambda r: -r[3])[:10]],
}))
'''


def many_lookups(sandbox, spec, timeout=180):
    """Runs LOOKUP_SCRIPT in a subprocess; returns its JSON summary."""
    p = sandbox.run([sys.executable, "-c", LOOKUP_SCRIPT, json.dumps(spec)], timeout=timeout)
    assert p.returncode == 0, f"lookup script failed: {p.stderr[-2000:]}"
    return json.loads(p.stdout)


# -- the fault table -------------------------------------------------------------------

FAULT_ROWS = []
TABLE_COLUMNS = ("fault", "lookups tried", "failed", "wrong answers", "worst latency ms",
                 "worst cached hit ms")


class FaultRow:
    """One fault's tally: every lookup made while it was active (and while recovering)."""

    def __init__(self, fault):
        self.fault = fault
        self.tried = 0
        self.failed = 0
        self.wrong = 0
        self.worst_ms = 0.0
        self.worst_cached_ms = None  # lookups of entries the daemon had cached
        self.notes = []

    def add(self, ok, wrong, ms, cached=False):
        if cached:
            self.worst_cached_ms = max(self.worst_cached_ms or 0.0, ms)
        self.tried += 1
        self.failed += 0 if ok else 1
        self.wrong += 1 if wrong else 0
        self.worst_ms = max(self.worst_ms, ms)

    def add_many(self, tried, failed, wrong, worst_ms):
        self.tried += tried
        self.failed += failed
        self.wrong += wrong
        self.worst_ms = max(self.worst_ms, worst_ms)

    def cells(self):
        return (self.fault, str(self.tried), str(self.failed), str(self.wrong),
                f"{self.worst_ms:.0f}",
                "-" if self.worst_cached_ms is None else f"{self.worst_cached_ms:.0f}")


def fault_table():
    """The table as text, or '' when no outage test ran."""
    if not FAULT_ROWS:
        return ""
    rows = [TABLE_COLUMNS] + [r.cells() for r in FAULT_ROWS]
    widths = [max(len(r[i]) for r in rows) for i in range(len(TABLE_COLUMNS))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(rows[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out) + "\n"


def write_fault_table(repo):
    text = fault_table()
    if not text:
        return None
    target = Path(repo) / "target"
    target.mkdir(exist_ok=True)
    path = target / "fault-table.txt"
    path.write_text(text, encoding="utf-8")
    return path
