"""scripts/bench --misses: the daemon's CPU time per cache miss with a big directory.

With N directory users cached (default 100,000), users are added on the server one at a
time and each is looked up once through glibc (`getent passwd NAME`, so through
nsswitch.conf and the module): every lookup is a miss that the daemon resolves with one
filtered SCIM request and merges into its snapshot. The daemon's own CPU time (utime +
stime of every thread, from /proc/PID/stat) is read before and after; the same number of
lookups of users already cached gives the per-lookup baseline, so the merge's share is
visible. The sync thread is idle throughout (sync-interval 1 hour).
"""

import json
import os
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")
EXT_U = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User"


def cpu_seconds(pid):
    """utime + stime of the whole process (dead threads included), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5), counted after the ")" that ends the command name.
    return (int(fields[11]) + int(fields[12])) / TICKS


def getent(name):
    return subprocess.run(["getent", "passwd", name], capture_output=True, text=True,
                          timeout=30)


def run(repo, sandbox, server, daemon, dir_users, misses):
    """Returns the figures; raises SystemExit if a lookup is not answered as expected."""
    pid = daemon.pid
    ctl = server.control
    start_uid = 3_000_000
    new = []
    for i in range(misses):
        name, uid = f"miss{i:05d}", start_uid + i
        ctl.add_user({"id": f"u-miss-{i}", "userName": f"{name}@example.com",
                      "posixUserName": name, "posixUserId": uid, "displayName": name,
                      "active": True})
        new.append((name, uid))
    # Baseline: as many lookups of cached users (hits).
    hits = [n for n, _ in dir_users[:: max(1, len(dir_users) // misses)][:misses]]
    before = cpu_seconds(pid)
    t0 = time.monotonic()
    for name in hits:
        p = getent(name)
        if p.returncode != 0:
            raise SystemExit(f"getent passwd {name}: exit {p.returncode} {p.stderr}")
    hit_cpu = cpu_seconds(pid) - before
    hit_wall = time.monotonic() - t0
    before = cpu_seconds(pid)
    t0 = time.monotonic()
    for name, uid in new:
        p = getent(name)
        if p.returncode != 0 or f":{uid}:" not in p.stdout:
            raise SystemExit(f"getent passwd {name}: exit {p.returncode} {p.stdout}{p.stderr}")
    miss_cpu = cpu_seconds(pid) - before
    miss_wall = time.monotonic() - t0
    status = daemon.status()
    return {
        "users_cached": status["cached"]["users"],
        "misses": misses,
        "miss_cpu_ms_per_lookup": miss_cpu * 1000 / misses,
        "hit_cpu_ms_per_lookup": hit_cpu * 1000 / len(hits),
        "miss_wall_ms_per_lookup": miss_wall * 1000 / misses,
        "hit_wall_ms_per_lookup": hit_wall * 1000 / len(hits),
        "clock_tick_ms": 1000 / TICKS,
        "scim_lookups": status.get("ondemand", {}).get("scim_lookups"),
    }


def report(r):
    print(f"daemon CPU per lookup with {r['users_cached']:,} users cached "
          f"({r['misses']} lookups each, /proc clock tick {r['clock_tick_ms']:.0f} ms):")
    print(f"  miss (user added on the server, looked up once): "
          f"{r['miss_cpu_ms_per_lookup']:.2f} ms CPU, {r['miss_wall_ms_per_lookup']:.1f} ms wall")
    print(f"  hit (cached user):                               "
          f"{r['hit_cpu_ms_per_lookup']:.2f} ms CPU, {r['hit_wall_ms_per_lookup']:.1f} ms wall")
    print(json.dumps(r))
    sys.stdout.flush()
