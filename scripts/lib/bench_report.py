"""scripts/bench's summary: per size, the figures of every row, the ratios against
files-30 (and files-N where files-30 has nothing to compare: the 5,000-member group,
enumeration) and against SSSD when it ran, and issue 14's targets beside the module's
figures. The targets are informational: PASS/FAIL text, never an exit status."""

COLUMNS = [("getpwnam", "getpwnam"), ("getpwuid", "getpwuid"), ("getgrnam", "getgrnam"),
           ("getgrouplist", "getgrouplist"), ("biggroup", "getgrnam 5k"),
           ("miss", "miss")]
ROW_ORDER = ["files-30", "files-N", "nscd", "glibc-floor", "workbench", "module-only", "sssd"]
MODULE_ROWS = ["workbench", "module-only"]


def us(ns):
    v = ns / 1000
    if v < 10:
        return f"{v:.2f}"
    if v < 1000:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x" if a / b < 100 else f"{a / b:,.0f}x"


def p50(row, name):
    r = row.get(name)
    return r["p50_ns"] if r else None


def figures(size, rows, info):
    labels = [label for label in ROW_ORDER if label in rows]
    print(f"\n=== {int(size):,} users: p50 / p99 per call in us (glibc, one thread); "
          f"getpwnam calls/s from 2 threads; getpwent of every user ===")
    head = f"{'row':<12}" + "".join(f"{t:>19}" for _, t in COLUMNS)
    print(head + f"{'1st 5k':>9}{'2 threads/s':>13}{'enumerate':>19}")
    for label in labels:
        row = rows[label]
        cells = []
        for name, _ in COLUMNS:
            r = row.get(name)
            cells.append(f"{us(r['p50_ns'])} / {us(r['p99_ns'])}" if r else "-")
        first = us(row["biggroup"]["first_ns"]) if "biggroup" in row else "-"
        thr = f"{row['getpwnam/2']['calls_per_sec']:,.0f}"
        e = row.get("enumerate")
        enum = f"{e['count']:,} in {e['elapsed_ns'] / 1e6:.1f} ms" if e else "-"
        print(f"{label:<12}" + "".join(f"{c:>19}" for c in cells) +
              f"{first:>9}{thr:>13}{enum:>19}")


def ratios(rows, base_label, title):
    base = rows.get(base_label)
    if not base:
        return
    files_n = rows.get("files-N", {})
    print(f"\np50 ratios against {title} (lower is better; 2 threads: calls/s, higher is "
          f"better)")
    print(f"{'row':<12}" + "".join(f"{t:>14}" for _, t in COLUMNS) +
          f"{'2 threads':>12}{'enumerate':>12}")
    for label in ROW_ORDER:
        if label not in rows or label == base_label:
            continue
        row = rows[label]
        cells = []
        for name, _ in COLUMNS:
            ref = base if name in base else files_n
            mark = "" if name in base else "*"
            cells.append(ratio(p50(row, name), p50(ref, name)) + mark)
        thr = ratio(row["getpwnam/2"]["calls_per_sec"], base["getpwnam/2"]["calls_per_sec"])
        eref = files_n if base_label == "files-30" else base
        # files-30 lists 30 users: no enumeration to compare.
        enum = "-" if label == "files-30" else ratio(row.get("enumerate", {}).get("elapsed_ns"),
                                                     eref.get("enumerate", {}).get("elapsed_ns"))
        if base_label == "files-30":
            enum += "*"
        print(f"{label:<12}" + "".join(f"{c:>14}" for c in cells) + f"{thr:>12}{enum:>12}")
    if base_label == "files-30":
        print("  * against files-N: files-30 has no 5,000-member group, and lists 30 users")


def floor_lines(rows):
    """What glibc itself costs per call (the floor module's row), and what is left of
    each module row once it is taken away: the module's own share."""
    floor, f30 = rows.get("glibc-floor"), rows["files-30"]
    if not floor:
        return
    print("\nglibc's own cost per call (glibc-floor: a module that answers at once; since "
          "glibc 2.33 every module call\nstat()s /etc/nsswitch.conf first): no NSS module "
          "can be faster than this row")
    for kind in ("getpwnam", "getpwuid", "getgrnam"):
        v = p50(floor, kind)
        own = "  ".join(f"{label} {us(max(0, p50(rows[label], kind) - v))} us"
                        for label in MODULE_ROWS if label in rows)
        print(f"  {kind:<10} floor p50 {us(v)} us = {ratio(v, p50(f30, kind))} files-30; "
              f"above the floor: {own}")
    print(f"  2 threads  floor {floor['getpwnam/2']['calls_per_sec']:,.0f} getpwnam/s")


def targets(size, rows, info):
    sssd = rows.get("sssd")
    f30, fN = rows["files-30"], rows["files-N"]
    floor_lines(rows)
    note = "" if int(size) == 100000 else "; the issue sets them for 100,000 users"
    print(f"\nissue 14 targets at {int(size):,} users (informational{note})")
    for label in MODULE_ROWS:
        row = rows.get(label)
        if not row:
            continue
        checks = []
        for kind in ("getpwnam", "getpwuid", "getgrnam"):
            v = p50(row, kind)
            checks.append((f"{kind} p50", f"{us(v)} us", "<= 0.5 us", v <= 500))
            checks.append((f"{kind} p50 / files-30", ratio(v, p50(f30, kind)), "<= 0.1x",
                           v <= 0.1 * p50(f30, kind)))
            if sssd:
                checks.append((f"{kind} p50 / sssd", ratio(v, p50(sssd, kind)), "<= 0.5x",
                               v <= 0.5 * p50(sssd, kind)))
        v = p50(row, "getgrouplist")
        checks.append(("getgrouplist p50", f"{us(v)} us", "<= 1 us", v <= 1000))
        v = p50(row, "biggroup")
        checks.append(("getgrnam() 5,000 members p50", f"{us(v)} us", "<= 20 us", v <= 20000))
        v = row["getpwnam/2"]["calls_per_sec"]
        checks.append(("getpwnam, 2 threads", f"{v:,.0f}/s", ">= 2,000,000/s", v >= 2e6))
        v, ref = row["enumerate"]["elapsed_ns"], fN["enumerate"]["elapsed_ns"]
        checks.append(("getpwent, all users / files-N", ratio(v, ref), "<= 2x", v <= 2 * ref))
        v = p50(row, "miss")
        checks.append(("miss (socket path) p50", f"{us(v)} us", "<= 30 us", v <= 30000))
        print(f"  {label}")
        for what, fig, target, ok in checks:
            print(f"    {what:<32}{fig:>14}   target {target:<16}{'PASS' if ok else 'FAIL'}")
    m = info.get("map_after") or info.get("map")
    if m:
        ms = m.get("last_build_cpu_ms", 0)
        print(f"    {'map build and publish CPU':<32}{ms:>11} ms   target {'< 1,000 ms':<16}"
              f"{'PASS' if ms < 1000 else 'FAIL'}")
        print(f"    map: generation {m.get('generation')}, {m.get('users')} users, "
              f"{m.get('groups')} groups, {m.get('size_bytes', 0) / (1 << 20):.1f} MiB")
    else:
        print("  map build and publish: n/a, this build's daemon publishes no map")


def report(results, peers):
    for size, res in results.items():
        rows, info = res["rows"], res["info"]
        figures(size, rows, info)
        ratios(rows, "files-30", "files-30")
        if "sssd" in rows:
            ratios(rows, "sssd", "SSSD's memory cache")
        elif peers:
            print(f"\nno SSSD row: {info.get('sssd', {}).get('skipped', 'not run')}")
        targets(size, rows, info)
