"""Local accounts always win (design.md §5): SCIM entries whose name or id collides
with /etc/passwd or /etc/group are refused and reported in `status`.

The sandbox's private /etc/passwd and /etc/group add `localclash` (uid/gid 1500)."""

import json

import pytest

import make_directory as md
from conftest import SAMPLE, show
from workbench_testkit.sandbox import LOCAL_CLASH_ID, LOCAL_CLASH_NAME

pytestmark = pytest.mark.usefixtures("module_answers")

LOCAL_LINE = f"{LOCAL_CLASH_NAME}:x:{LOCAL_CLASH_ID}:{LOCAL_CLASH_ID}:Local Clash:/nonexistent:/usr/sbin/nologin"

CLASH_USERS = [
    # name collides with the local account
    {"id": "c-name", "userName": "localclash@example.com", "posixUserName": LOCAL_CLASH_NAME,
     "posixUserId": 3101, "displayName": "SCIM Name Clash"},
    # uid collides with the local account
    {"id": "c-uid", "userName": "uidclash@example.com", "posixUserName": "uidclash",
     "posixUserId": LOCAL_CLASH_ID, "posixGroupId": 3102, "displayName": "SCIM Uid Clash"},
    # a host account every Debian has
    {"id": "c-daemon", "userName": "daemon@example.com", "posixUserName": "daemon",
     "posixUserId": 3103, "displayName": "SCIM daemon"},
]
CLASH_GROUPS = [
    {"id": "c-gname", "displayName": "x", "posixGroupName": LOCAL_CLASH_NAME,
     "posixGroupId": 3201, "members": ["u-alice"]},
    {"id": "c-ggid", "displayName": "y", "posixGroupName": "gidclash",
     "posixGroupId": LOCAL_CLASH_ID, "members": ["u-alice"]},
]


@pytest.fixture(scope="module")
def clash_scim(services, sandbox):
    with open(SAMPLE, encoding="utf-8") as f:
        doc = json.load(f)
    path = sandbox.workdir / "clash-directory.json"
    md.write(str(path), doc["users"] + CLASH_USERS, doc["groups"] + CLASH_GROUPS)
    return services.start_server(path, "scim-clash")


@pytest.fixture
def daemon(services, clash_scim):
    return services.ensure(clash_scim)


def test_local_account_wins_by_name(getent):
    p = getent("passwd", LOCAL_CLASH_NAME)
    assert p.stdout == LOCAL_LINE + "\n", show(p)
    p = getent("-s", "workbench", "passwd", LOCAL_CLASH_NAME)
    assert p.returncode == 2, show(p)


def test_local_account_wins_by_uid(getent):
    p = getent("passwd", str(LOCAL_CLASH_ID))
    assert p.stdout == LOCAL_LINE + "\n", show(p)
    for key in ("uidclash", str(LOCAL_CLASH_ID)):
        p = getent("-s", "workbench", "passwd", key)
        assert p.returncode == 2, show(p)


def test_host_account_wins(getent):
    p = getent("-s", "workbench", "passwd", "daemon")
    assert p.returncode == 2, show(p)
    p = getent("passwd", "daemon")
    assert p.stdout.startswith("daemon:x:1:1:"), show(p)


def test_local_group_wins(getent):
    p = getent("group", LOCAL_CLASH_NAME)
    assert p.stdout == f"{LOCAL_CLASH_NAME}:x:{LOCAL_CLASH_ID}:\n", show(p)
    for key in (LOCAL_CLASH_NAME, "gidclash", str(LOCAL_CLASH_ID)):
        p = getent("-s", "workbench", "group", key)
        assert p.returncode == 2, show(p)


def test_enumeration_has_no_clashes(getent):
    lines = getent("passwd").stdout.splitlines()
    assert sum(l.startswith(f"{LOCAL_CLASH_NAME}:") for l in lines) == 1, lines
    assert not any(l.startswith("uidclash:") for l in lines), lines
    assert sum(l.split(":")[2] == str(LOCAL_CLASH_ID) for l in lines) == 1, lines


def test_status_reports_refusals(daemon_status):
    st = daemon_status()
    refused = st["refused"]
    assert refused.get("collides_with_local", 0) >= len(CLASH_USERS), st
    assert refused["total"] >= refused["collides_with_local"], st
