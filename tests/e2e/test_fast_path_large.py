"""The map against the socket at 100,000 users (design.md §5a): every user and group of
a 100,000-user directory (10,000 groups, every user in 2-3 of them, one 5,000-member
group) and 10,000 misses, looked up through glibc by one process using the map and by
one kept on the socket (`WORKBENCH_NSS_NO_MAP=1`): byte for byte the same answers.

The misses are looked up with the server stopped, so that the socket's answer to them
(`TRYAGAIN`: nothing cached, the server cannot be asked) is the same in both runs; the
map must not answer any of them (a hash collision answered with another entry would
show here)."""

import pytest

import make_directory as md
from conftest import show
from workbench_testkit.polling import wait_for

pytestmark = pytest.mark.usefixtures("module_answers")

USERS = 100_000
GROUPS = 10_000
BIG_GROUP = 5_000
MISSES = 10_000
WIDTH = 6  # make_directory's name width for 100,000 users


@pytest.fixture(scope="module")
def large_scim(services, sandbox):
    users, groups = md.generated(USERS, GROUPS, 25, big_group=BIG_GROUP)
    # The sample's alice, so that module_answers can prove the module answers.
    import json
    from conftest import SAMPLE
    with open(SAMPLE, encoding="utf-8") as f:
        sample = json.load(f)
    path = sandbox.workdir / "fast-path-large.json"
    md.write(str(path), sample["users"] + users, sample["groups"] + groups)
    return services.start_server(path, "scim-fast-path-large", max_page=500)


@pytest.fixture
def daemon(services, large_scim):
    return services.ensure(large_scim, **{"sync-interval": "3600"})


def dump(sandbox, db, keys, no_map):
    env = {"WORKBENCH_NSS_NO_MAP": "1"} if no_map else {}
    p = sandbox.run([sandbox.bin["probe"], "dump", db], input="\n".join(keys) + "\n",
                    env=env, timeout=900)
    assert p.returncode == 0, show(p)
    lines = p.stdout.splitlines()
    assert len(lines) == len(keys) + 1, (len(lines), len(keys))
    return lines[:-1]


def test_map_and_socket_answer_every_entry_and_miss_the_same(daemon, large_scim, sandbox):
    names = [f"u{i:0{WIDTH}d}" for i in range(1, USERS + 1)]
    uids = [str(10_000 + i) for i in range(1, USERS + 1)]
    groups = [f"grp{j:0{WIDTH}d}" for j in range(1, GROUPS + 1)] + ["biggroup"]
    gids = [str(20_000 + j) for j in range(1, GROUPS + 1)] + ["19999"]
    # The image of the first copy is built after it: the map serves once it is there.
    wait_for("the map of the first copy",
             lambda: daemon.status()["fast_path"]["users"] >= USERS, timeout=60)
    for db, keys in (("passwd", names + uids), ("group", groups + gids),
                     ("initgroups", names)):
        before = daemon.status()["lookups"]
        via_map = dump(sandbox, db, keys, no_map=False)
        after_map = daemon.status()["lookups"]
        via_socket = dump(sandbox, db, keys, no_map=True)
        after_socket = daemon.status()["lookups"]
        assert via_map == via_socket, next(
            (k, a, b) for k, a, b in zip(keys, via_map, via_socket) if a != b)
        assert not any(" notfound" in l or " error" in l for l in via_map[:10]), via_map[:10]
        # The map answered (a few socket lookups while the first image was fetched at
        # most); the other run really went to the daemon.
        assert after_map - before <= len(keys) // 100, (db, after_map - before)
        assert after_socket - after_map >= len(keys) * 99 // 100, (db, after_socket - after_map)
    # The misses, with the server gone: the same TRYAGAIN from both, none from the map.
    large_scim.stop()
    miss_names = [f"u{i:0{WIDTH}d}" for i in range(USERS + 1, USERS + 1 + MISSES // 2)]
    miss_uids = [str(200_000 + i) for i in range(MISSES // 2)]
    keys = miss_names + miss_uids
    via_map = dump(sandbox, "passwd", keys, no_map=False)
    via_socket = dump(sandbox, "passwd", keys, no_map=True)
    assert via_map == via_socket
    assert all(l.endswith(("notfound", "error EAGAIN")) for l in via_map), via_map[:5]
