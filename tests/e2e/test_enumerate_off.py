"""enumerate=0: `getent passwd` without a key lists no directory users (design.md §3),
keyed lookups still work."""

import pytest

from conftest import ALICE_LINE, SAMPLE_USERS, show

pytestmark = pytest.mark.usefixtures("module_answers")


@pytest.fixture
def daemon(services, scim):
    return services.ensure(scim, enumerate=0)


def names(text):
    return {line.split(":", 1)[0] for line in text.splitlines() if line}


def test_enumeration_lists_no_directory_users(getent):
    p = getent("passwd")
    assert p.returncode == 0, show(p)
    assert "root" in names(p.stdout)
    assert not names(p.stdout) & SAMPLE_USERS, p.stdout


def test_group_enumeration_lists_no_directory_groups(getent):
    p = getent("group")
    assert p.returncode == 0, show(p)
    assert "root" in names(p.stdout)
    assert not names(p.stdout) & {"devs", "data_science", "alice"}, p.stdout


def test_keyed_lookups_still_answer(getent, run):
    p = getent("passwd", "alice")
    assert p.returncode == 0 and p.stdout == ALICE_LINE + "\n", show(p)
    p = getent("group", "devs")
    assert p.returncode == 0 and p.stdout == "devs:x:2001:alice,bob\n", show(p)
    p = run(["id", "alice"])
    assert p.stdout == ("uid=1001(alice) gid=1001(alice) "
                        "groups=1001(alice),2001(devs),2002(data_science)\n"), show(p)
