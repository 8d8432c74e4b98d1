"""scripts/bench: lookups through glibc, the workbench module beside files, nscd and SSSD.

Every figure comes from tests/probe (`nss-probe bench`), which calls glibc's own
getpwnam_r/getpwuid_r/getgrnam_r/getgrnam/getgrouplist/getpwent_r, so nsswitch.conf
decides who answers. Per size (10,000 and 100,000 users by default; N/10 groups of 20
members and one group, `biggroup`, of 5,000 members), all in this one run (the machines
are shared and noisy: only the ratios mean much), rows:

  files-30     passwd/group: files, a 30-line /etc/passwd and /etc/group  (the baseline)
  files-N      passwd/group: files, the same N directory users and groups as lines
  nscd         glibc's nscd caching files-N (its shared maps), warmed first
  glibc-floor  passwd/group: floor, a module that answers at once (tools/nss-floor): what
               glibc itself costs per call, stat() of nsswitch.conf included (keyed
               lookups and 2 threads only)
  workbench    passwd/group: files workbench (30-line files, then the module), warm daemon
  module-only  passwd/group: workbench
  sssd         (--peers) SSSD's memory cache (libnss_sss's mapped files), SSSD's proxy
               provider over libnss_files (files-N), warmed first; no enumeration row
               (see run_sssd)

and per row, p50 and p99 of: getpwnam, getpwuid, getgrnam, getgrouplist; getgrnam() of
the 5,000-member group (glibc's own buffer; `first` is the first call, 1024 bytes
growing); a miss (getpwnam of names nobody has: for the module, the socket path);
getpwnam calls per second from 2 threads; one full getpwent enumeration (median of 3).
Keys are spread over the whole table so that linear scans pay their average cost.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# tests/support (scripts/lib/pythonpath.sh)
from workbench_testkit.sandbox import Daemon, FixtureServer, Sandbox, BASE_ENV

import bench_peers
import bench_report

REPO = Path(__file__).resolve().parents[2]

RELEASE = Path(os.environ.get("WB_BENCH_RELEASE", REPO / "target/release"))
PEERS_ROOT = Path(os.environ.get("WB_PEERS_ROOT", REPO / "target/bench/peers/root"))
if not PEERS_ROOT.is_absolute():
    PEERS_ROOT = REPO / PEERS_ROOT
KEYS_PER_KIND = 64
BIG_GROUP = 5000
MISSES = [f"nosuch{i:05d}" for i in range(KEYS_PER_KIND)]
EXT_U = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User"
EXT_G = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:Group"


def probe(*args, check=True):
    p = subprocess.run([str(RELEASE / "nss-probe"), *map(str, args)], capture_output=True,
                       text=True, env=dict(BASE_ENV), timeout=900)
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"nss-probe {' '.join(map(str, args))} failed: {p.stdout}{p.stderr}")
    if check and p.returncode != 0:
        raise SystemExit(f"nss-probe {' '.join(map(str, args[:3]))} ... failed: {out}")
    return out


def spread(items, n):
    step = max(1, len(items) // n)
    return items[::step][:n]


def set_nsswitch(sandbox_etc, sources):
    path = sandbox_etc / "nsswitch.conf"
    lines = []
    for line in path.read_text().splitlines():
        key = line.split(":", 1)[0].strip()
        if key in ("passwd", "group", "shadow", "initgroups"):
            continue
        lines.append(line)
    lines += [f"passwd: {sources}", f"group: {sources}", f"shadow: {sources}"]
    # Rewritten in place: the file is bind-mounted over /etc/nsswitch.conf.
    write_in_place(path, "\n".join(lines) + "\n")


def write_in_place(path, text):
    with open(path, "w") as f:
        f.write(text)


def lines_of(text):
    return [line for line in text.splitlines() if line.count(":") >= 3]


def local_tables(host_passwd, host_group, n_lines):
    """/etc/passwd and /etc/group padded with local users f000001… to n_lines."""
    pw, gr = lines_of(host_passwd), lines_of(host_group)
    extra = max(0, n_lines - len(pw))
    for i in range(1, extra + 1):
        name, uid = f"f{i:06d}", 200000 + i
        pw.append(f"{name}:x:{uid}:{uid}:Files {i}:/home/{name}:/bin/bash")
    for i in range(1, max(0, n_lines - len(gr)) + 1):
        name, gid = f"fg{i:05d}", 300000 + i
        members = ",".join(f"f{j:06d}" for j in range(i, min(i + 3, extra + 1)))
        gr.append(f"{name}:x:{gid}:{members}")
    return pw, gr


class Rows:
    """Runs the measurements of one row and keeps them."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.results = {}

    def warm(self, keys):
        # One lookup of every key, each a separate glibc call from one getent process:
        # fills nscd's and SSSD's caches (and the daemon's negative cache for misses).
        for db, ks in (("passwd", keys["getpwnam"]), ("passwd", keys["getpwuid"]),
                       ("group", keys["getgrnam"] + keys["biggroup"]),
                       ("initgroups", keys["getgrouplist"]), ("passwd", MISSES)):
            subprocess.run(["getent", db, *map(str, ks)], capture_output=True,
                           env=dict(BASE_ENV), timeout=900)

    def measure(self, label, keys, enumerate_=True, only=None, after=None):
        """after(name), if given, is called after each measurement (SSSD's proof)."""
        secs = self.seconds
        row = {}
        runs = [("getpwnam", "getpwnam", keys["getpwnam"], 1, []),
                ("getpwuid", "getpwuid", keys["getpwuid"], 1, []),
                ("getgrnam", "getgrnam", keys["getgrnam"], 1, []),
                ("getgrouplist", "getgrouplist", keys["getgrouplist"], 1, [])]
        if keys["biggroup"]:
            runs.append(("biggroup", "getgrnam-static", keys["biggroup"], 1,
                         ["--prime", keys["getgrnam"][0]]))
        runs += [("miss", "getpwnam", MISSES, 1, ["--allow-notfound"]),
                 ("getpwnam/2", "getpwnam", keys["getpwnam"], 2, [])]
        if only:
            runs = [r for r in runs if r[0] in only]
        for name, kind, ks, threads, extra in runs:
            r = probe("bench", kind, *ks, "--seconds", secs, "--threads", threads, *extra)
            if name == "miss" and r["notfound"] != r["calls"]:
                raise SystemExit(f"{label}: a miss key was found: {r}")
            row[name] = r
            if after:
                after(name)
            first = f" first={r['first_ns'] / 1000:8.1f}us" if name == "biggroup" else ""
            print(f"  {label:<12} {name:<13} threads={threads} "
                  f"p50={r['p50_ns'] / 1000:8.2f}us p99={r['p99_ns'] / 1000:8.2f}us "
                  f"{r['calls_per_sec']:>12,.0f} calls/s{first}", flush=True)
        if enumerate_:
            e = probe("bench-enumerate", "passwd", "--repeat", 3)
            row["enumerate"] = e
            print(f"  {label:<12} enumerate     {e['count']:,} entries in "
                  f"{e['elapsed_ns'] / 1e6:.1f} ms", flush=True)
        self.results[label] = row
        return row


