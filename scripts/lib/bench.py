"""scripts/bench: lookups through glibc, workbench module vs the files backend.

Every figure comes from tests/probe (`nss-probe bench`), which calls glibc's own
getpwnam_r/getpwuid_r/getgrnam_r/getgrouplist, so nsswitch.conf decides who answers.
Configurations, all measured in this one run (the machines are shared and noisy: only
the ratios mean much):

  files-30     passwd/group: files, a 30-line /etc/passwd      (the baseline)
  files-10k    passwd/group: files, a 10,000-line /etc/passwd
  workbench    passwd/group: files workbench (30-line files, then the module), warm daemon
  module-only  passwd/group: workbench

Keys are spread over the whole table so that linear scans pay their average cost.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# tests/support (scripts/lib/pythonpath.sh)
from workbench_testkit.sandbox import Daemon, FixtureServer, Sandbox, BASE_ENV

REPO = Path(__file__).resolve().parents[2]

RELEASE = Path(os.environ.get("WB_BENCH_RELEASE", REPO / "target/release"))
KINDS = ["getpwnam", "getpwuid", "getgrnam", "getgrouplist"]
KEYS_PER_KIND = 64


def probe(*args):
    p = subprocess.run([str(RELEASE / "nss-probe"), *map(str, args)], capture_output=True,
                       text=True, env=dict(BASE_ENV), timeout=600)
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"nss-probe {' '.join(map(str, args))} failed: {p.stdout}{p.stderr}")
    if p.returncode != 0:
        raise SystemExit(f"nss-probe {' '.join(map(str, args))} failed: {out}")
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
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_in_place(path, text):
    with open(path, "w") as f:
        f.write(text)


def local_tables(host_passwd, host_group, n_lines):
    """/etc/passwd and /etc/group padded with local users f000001… to n_lines."""
    pw = host_passwd.rstrip("\n").splitlines()
    gr = host_group.rstrip("\n").splitlines()
    extra = max(0, n_lines - len(pw))
    users, groups = [], []
    for i in range(1, extra + 1):
        name, uid = f"f{i:06d}", 200000 + i
        pw.append(f"{name}:x:{uid}:{uid}:Files {i}:/home/{name}:/bin/bash")
        users.append((name, uid))
    for i in range(1, max(0, n_lines - len(gr)) + 1):
        name, gid = f"fg{i:05d}", 300000 + i
        members = ",".join(f"f{j:06d}" for j in range(i, min(i + 3, extra + 1)))
        gr.append(f"{name}:x:{gid}:{members}")
        groups.append(name)
    # Keys for the benchmark: every line of the tables, so scans pay their average cost.
    users = [(f.split(":")[0], int(f.split(":")[2])) for f in pw if f.count(":") >= 6]
    groups = [f.split(":")[0] for f in gr if f.count(":") >= 3]
    return "\n".join(pw) + "\n", "\n".join(gr) + "\n", users, groups


def measure(label, keys, seconds, results):
    row = {}
    for kind in KINDS:
        for threads in (1, 2):
            r = probe("bench", kind, *keys[kind], "--seconds", seconds, "--threads", threads)
            row[f"{kind}/{threads}"] = r
            print(f"  {label:<12} {kind:<13} threads={threads} "
                  f"p50={r['p50_ns'] / 1000:8.2f}us p99={r['p99_ns'] / 1000:8.2f}us "
                  f"{r['calls_per_sec']:>12,.0f} calls/s", flush=True)
    results[label] = row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--json", type=Path, default=REPO / "target/bench/results.json")
    ap.add_argument("--misses", type=int, default=0, metavar="M",
                    help="instead: the daemon's CPU per cache miss, M users added on the "
                         "server and each looked up once (use with --users 100000)")
    ap.add_argument("--scale", action="store_true",
                    help="instead: memory and time of full copies at 10,000 and 100,000 "
                         "users (bench_scale.py)")
    ap.add_argument("--sizes", default="10000,100000", help="with --scale")
    args = ap.parse_args()

    sandbox = Sandbox(RELEASE / "libnss_workbench.so", local_clash=False).setup()
    if args.scale:
        import bench_scale
        set_nsswitch(sandbox.workdir / "etc", "files workbench")
        sizes = [int(x) for x in args.sizes.split(",")]
        rows = bench_scale.run(REPO, sandbox, RELEASE, sizes, args.misses or 50)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
        sandbox.teardown()
        return
    etc = sandbox.workdir / "etc"
    data = sandbox.workdir / "bench-directory.json"
    subprocess.run([sys.executable, str(REPO / "tests/fixture/make_directory.py"),
                    "--users", str(args.users), "--groups", str(max(1, args.users // 10)),
                    "--members-per-group", "20", "--out", str(data)], check=True)
    directory = json.loads(data.read_text())
    ext_u = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User"
    ext_g = "urn:rstudio:params:scim:schemas:extension:workbench:1.0:Group"
    dir_users = [(u[ext_u]["posixUserName"], u[ext_u]["posixUserId"]) for u in directory["users"]]
    dir_groups = [g[ext_g]["posixGroupName"] for g in directory["groups"]]

    server = FixtureServer(REPO, data, sandbox.workdir / "scim").start()
    daemon = Daemon(RELEASE / "workbench-cached", sandbox.workdir / "daemon", server,
                    log_level="warn", sync_interval=3600, page_size=1000).start(timeout=300)
    status = daemon.status()
    print(f"daemon: {status['cached']['users']} users, {status['cached']['groups']} groups "
          f"cached; refused {status['refused']['total']}", flush=True)

    if args.misses:
        import bench_miss
        set_nsswitch(etc, "files workbench")
        r = bench_miss.run(REPO, sandbox, server, daemon, dir_users, args.misses)
        bench_miss.report(r)
        daemon.stop()
        server.stop()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(r, indent=1))
        sandbox.teardown()
        return

    p30, g30, f30_users, f30_groups = local_tables(sandbox.host_passwd, sandbox.host_group, 30)
    p10k, g10k, f10k_users, f10k_groups = local_tables(sandbox.host_passwd, sandbox.host_group,
                                                       args.users)
    secs = args.seconds
    results = {}

    def keys_for(users, groups):
        u = spread(users, KEYS_PER_KIND)
        return {"getpwnam": [n for n, _ in u], "getpwuid": [i for _, i in u],
                "getgrnam": spread(groups, KEYS_PER_KIND), "getgrouplist": [n for n, _ in u]}

    print("measuring (p50/p99 per call, calls per second)", flush=True)
    write_in_place(etc / "passwd", p30)
    write_in_place(etc / "group", g30)
    set_nsswitch(etc, "files")
    measure("files-30", keys_for(f30_users, f30_groups), secs, results)

    write_in_place(etc / "passwd", p10k)
    write_in_place(etc / "group", g10k)
    measure("files-10k", keys_for(f10k_users, f10k_groups), secs, results)
    t0 = probe("bench-enumerate", "passwd", "--repeat", 3)
    results["enumerate/files-10k"] = t0

    write_in_place(etc / "passwd", p30)
    write_in_place(etc / "group", g30)
    set_nsswitch(etc, "files workbench")
    wb_keys = keys_for(dir_users, dir_groups)
    measure("workbench", wb_keys, secs, results)
    set_nsswitch(etc, "workbench")
    measure("module-only", wb_keys, secs, results)
    t1 = probe("bench-enumerate", "passwd", "--repeat", 3)
    results["enumerate/module-only"] = t1

    status = daemon.status()
    daemon.stop()
    server.stop()

    print()
    print(f"ratios against files-30 (p50 latency: lower is better; throughput: higher is better)")
    print(f"{'lookup':<20}{'files-10k':>12}{'workbench':>12}{'module-only':>13}")
    for kind in KINDS:
        for threads in (1, 2):
            key = f"{kind}/{threads}"
            base = results["files-30"][key]
            cells = []
            for label in ("files-10k", "workbench", "module-only"):
                r = results[label][key]
                cells.append(f"{r['p50_ns'] / base['p50_ns']:.2f}x")
            print(f"{key:<20}{cells[0]:>12}{cells[1]:>12}{cells[2]:>13}")
    print()
    for kind in KINDS:
        base = results["files-30"][f"{kind}/2"]["calls_per_sec"]
        wb = results["workbench"][f"{kind}/2"]["calls_per_sec"]
        print(f"throughput {kind:<13} 2 threads: workbench/files-30 = {wb / base:.2f}")
    e_files, e_mod = results["enumerate/files-10k"], results["enumerate/module-only"]
    print(f"enumerate: files-10k {e_files['count']} entries in "
          f"{e_files['elapsed_ns'] / 1e6:.1f} ms; module {e_mod['count']} entries in "
          f"{e_mod['elapsed_ns'] / 1e6:.1f} ms; ratio "
          f"{e_mod['elapsed_ns'] / max(1, e_files['elapsed_ns']):.2f}")
    print(f"daemon lookups served: {status['lookups']}, hit ratio {status['hit_ratio']:.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"raw figures: {args.json}")
    sandbox.teardown()


if __name__ == "__main__":
    main()
