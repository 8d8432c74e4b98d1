"""Hostile data from the server (design.md §6, tests/fixture/README.md
"hostile-directory.json: expected fate", written down in hostile_directory.py): each
hostile entry is refused alone, the good ones are served, `status` counts refusals by
reason, each refusal is logged once with its SCIM id (also across syncs), and a refused
user is never a group member.

The directory served is the sample directory plus hostile-directory.json, so that the
module_answers check (alice) holds here too."""

import json

import pytest

from conftest import SAMPLE, show
from hostile_directory import (GOOD_GROUPS, GOOD_LINES, HOSTILE, REFUSED_GROUPS, REFUSED_NAMES,
                               REFUSED_UIDS, REFUSED_USERS, SAMPLE_LINES, expected_refusals)
from workbench_testkit.sandbox import tail

pytestmark = pytest.mark.usefixtures("module_answers")


@pytest.fixture(scope="module")
def hostile_scim(services, sandbox):
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    hostile = json.loads(HOSTILE.read_text(encoding="utf-8"))
    path = sandbox.workdir / "hostile-plus-sample.json"
    path.write_text(json.dumps({"users": sample["users"] + hostile["users"],
                                "groups": sample["groups"] + hostile["groups"]}),
                    encoding="utf-8")
    return services.start_server(path, "scim-hostile")


@pytest.fixture
def daemon(services, hostile_scim):
    return services.ensure(hostile_scim)


def refusal_lines(daemon, scim_id):
    log = daemon.log_path.read_text(errors="replace")
    return [l for l in log.splitlines()
            if "refused" in l and f'SCIM id "{scim_id}":' in l]


def test_good_entries_are_served(getent):
    for name, line in {**SAMPLE_LINES, **GOOD_LINES}.items():
        p = getent("passwd", name)
        assert p.stdout == line + "\n", show(p)
    for name, line in GOOD_GROUPS.items():
        p = getent("group", name)
        assert p.stdout == line + "\n", show(p)


def test_module_lists_only_the_good_users(getent):
    p = getent("-s", "workbench", "passwd")
    assert p.returncode == 0, show(p)
    assert sorted(p.stdout.splitlines()) == sorted({**SAMPLE_LINES, **GOOD_LINES}.values())


def test_refused_users_are_absent(getent, probe):
    for key in REFUSED_NAMES + REFUSED_UIDS:
        p = getent("-s", "workbench", "passwd", key)
        assert p.returncode == 2 and p.stdout == "", show(p)
    for key in ("evilgroup", "lowgroup", "dupgida", "dupgidb", "nogidgroup", "4003", "4010",
                "4011"):
        p = getent("-s", "workbench", "group", key)
        assert p.returncode == 2 and p.stdout == "", show(p)
    # Authoritatively absent (NOTFOUND), not an error: the duplicates too, although
    # a filtered lookup of one of them alone finds a single, valid-looking entry.
    for db, key in (("passwd", "dupuida"), ("passwd", "dupname"), ("passwd", "3020"),
                    ("passwd", "evilroot"), ("passwd", "nested"), ("group", "dupgida"),
                    ("group", "4010")):
        p, data = probe("lookup", db, key, "--expect", "notfound")
        assert p.returncode == 0, show(p)
    # Local accounts keep their own entries.
    p = getent("passwd", "daemon")
    assert p.stdout.startswith("daemon:x:1:1:"), show(p)


def test_refused_user_is_never_a_group_member(getent, run):
    p = getent("-s", "workbench", "group")
    assert p.returncode == 0, show(p)
    good = set(SAMPLE_LINES) | set(GOOD_LINES)
    for line in p.stdout.splitlines():
        members = [m for m in line.split(":")[3].split(",") if m]
        assert set(members) <= good, line
    p = run(["id", "hgood1"])
    assert p.stdout == "uid=3001(hgood1) gid=3001(hgood1) groups=3001(hgood1),4001(hgroup)\n", show(p)


def test_status_counts_refusals_by_reason(daemon_status):
    st = daemon_status()
    counts = {k: v for k, v in st["refused"].items() if k != "total"}
    assert counts == expected_refusals(), st["refused"]
    assert st["refused"]["total"] == len(REFUSED_USERS) + len(REFUSED_GROUPS), st["refused"]
    # Root sees each one with its SCIM id.
    seen = {(e["kind"], e["scim_id"]): e["reason"] for e in st["refused_entries"]}
    want = {**{("user", k): v for k, v in REFUSED_USERS.items()},
            **{("group", k): v for k, v in REFUSED_GROUPS.items()}}
    assert seen == want, st["refused_entries"]
    assert st["cached"]["users"] == len(SAMPLE_LINES) + len(GOOD_LINES), st
    assert st["server"]["last_error"] is None, st


def test_each_refusal_logged_once_across_syncs(daemon):
    ids = list(REFUSED_USERS) + list(REFUSED_GROUPS)
    for scim_id in ids:
        assert len(refusal_lines(daemon, scim_id)) == 1, (scim_id, tail(daemon.log_path))
    p = daemon.cli("sync")
    assert p.returncode == 0, show(p)
    assert p.stdout.startswith("sync ok:"), show(p)
    for scim_id in ids:
        assert len(refusal_lines(daemon, scim_id)) == 1, (scim_id, tail(daemon.log_path))
    # The log names each refusal, never a password hash from the data.
    log = daemon.log_path.read_text(errors="replace")
    assert "$6$" not in log
