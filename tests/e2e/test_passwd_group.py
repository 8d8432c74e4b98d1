"""passwd and group data through glibc: getent, id, ls (design.md §2 mapping, §5)."""

import os

import pytest

from conftest import ALICE_LINE, SAMPLE_USERS, show

pytestmark = pytest.mark.usefixtures("module_answers")

SAMPLE_GROUPS = {"devs", "data_science"}
# User private groups the daemon synthesises (bob's primary gid 2001 is devs).
SAMPLE_UPGS = {"alice": 1001, "carol": 1003, "dave": 1004, "erin": 1005}


def ok(p):
    assert p.returncode == 0, show(p)
    return p.stdout


def names(text):
    return [line.split(":", 1)[0] for line in text.splitlines() if line]


def local_names(path):
    with open(path, encoding="utf-8") as f:
        return {line.split(":", 1)[0] for line in f if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("key", ["alice", "1001"])
def test_getent_passwd_alice(getent, key):
    assert ok(getent("passwd", key)) == ALICE_LINE + "\n"


@pytest.mark.parametrize("name,line", [
    # posixGroupId, homeDirectory
    ("bob", "bob:x:1002:2001:Bob Baker:/srv/home/bob:/bin/bash"),
    # inactive: still a passwd entry; gecos from name.formatted (no displayName)
    ("carol", "carol:x:1003:1003:Carol Cook:/home/carol:/bin/bash"),
    # no password hash: still a passwd entry
    ("dave", "dave:x:1004:1004:Dave Dunn:/home/dave:/bin/bash"),
])
def test_getent_passwd_mapping(getent, name, line):
    assert ok(getent("passwd", name)) == line + "\n"


def test_unprivileged_caller_sees_passwd_and_group(getent):
    # Socket 0666: any local process may look up passwd and group data.
    assert ok(getent("passwd", "alice", user=65534)) == ALICE_LINE + "\n"
    assert ok(getent("group", "devs", user=(1002, 2001))) == "devs:x:2001:alice,bob\n"


@pytest.mark.parametrize("key", ["devs", "2001"])
def test_getent_group_devs(getent, key):
    assert ok(getent("group", key)) == "devs:x:2001:alice,bob\n"


def test_getent_group_data_science_coerced_name(getent):
    # displayName "Data Science" coerced; unknown member id u-ghost skipped.
    out = ok(getent("group", "data_science")).rstrip("\n")
    name, pw, gid, members = out.split(":")
    assert (name, pw, gid) == ("data_science", "x", "2002")
    assert sorted(members.split(",")) == ["alice", "carol"]
    assert ok(getent("group", "2002")) == out + "\n"


@pytest.mark.parametrize("name,gid", sorted(SAMPLE_UPGS.items()))
def test_user_private_groups(getent, name, gid):
    assert ok(getent("group", name)) == f"{name}:x:{gid}:\n"
    assert ok(getent("group", str(gid))) == f"{name}:x:{gid}:\n"


def test_bob_has_no_private_group(getent):
    # bob's primary gid 2001 belongs to devs: no group named bob is synthesised.
    p = getent("group", "bob")
    assert p.returncode == 2, show(p)


def test_group_without_gid_is_skipped(getent):
    for key in ("no_gid", "No GID", "nogid"):
        p = getent("group", key)
        assert p.returncode == 2, show(p)
    assert "no_gid" not in names(ok(getent("group")))


def test_id_alice(run):
    assert ok(run(["id", "alice"])) == (
        "uid=1001(alice) gid=1001(alice) groups=1001(alice),2001(devs),2002(data_science)\n")


def test_id_bob(run):
    assert ok(run(["id", "bob"])) == "uid=1002(bob) gid=2001(devs) groups=2001(devs)\n"


def test_getent_initgroups_alice(getent):
    fields = ok(getent("initgroups", "alice")).split()
    assert fields[0] == "alice"
    gids = {int(g) for g in fields[1:]}
    # Supplementary groups; the primary group may or may not be repeated.
    assert {2001, 2002} <= gids <= {1001, 2001, 2002}, fields


def test_setpriv_init_groups_through_module(run):
    # setpriv --init-groups calls initgroups(3): the module's initgroups_dyn.
    out = ok(run(["id", "-G"], user=(1001, 1001), init_groups=True))
    assert {int(g) for g in out.split()} == {1001, 2001, 2002}


def test_enumerate_passwd_lists_directory_after_local(getent):
    listed = names(ok(getent("passwd")))
    local = local_names("/etc/passwd")
    directory = [n for n in listed if n not in local]
    assert set(directory) == SAMPLE_USERS, listed
    assert len(directory) == len(set(directory)), f"duplicates: {directory}"
    last_local = max(i for i, n in enumerate(listed) if n in local)
    first_dir = min(listed.index(n) for n in directory)
    assert last_local < first_dir, listed
    assert ALICE_LINE in ok(getent("passwd")).splitlines()


def test_enumerate_group_lists_directory_after_local(getent):
    listed = names(ok(getent("group")))
    local = local_names("/etc/group")
    directory = [n for n in listed if n not in local]
    assert set(directory) == SAMPLE_GROUPS | set(SAMPLE_UPGS), listed
    assert len(directory) == len(set(directory)), f"duplicates: {directory}"
    last_local = max(i for i, n in enumerate(listed) if n in local)
    assert last_local < min(listed.index(n) for n in directory), listed
    assert "devs:x:2001:alice,bob" in ok(getent("group")).splitlines()


def test_service_switch_workbench_only(getent):
    assert ok(getent("-s", "workbench", "passwd", "bob")).startswith("bob:x:1002:2001:")
    assert ok(getent("-s", "workbench", "group", "devs")) == "devs:x:2001:alice,bob\n"
    # The module knows nothing about local accounts (uid 0 is below min-uid).
    for args in (("passwd", "root"), ("passwd", "0"), ("group", "root")):
        p = getent("-s", "workbench", *args)
        assert p.returncode == 2, show(p)


def test_ls_shows_directory_names(run, sandbox):
    path = sandbox.workdir / "owned-by-bob"
    path.write_text("x\n")
    os.chown(path, 1002, 2001)
    fields = ok(run(["ls", "-l", str(path)])).split()
    assert fields[2:4] == ["bob", "devs"], fields


@pytest.mark.parametrize("args", [
    ("passwd", "nosuchuser"), ("passwd", "4242"), ("group", "nosuchgroup"),
    ("group", "4243"), ("passwd", "Alice"), ("passwd", "alice@example.com"),
])
def test_unknown_is_not_found(getent, args):
    p = getent(*args)
    assert p.returncode == 2 and p.stdout == "", show(p)


def test_status_counts_sample(daemon_status):
    st = daemon_status()
    assert st["cached"]["users"] == len(SAMPLE_USERS), st
    assert st["server"]["reachable"] is True, st
    assert st["tokens"] == {"user": "ok", "admin": "ok"}, st
    assert st["serving_stale"] is False, st
    assert st["lookups"] > 0, st