def make_directory(sandbox, n_users):
    data = sandbox.workdir / f"bench-directory-{n_users}.json"
    subprocess.run([sys.executable, str(REPO / "tests/fixture/make_directory.py"),
                    "--users", str(n_users), "--groups", str(max(1, n_users // 10)),
                    "--members-per-group", "20", "--big-group", str(min(BIG_GROUP, n_users)),
                    "--out", str(data)], check=True)
    return data


def getent_lines(db):
    p = subprocess.run(["getent", db], capture_output=True, text=True, env=dict(BASE_ENV),
                       timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"getent {db} through the module exited {p.returncode}")
    return lines_of(p.stdout)


def run_size(sandbox, n_users, args):
    etc = sandbox.workdir / "etc"
    print(f"\n== {n_users:,} users, {max(1, n_users // 10):,} groups of 20, "
          f"biggroup of {min(BIG_GROUP, n_users):,} ==", flush=True)
    data = make_directory(sandbox, n_users)
    # The host's own lines, whatever the previous size's last row left there (SSSD's
    # row ends on files-N): the daemon refuses directory users that collide with the
    # accounts in /etc/passwd, and took the previous size's users for local ones.
    write_in_place(etc / "passwd", sandbox.host_passwd)
    write_in_place(etc / "group", sandbox.host_group)
    server = FixtureServer(REPO, data, sandbox.workdir / f"scim-{n_users}").start(timeout=120)
    daemon = Daemon(RELEASE / "workbench-cached", sandbox.workdir / f"daemon-{n_users}", server,
                    log_level="warn", sync_interval=3600, page_size=1000)
    try:
        t0 = time.monotonic()
        daemon.start(timeout=600)
        status = daemon.status()
        info = {"users": n_users, "daemon_ready_s": round(time.monotonic() - t0, 2),
                "cached": status["cached"], "refused": status["refused"]["total"]}
        print(f"daemon: {status['cached']['users']} users, {status['cached']['groups']} groups "
              f"cached in {info['daemon_ready_s']} s; refused {status['refused']['total']}",
              flush=True)
        # The in-process map of the first copy: built after it, measured once published.
        deadline = time.monotonic() + 120
        while not (status["fast_path"].get("generation")
                   and status["fast_path"]["users"] >= status["cached"]["users"]):
            if time.monotonic() > deadline:
                raise SystemExit(f"no map published: {status['fast_path']}")
            time.sleep(0.1)
            status = daemon.status()
        info["map"] = status["fast_path"]

        # The directory as the module serves it, byte for byte: files-N, nscd and SSSD get
        # exactly these lines (behind the host's own).
        pw30, gr30 = local_tables(sandbox.host_passwd, sandbox.host_group, 30)
        set_nsswitch(etc, "workbench")
        dir_pw, dir_gr = getent_lines("passwd"), getent_lines("group")
        pwN = lines_of(sandbox.host_passwd) + dir_pw
        grN = lines_of(sandbox.host_group) + dir_gr
        info["files_n_lines"] = {"passwd": len(pwN), "group": len(grN)}

        def keys_for(pw, gr, big):
            u = spread([(f.split(":")[0], int(f.split(":")[2])) for f in pw], KEYS_PER_KIND)
            groups = [f.split(":")[0] for f in gr if f.split(":")[0] != "biggroup"]
            return {"getpwnam": [n for n, _ in u], "getpwuid": [i for _, i in u],
                    "getgrnam": spread(groups, KEYS_PER_KIND),
                    "getgrouplist": [n for n, _ in u], "biggroup": ["biggroup"] if big else []}

        def tables(pw, gr):
            write_in_place(etc / "passwd", "\n".join(pw) + "\n")
            write_in_place(etc / "group", "\n".join(gr) + "\n")

        rows = Rows(args.seconds)
        k30 = keys_for(pw30, gr30, False)
        kN = keys_for(dir_pw, dir_gr, True)
        print("measuring (p50/p99 per call, calls per second)", flush=True)

        tables(pw30, gr30)
        set_nsswitch(etc, "files")
        rows.measure("files-30", k30)

        tables(pwN, grN)
        rows.measure("files-N", kN)

        nscd = bench_peers.Nscd(PEERS_ROOT, sandbox.workdir / f"nscd-{n_users}")
        try:
            nscd.start()
            rows.warm(kN)
            before = nscd.stats()
            rows.measure("nscd", kN)
            after = nscd.stats()
        finally:
            nscd.stop()
        info["nscd"] = {"before": before, "after": after}
        hits = sum(after[d].get("cache hits on positive entries", 0) -
                   before[d].get("cache hits on positive entries", 0) for d in after)
        print(f"  nscd answered {hits:,} lookups from its cache during the row", flush=True)
        if hits <= 0:
            raise SystemExit("nscd served nothing: its row measured files, not nscd")

        set_nsswitch(etc, "floor")
        rows.measure("glibc-floor", kN, enumerate_=False,
                     only=("getpwnam", "getpwuid", "getgrnam", "getpwnam/2"))

        tables(pw30, gr30)
        set_nsswitch(etc, "files workbench")
        rows.warm(kN)
        lookups0 = daemon.status()["lookups"]
        rows.measure("workbench", kN)
        set_nsswitch(etc, "workbench")
        rows.measure("module-only", kN)
        status = daemon.status()
        info["daemon_lookups"] = status["lookups"] - lookups0
        print(f"  the daemon answered {info['daemon_lookups']:,} socket lookups during the "
              f"module rows; hit ratio {status['hit_ratio']:.3f}", flush=True)
        info["map_after"] = status["fast_path"]
    finally:
        # Also when a row fails: nothing we started outlives the run.
        if daemon.running():
            daemon.stop(timeout=60)
        server.stop()

    if args.peers:
        info["sssd"] = run_sssd(sandbox, rows, kN, pwN, grN, tables, etc, n_users,
                                args.sssd_timeout)
    return {"info": info, "rows": rows.results}


def run_sssd(sandbox, rows, keys, pwN, grN, tables, etc, n_users, timeout):
    """SSSD's row: its proxy provider over libnss_files (bench_peers says why not its
    files provider), the row's keys warmed once each, then measured. Proof that the
    memory cache answered, not the responder: sssd_nss logs every request it answers,
    and a measurement of keys it has cached must see none (the miss measurement,
    negative answers that the memory cache never holds, must see some: the count
    works). SSSD's log is kept in target/bench/sssd-N.log. No enumeration: SSSD
    enumerates only with `enumerate = true`, which makes the provider copy the whole
    directory at start-up, and getpwent never reads the memory cache anyway."""
    if not bench_peers.Sssd.has_proxy_provider(PEERS_ROOT):
        msg = ("skipped: this distribution's sssd has no proxy provider "
               "(libsss_proxy.so); no SSSD row")
        print(f"  sssd: {msg}", flush=True)
        return {"skipped": msg}
    tables(pwN, grN)
    # sssd resolves its own service user (root) at start-up, and never through itself
    # (_SSS_LOOPS): it starts under `files`, and the row then names `sss` alone.
    set_nsswitch(etc, "files")
    sssd = bench_peers.Sssd(PEERS_ROOT, sandbox.workdir / f"sssd-{n_users}", sandbox)
    # Polled until SSSD answers: a name none of the measured keys, so that an early
    # negative answer cannot stay cached for one of them.
    measured = set(keys["getpwnam"]) | set(keys["getgrouplist"])
    probe_name = next(line.split(":")[0] for line in reversed(pwN)
                      if line.split(":")[0] not in measured)
    requests = {}
    try:
        sssd.start(probe_name, timeout=timeout)
        print(f"  sssd: proxy provider answered after {sssd.ready_s:.1f} s", flush=True)
        set_nsswitch(etc, "sss")
        keys, missing = sssd_keys(keys)
        if missing:
            print(f"  sssd: WARNING: SSSD does not find {len(missing)} of the keys, left "
                  f"out of its row: {' '.join(missing[:8])}", flush=True)
        # Twice: after one pass, a group that a later initgroups of the same pass went
        # through (the first key's private group, biggroup) was asked of the responder
        # again on its next lookup (seen in its log: SSSD drops a user's groups from the
        # memory cache when the provider reports that user's initgroups). The second
        # pass is answered from SSSD's own cache and puts them back.
        rows.warm(keys)
        rows.warm(keys)
        last = [sssd.responder_requests()]

        def after(name):
            now = sssd.responder_requests()
            requests[name] = now - last[0]
            last[0] = now

        rows.measure("sssd", keys, enumerate_=False, after=after)
        mc = sssd.mc_sizes()
    except bench_peers.PeerError as e:
        print(f"  sssd: skipped: {e}", flush=True)
        return {"skipped": str(e)}
    finally:
        # Then nothing of SSSD is left for the next size (Sssd.unmount says why).
        set_nsswitch(etc, "files")
        try:
            sssd.stop()
        finally:
            log = getattr(sssd, "log", None)
            kept = REPO / f"target/bench/sssd-{n_users}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            if log and log.exists():
                kept.write_bytes(log.read_bytes())
    print(f"  sssd memory cache files: {mc}", flush=True)
    print(f"  sssd responder requests per measurement: {requests} (log: {kept})",
          flush=True)
    if not mc.get("passwd"):
        raise SystemExit("SSSD's memory cache is empty: its row did not measure it")
    served = {name: n for name, n in requests.items() if name != "miss" and n}
    if served:
        raise SystemExit(f"SSSD's responder answered during {sorted(served)}: its row "
                         f"measured its socket, not only its memory cache: {requests}")
    if not requests.get("miss"):
        raise SystemExit("the SSSD responder logged no request even for the misses: "
                         "the memory-cache proof cannot see its socket")
    return {"ready_s": round(sssd.ready_s, 1), "mc_bytes": mc,
            "responder_requests": requests}


def sssd_keys(keys):
    """The keys SSSD finds (all of them, with the proxy provider over the same lines):
    any it does not find are left out of the row, and named, rather than failing it."""
    def found(db, ks):
        p = subprocess.run(["getent", db, *map(str, ks)], capture_output=True, text=True,
                           env=dict(BASE_ENV), timeout=900)
        return {line.split(":")[0] for line in p.stdout.splitlines()} | \
            {line.split(":")[2] for line in p.stdout.splitlines() if line.count(":") >= 2}
    users = found("passwd", keys["getpwnam"])
    uids = found("passwd", keys["getpwuid"])
    groups = found("group", keys["getgrnam"] + keys["biggroup"])
    out = {"getpwnam": [k for k in keys["getpwnam"] if k in users],
           "getpwuid": [k for k in keys["getpwuid"] if str(k) in uids],
           "getgrnam": [k for k in keys["getgrnam"] if k in groups],
           "getgrouplist": [k for k in keys["getgrouplist"] if k in users],
           "biggroup": [k for k in keys["biggroup"] if k in groups]}
    missing = [str(k) for kind in out for k in keys[kind] if k not in out[kind]]
    if not out["getpwnam"] or not out["getgrnam"] or not out["biggroup"]:
        raise bench_peers.PeerError(f"SSSD finds none of the keys of a lookup: "
                                    f"{' '.join(missing[:8])}")
    return out, sorted(set(missing))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    ap.add_argument("--users", default="10000,100000",
                    help="directory sizes, comma-separated (one size with --misses)")
    ap.add_argument("--peers", action="store_true",
                    help="add SSSD's memory cache (proxy provider over files-N) as a row")
    ap.add_argument("--sssd-timeout", type=float, default=600,
                    help="seconds SSSD may take to answer its first lookup (per size)")
    ap.add_argument("--json", type=Path, default=REPO / "target/bench/results.json")
    ap.add_argument("--misses", type=int, default=0, metavar="M",
                    help="instead: the daemon's CPU per cache miss, M users added on the "
                         "server and each looked up once (use with --users 100000)")
    ap.add_argument("--scale", action="store_true",
                    help="instead: memory and time of full copies at 10,000 and 100,000 "
                         "users (bench_scale.py)")
    ap.add_argument("--sizes", default="10000,100000", help="with --scale")
    ap.add_argument("--steady", type=float, default=0, metavar="SECONDS",
                    help="instead: the share of warm lookups the in-process map answers "
                         "over SECONDS, TTL and sync interval scaled down (bench_steady.py)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.users.split(",")]

    sandbox = Sandbox(RELEASE / "libnss_workbench.so", local_clash=False,
                      extra_modules={"libnss_floor.so.2": RELEASE / "libnss_floor.so"}).setup()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    if args.scale:
        import bench_scale
        set_nsswitch(sandbox.workdir / "etc", "files workbench")
        rows = bench_scale.run(REPO, sandbox, RELEASE, [int(x) for x in args.sizes.split(",")],
                               args.misses or 50)
        args.json.write_text(json.dumps(rows, indent=1))
        sandbox.teardown()
        return
    if args.steady:
        import bench_steady
        set_nsswitch(sandbox.workdir / "etc", "workbench")
        rows = bench_steady.run(REPO, sandbox, RELEASE, seconds=args.steady)
        args.json.write_text(json.dumps(rows, indent=1))
        sandbox.teardown()
        return
    if args.misses:
        run_misses(sandbox, sizes[-1], args)
        sandbox.teardown()
        return

    t0 = time.monotonic()
    results = {}
    try:
        for n in sizes:
            results[str(n)] = run_size(sandbox, n, args)
    finally:
        sandbox.teardown()
    bench_report.report(results, peers=args.peers)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\nraw figures: {args.json}; {time.monotonic() - t0:.0f} s in all")


def run_misses(sandbox, n_users, args):
    import bench_miss
    data = make_directory(sandbox, n_users)
    directory = json.loads(data.read_text())
    dir_users = [(u[EXT_U]["posixUserName"], u[EXT_U]["posixUserId"])
                 for u in directory["users"]]
    server = FixtureServer(REPO, data, sandbox.workdir / "scim").start(timeout=120)
    daemon = Daemon(RELEASE / "workbench-cached", sandbox.workdir / "daemon", server,
                    log_level="warn", sync_interval=3600, page_size=1000).start(timeout=600)
    set_nsswitch(sandbox.workdir / "etc", "files workbench")
    r = bench_miss.run(REPO, sandbox, server, daemon, dir_users, args.misses)
    bench_miss.report(r)
    daemon.stop()
    server.stop()
    args.json.write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
