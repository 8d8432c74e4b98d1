"""scripts/bench --scale: the daemon's memory and time at 10,000 and 100,000 users.

Per size: a generated directory (N users, N/10 groups of 25 members, so every user is in
2-3 groups, plus one group of 20,000 members) served by the fixture server on loopback
with a page cap of 500; the daemon (page-size 500) started cold. Printed per size, one
line each, so the growth is visible:

  users        users cached after the first full copy
  first_s      wall seconds from start to READY=1 (the first full copy)
  sync_cpu_s   the daemon's CPU seconds for it (utime + stime, all threads)
  second_s     wall seconds of a second full sync (`workbench-cached sync`)
  rss1_mib     RssAnon (anonymous resident memory) after the first copy
  rss_mib      RssAnon after the second sync, settled
  peak1_mib    VmHWM (peak resident memory) over the first copy
  peak_mib     VmHWM over both copies
  miss_ms      the daemon's CPU milliseconds per cache miss (users added on the server,
               each looked up once through getent; see bench_miss)
  listed       users `getent passwd` lists through the module (must equal users)
  map_mib      size of the in-process map image (shared memory handed to processes, not
               in RssAnon)
  map_cpu_ms   the daemon's CPU milliseconds for the last map build and publish
"""

import json
import os
import subprocess
import sys
import time

import bench_miss

PAGE = 500
BIG_GROUP = 20000


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) / 1024  # kB -> MiB
    return out


def measure_size(repo, sandbox, release, n_users, misses):
    from workbench_testkit.sandbox import Daemon, FixtureServer

    work = sandbox.workdir / f"scale-{n_users}"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "directory.json"
    subprocess.run([sys.executable, str(repo / "tests/fixture/make_directory.py"),
                    "--users", str(n_users), "--groups", str(max(1, n_users // 10)),
                    "--members-per-group", "25", "--big-group", str(min(BIG_GROUP, n_users)),
                    "--out", str(data)], check=True)
    directory = json.loads(data.read_text())
    ext_u = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User"
    dir_users = [(u[ext_u]["posixUserName"], u[ext_u]["posixUserId"])
                 for u in directory["users"]]
    del directory
    server = FixtureServer(repo, data, work / "scim", max_page=PAGE).start(timeout=120)
    daemon = Daemon(release / "workbench-cached", work / "daemon", server, log_level="warn",
                    sync_interval=3600, page_size=PAGE,
                    # Every sync a complete copy: the second sync measured is a full
                    # one, not an incremental one (issue 12 point 2).
                    full_sync_interval=1)
    for item in os.environ.get("WB_BENCH_DAEMON_ENV", "").split():
        key, _, value = item.partition("=")
        daemon.start_env[key] = value
    try:
        t0 = time.monotonic()
        daemon.start(timeout=600)
        first_s = time.monotonic() - t0
        pid = daemon.pid
        sync_cpu = bench_miss.cpu_seconds(pid)
        mem_first = proc_status(pid)
        status = daemon.status()
        users = status["cached"]["users"]
        t1 = time.monotonic()
        p = daemon.cli("sync", timeout=900)
        second_s = time.monotonic() - t1
        if p.returncode != 0:
            raise SystemExit(f"second sync failed: {p.stdout}{p.stderr}")
        second_cpu = bench_miss.cpu_seconds(pid) - sync_cpu
        map_status = published_map(daemon)
        mem = proc_status(pid)
        listed = subprocess.run("getent passwd | wc -l", shell=True, capture_output=True,
                                text=True).stdout.strip()
        local_lines = len(sandbox.host_passwd.strip().splitlines())
        miss = bench_miss.run(repo, sandbox, server, daemon, dir_users, misses)
        return {
            "users": users,
            "first_s": round(first_s, 2),
            "sync_cpu_s": round(sync_cpu, 2),
            "second_s": round(second_s, 2),
            "second_cpu_s": round(second_cpu, 2),
            "rss_first_mib": round(mem_first["RssAnon"], 1),
            "peak_first_mib": round(mem_first["VmHWM"], 1),
            "rss_mib": round(mem["RssAnon"], 1),
            "peak_mib": round(mem["VmHWM"], 1),
            "miss_ms": round(miss["miss_cpu_ms_per_lookup"], 2),
            "listed": int(listed) - local_lines,
            "map_mib": round(map_status["size_bytes"] / (1 << 20), 1),
            "map_cpu_ms": map_status["last_build_cpu_ms"],
        }
    finally:
        daemon.stop(timeout=60)
        server.stop()


def published_map(daemon, timeout=120):
    """The daemon's fast_path status once the map of the served copy is published."""
    deadline = time.monotonic() + timeout
    while True:
        st = daemon.status()
        fp = st["fast_path"]
        if fp.get("generation") and fp["users"] >= st["cached"]["users"]:
            return fp
        if time.monotonic() > deadline:
            raise SystemExit(f"no map published: {fp}")
        time.sleep(0.1)


def run(repo, sandbox, release, sizes, misses):
    rows = []
    print(f"{'users':>8} {'first_s':>8} {'sync_cpu_s':>10} {'second_s':>9} {'rss1_mib':>9} "
          f"{'rss_mib':>8} {'peak1_mib':>10} {'peak_mib':>9} {'miss_ms':>8} {'listed':>8} "
          f"{'map_mib':>8} {'map_cpu_ms':>10}",
          flush=True)
    for n in sizes:
        r = measure_size(repo, sandbox, release, n, misses)
        rows.append(r)
        print(f"{r['users']:>8} {r['first_s']:>8} {r['sync_cpu_s']:>10} {r['second_s']:>9} "
              f"{r['rss_first_mib']:>9} {r['rss_mib']:>8} {r['peak_first_mib']:>10} "
              f"{r['peak_mib']:>9} {r['miss_ms']:>8} {r['listed']:>8} {r['map_mib']:>8} "
              f"{r['map_cpu_ms']:>10}", flush=True)
    return rows
