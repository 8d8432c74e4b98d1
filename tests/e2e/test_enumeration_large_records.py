"""Enumeration replies are cut by bytes, not by record count (issue 10 item 8): no
directory can push a reply over the wire's frame limit, and every entry is still listed
exactly once through glibc's getent (setpwent/getpwent_r/endpwent through the module).

Users with 32-character names, 1 KB gecos and 4 KB homes; groups of 4,000 such members,
so that a page of the 256 groups the module asks for would be larger than 16 MiB.
"""

import json

import pytest

from conftest import SAMPLE, show

pytestmark = pytest.mark.usefixtures("module_answers")

LONG_USERS = 4000
LONG_GROUPS = 125
LONG_HOME_USERS = 800


def long_name(i):
    """32 characters, the longest name the daemon accepts."""
    return f"longname{i:05d}".ljust(32, "x")


def long_home(i):
    """3,830 bytes: near PATH_MAX, with components within NAME_MAX."""
    return f"/home/{i:05d}/" + "/".join(["d" * 200] * 19)


@pytest.fixture(scope="module")
def long_scim(services, sandbox):
    """The sample directory plus LONG_USERS users with 32-character names (the first
    LONG_HOME_USERS also with a 5,000-character displayName, cut to 1,024 bytes, and a
    3,830-byte home) and LONG_GROUPS groups of every one of them. Each group record is
    ~144 KB, so the module's first page of groups (256 asked for; 127 exist) would be
    ~18 MB, over the 16 MiB frame limit: the daemon must cut it by bytes."""
    with open(SAMPLE, encoding="utf-8") as f:
        doc = json.load(f)
    users = []
    for i in range(LONG_USERS):
        u = {"id": f"l{i}", "userName": f"long{i}@example.com",
             "posixUserName": long_name(i), "posixUserId": 30000 + i, "active": True}
        if i < LONG_HOME_USERS:
            u["displayName"] = f"User {i} " + "g" * 5000
            u["homeDirectory"] = long_home(i)
        users.append(u)
    # Full member objects (no "display"): the group JSON stays ~18 bytes a member.
    members = [{"value": u["id"]} for u in users]
    groups = [{"id": f"long-g{j}", "posixGroupName": f"biggroup{j:03d}",
               "posixGroupId": 40000 + j, "members": members} for j in range(LONG_GROUPS)]
    path = sandbox.workdir / "long-directory.json"
    path.write_text(json.dumps({"users": doc["users"] + users,
                                "groups": doc["groups"] + groups}), encoding="utf-8")
    return services.start_server(path, "scim-long")


@pytest.fixture
def daemon(services, long_scim):
    # No user private groups: the big groups are then the first page of `getent group`.
    return services.ensure(long_scim, sync_max_bytes="256M", page_size=20,
                           user_private_groups=0)


def test_users_with_long_names_gecos_and_homes_are_all_listed(getent):
    p = getent("passwd")
    assert p.returncode == 0, show(p)
    mine = [l for l in p.stdout.splitlines() if l.startswith("longname")]
    names = [l.split(":", 1)[0] for l in mine]
    assert len(names) == LONG_USERS and len(set(names)) == LONG_USERS, len(names)
    assert set(names) == {long_name(i) for i in range(LONG_USERS)}
    first = next(l for l in mine if l.startswith(long_name(0) + ":")).split(":")
    assert len(first[4].encode()) == 1024 and first[4].startswith("User 0 ggg"), first[4][:40]
    assert first[5] == long_home(0), first[5][:40]


def test_group_pages_cut_by_bytes_list_every_group(getent, daemon):
    p = getent("group")
    assert p.returncode == 0, show(p)
    groups = [l.split(":") for l in p.stdout.splitlines() if l.startswith("biggroup")]
    assert sorted(g[0] for g in groups) == [f"biggroup{j:03d}" for j in range(LONG_GROUPS)]
    expected = {long_name(i) for i in range(LONG_USERS)}
    for g in groups:
        members = g[3].split(",")
        assert len(members) == LONG_USERS and set(members) == expected, g[0]
    # The sample groups are listed too (before and after a cut page).
    assert {"devs", "data_science"} <= {l.split(":", 1)[0] for l in p.stdout.splitlines()}
