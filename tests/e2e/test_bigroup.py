"""A group of 20,000 members (design.md §8) through glibc."""

import json

import pytest

import make_directory as md
from conftest import SAMPLE, show

pytestmark = pytest.mark.usefixtures("module_answers")

MEMBERS = 20000
BIG = "grp00001"
BIG_GID = 20001


@pytest.fixture(scope="module")
def big_scim(services, sandbox):
    with open(SAMPLE, encoding="utf-8") as f:
        doc = json.load(f)
    users, groups = md.generated(MEMBERS, 1, MEMBERS)
    path = sandbox.workdir / "big-directory.json"
    md.write(str(path), doc["users"] + users, doc["groups"] + groups)
    return services.start_server(path, "scim-big")


@pytest.fixture
def daemon(services, big_scim):
    return services.ensure(big_scim)


def test_getent_big_group(getent):
    p = getent("group", BIG)
    assert p.returncode == 0, show(p)
    name, _, gid, members = p.stdout.rstrip("\n").split(":")
    assert (name, gid) == (BIG, str(BIG_GID))
    members = members.split(",")
    assert len(members) == MEMBERS and len(set(members)) == MEMBERS
    assert members[0] == "u00001" and "u20000" in members


def test_probe_bigroup(probe):
    p, _ = probe("bigroup", BIG, "--expect-members", str(MEMBERS), timeout=300)
    assert p.returncode == 0, show(p)


def test_id_member_of_big_group(run):
    p = run(["id", "-nG", "u12345"])
    assert p.returncode == 0 and BIG in p.stdout.split(), show(p)
