"""One set of identity rules for every path (design.md §6, §7; issue 10): a user or
group first seen by an on-demand lookup is held to the same rules as in a full copy, and
the full copy (`workbench-cached sync`) then agrees.

- a user named like a local group that is not a local user (as `sudo`, `adm`) is
  served, but never with a user private group of that name;
- a primary gid that is a local group's gid refuses the user, unless
  `local-primary-gids` lists it;
- `reserved-names` (default list) refuses users and groups even with no local account;
- homes with `..`, `.` or empty components are refused; `home-must-be-under` confines
  them.

The sandbox's /etc/group adds `localteam` (gid 1600), a group no local user has.
Each test gets a fresh daemon over this module's own fixture server (its data changes
here); every refusal is checked in `status --json` and in the daemon log by SCIM id.
"""

import json
import signal

import pytest

from conftest import SAMPLE, show
from ondemand_helpers import compact_user
from workbench_testkit.polling import wait_for
from workbench_testkit.sandbox import LOCAL_GROUP_ONLY_ID, LOCAL_GROUP_ONLY_NAME

pytestmark = pytest.mark.usefixtures("module_answers")


def daemon_settings(**settings):
    """Per-test daemon settings, read by the `daemon` fixture."""
    def mark(f):
        f.daemon_settings = settings
        return f
    return mark


@pytest.fixture(scope="module")
def server(services):
    return services.start_server(SAMPLE, "scim-identity-rules")


@pytest.fixture
def ctl(server):
    return server.control


@pytest.fixture
def daemon(request, services, server):
    # A fresh daemon: refusal counts and negative entries start empty.
    with services.fresh(server, **getattr(request.function, "daemon_settings", {})) as d:
        yield d


def lookup(getent, db, key):
    """The entry line, or None when getent says it does not exist (exit 2)."""
    p = getent(db, str(key))
    assert p.returncode in (0, 2), show(p)
    return p.stdout.strip() or None


def sync(daemon):
    p = daemon.cli("sync")
    assert p.returncode == 0, show(p)


def refused(daemon):
    return daemon.status()["refused"]


def refused_entries(daemon):
    """(kind, SCIM id, reason) of each refusal root's `status --json` lists."""
    p = daemon.cli("status", "--json")
    assert p.returncode == 0, show(p)
    doc = json.loads(p.stdout)
    return {(e["kind"], e["scim_id"], e["reason"]) for e in doc.get("refused_entries", [])}


def log_lines(daemon, scim_id, reason):
    text = daemon.log_path.read_text(encoding="utf-8", errors="replace")
    return [l for l in text.splitlines()
            if f'SCIM id "{scim_id}"' in l and reason in l]


def assert_refused_once(daemon, kind, scim_id, reason, count):
    """`status` counts `count` refusals for `reason`, lists this one, and the log names
    its SCIM id exactly once."""
    r = refused(daemon)
    assert r.get(reason) == count, r
    assert (kind, scim_id, reason) in refused_entries(daemon)
    assert len(log_lines(daemon, scim_id, reason)) == 1, \
        daemon.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]


def assert_others_served(getent):
    assert lookup(getent, "passwd", "carol").startswith("carol:x:1003:1003:")
    assert lookup(getent, "group", "devs").startswith("devs:x:2001:")


def test_local_group_exists_and_is_not_a_user(getent):
    assert lookup(getent, "group", LOCAL_GROUP_ONLY_NAME) == \
        f"{LOCAL_GROUP_ONLY_NAME}:x:{LOCAL_GROUP_ONLY_ID}:"
    assert lookup(getent, "passwd", LOCAL_GROUP_ONLY_NAME) is None


# -- a user named like a local group ---------------------------------------------------

def test_user_named_like_a_local_group_gets_no_private_group(daemon, ctl, getent, run):
    ctl.add_user(compact_user("u-lteam", LOCAL_GROUP_ONLY_NAME, 1700, home="/home/lt"))
    # On demand (not yet in a full copy): the user is served ...
    assert lookup(getent, "passwd", LOCAL_GROUP_ONLY_NAME).startswith(
        f"{LOCAL_GROUP_ONLY_NAME}:x:1700:1700:")
    for _ in ("on demand", "after the full copy"):
        # ... but gid 1700 has no group named after it, and the name is the local group's.
        assert lookup(getent, "group", "1700") is None
        assert lookup(getent, "group", LOCAL_GROUP_ONLY_NAME) == \
            f"{LOCAL_GROUP_ONLY_NAME}:x:{LOCAL_GROUP_ONLY_ID}:"
        p = getent("-s", "workbench", "group", LOCAL_GROUP_ONLY_NAME)
        assert p.returncode == 2, show(p)
        p = run(["id", "-Gn", LOCAL_GROUP_ONLY_NAME])
        assert LOCAL_GROUP_ONLY_NAME not in p.stdout.split(), show(p)
        p = run(["id", "-G", LOCAL_GROUP_ONLY_NAME])
        assert str(LOCAL_GROUP_ONLY_ID) not in p.stdout.split(), show(p)
        sync(daemon)
    assert lookup(getent, "passwd", LOCAL_GROUP_ONLY_NAME).startswith(
        f"{LOCAL_GROUP_ONLY_NAME}:x:1700:1700:")
    assert "no user private group for 'localteam' (gid 1700): another group has that name" \
        in daemon.log_path.read_text(encoding="utf-8", errors="replace")
    assert not any(sid == "u-lteam" for _, sid, _ in refused_entries(daemon))
    assert_others_served(getent)


# -- primary gid of a local group ------------------------------------------------------

def test_primary_gid_of_a_local_group_is_refused(daemon, ctl, getent):
    ctl.add_user(compact_user("u-pgl", "pgluser", 1701, gid=LOCAL_GROUP_ONLY_ID))
    assert lookup(getent, "passwd", "pgluser") is None
    assert lookup(getent, "passwd", "1701") is None
    assert_refused_once(daemon, "user", "u-pgl", "primary_gid_is_local", 1)
    sync(daemon)
    assert lookup(getent, "passwd", "pgluser") is None
    assert_refused_once(daemon, "user", "u-pgl", "primary_gid_is_local", 1)
    assert_others_served(getent)


@daemon_settings(local_primary_gids=f"100,{LOCAL_GROUP_ONLY_ID}")
def test_local_primary_gids_allows_a_listed_local_gid(daemon, ctl, getent, run):
    # `users` (100) is below min-gid: listing it is what lets it through.
    assert lookup(getent, "group", "100").startswith("users:x:100:")
    ctl.add_user(compact_user("u-pgl", "pgluser", 1701, gid=LOCAL_GROUP_ONLY_ID))
    ctl.add_user(compact_user("u-usr", "usruser", 1704, gid=100))
    for _ in ("on demand", "after the full copy"):
        for name, uid, gid, group in (("pgluser", 1701, LOCAL_GROUP_ONLY_ID,
                                       LOCAL_GROUP_ONLY_NAME),
                                      ("usruser", 1704, 100, "users")):
            assert lookup(getent, "passwd", name).startswith(f"{name}:x:{uid}:{gid}:")
            p = run(["id", "-gn", name])
            assert p.returncode == 0 and p.stdout.strip() == group, show(p)
        sync(daemon)
    assert not any(sid in ("u-pgl", "u-usr") for _, sid, _ in refused_entries(daemon))
    assert "primary_gid_is_local" not in refused(daemon)


# -- reserved names --------------------------------------------------------------------

def test_reserved_names_refuse_users_and_groups(daemon, ctl, getent):
    # `admin` is in no local file here (Ubuntu's sudoers grants %admin all the same).
    for db in ("passwd", "group"):
        with open(f"/etc/{db}", encoding="utf-8") as f:
            assert not any(l.startswith("admin:") for l in f)
    ctl.add_user(compact_user("u-admin", "admin", 1702))
    ctl.add_group({"id": "g-admin", "displayName": "Admins", "posixGroupName": "admin",
                   "posixGroupId": 2702, "members": ["u-alice"]})
    # By id, on demand: the server is asked, the answer refused and counted.
    assert lookup(getent, "passwd", "1702") is None
    assert lookup(getent, "group", "2702") is None
    assert_refused_once(daemon, "user", "u-admin", "reserved_name", 2)
    assert_refused_once(daemon, "group", "g-admin", "reserved_name", 2)
    # By name, not even asked (sudo looks up %admin on every run).
    ctl.reset_counters()
    assert lookup(getent, "passwd", "admin") is None
    assert lookup(getent, "group", "admin") is None
    asked = ctl.counters()
    assert asked["requests"] == 0, asked["log"]
    sync(daemon)
    for key in ("admin", "1702"):
        assert lookup(getent, "passwd", key) is None
    for key in ("admin", "2702"):
        assert lookup(getent, "group", key) is None
    p = getent("-s", "workbench", "group", "admin")
    assert p.returncode == 2, show(p)
    assert_refused_once(daemon, "user", "u-admin", "reserved_name", 2)
    assert_refused_once(daemon, "group", "g-admin", "reserved_name", 2)
    assert_others_served(getent)


@daemon_settings(reserved_names="ops")
def test_reserved_names_value_replaces_the_default(daemon, ctl, getent):
    ctl.add_user(compact_user("u-admin", "admin", 1702))
    ctl.add_user(compact_user("u-ops", "ops", 1703))
    assert lookup(getent, "passwd", "admin").startswith("admin:x:1702:1702:")
    assert lookup(getent, "passwd", "1703") is None
    assert lookup(getent, "passwd", "ops") is None
    assert_refused_once(daemon, "user", "u-ops", "reserved_name", 1)


# -- homes -----------------------------------------------------------------------------

BAD_HOMES = {
    "u-dotdot": ("dotdot", 1710, "/home/../etc/systemd/system/x.service.d"),
    "u-dot": ("dotuser", 1711, "/home/./dotuser"),
    "u-slashes": ("slashes", 1712, "/home//slashes"),
}


def test_homes_that_are_not_normalised_are_refused(daemon, ctl, getent):
    for rid, (name, uid, home) in BAD_HOMES.items():
        ctl.add_user(compact_user(rid, name, uid, home=home))
    for n, (rid, (name, uid, home)) in enumerate(BAD_HOMES.items(), start=1):
        assert lookup(getent, "passwd", name) is None, home
        assert refused(daemon).get("home_not_normalised") == n
    for rid in BAD_HOMES:
        assert_refused_once(daemon, "user", rid, "home_not_normalised", len(BAD_HOMES))
    sync(daemon)
    for rid, (name, uid, _) in BAD_HOMES.items():
        assert lookup(getent, "passwd", name) is None
        assert lookup(getent, "passwd", uid) is None
        assert_refused_once(daemon, "user", rid, "home_not_normalised", len(BAD_HOMES))
    assert_others_served(getent)


@daemon_settings(home_must_be_under="/home,/srv/homes")
def test_home_must_be_under_confines_homes(daemon, ctl, getent):
    # In the first full copy: bob's /srv/home/bob is outside (not /srv/homes).
    assert lookup(getent, "passwd", "bob") is None
    assert_refused_once(daemon, "user", "u-bob", "home_outside_roots", 1)
    # Derived homes (home-root=/home) are inside.
    assert lookup(getent, "passwd", "alice").startswith("alice:x:1001:1001:Alice Able:/home/alice:")
    ctl.add_user(compact_user("u-inside", "inside", 1720, home="/srv/homes/inside"))
    ctl.add_user(compact_user("u-outside", "outside", 1721, home="/homeX/outside"))
    assert lookup(getent, "passwd", "inside").startswith("inside:x:1720:")
    assert lookup(getent, "passwd", "outside") is None
    assert_refused_once(daemon, "user", "u-outside", "home_outside_roots", 2)
    sync(daemon)
    assert lookup(getent, "passwd", "inside").startswith("inside:x:1720:")
    assert lookup(getent, "passwd", "outside") is None
    assert_refused_once(daemon, "user", "u-outside", "home_outside_roots", 2)
    assert_others_served(getent)


# -- the cache a restarted daemon serves -----------------------------------------------

def test_cached_copy_is_held_to_the_rules_after_a_restart_with_the_server_failing(
        daemon, ctl, getent):
    """A copy cached under other settings is not served as is while the server fails:
    the restarted daemon applies today's rules to it."""
    assert lookup(getent, "passwd", "bob").startswith("bob:x:1002:2001:Bob Baker:/srv/home/bob:")
    assert daemon.stop() == 0
    ctl.set_fault("status", code=503)
    daemon.settings["home-must-be-under"] = "/home"
    daemon.start()
    st = daemon.status()
    assert "503" in (st["server"]["last_error"] or ""), st  # no copy since the restart
    assert st["cached"]["users"] == 4, st
    assert lookup(getent, "passwd", "bob") is None
    assert lookup(getent, "passwd", "1002") is None
    assert "bob" not in lookup(getent, "group", "devs").split(":")[3].split(","), \
        "a refused user is never a group member"
    assert_refused_once(daemon, "user", "u-bob", "home_outside_roots", 1)
    # The rest of the cached copy is served.
    assert lookup(getent, "passwd", "alice").startswith("alice:x:1001:1001:")
    assert_others_served(getent)


def test_sighup_applies_new_settings_to_the_served_copy(daemon, ctl, getent):
    """reserved-names and home-must-be-under from a reloaded configuration apply to the
    entries served now, even when the copy that follows the reload fails."""
    assert lookup(getent, "passwd", "bob").startswith("bob:x:1002:2001:")
    assert lookup(getent, "group", "devs").startswith("devs:x:2001:")
    ctl.set_fault("status", code=503)
    daemon.settings["home-must-be-under"] = "/home"
    daemon.settings["reserved-names"] = "devs"
    daemon.write_config()
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for("bob and devs no longer served after SIGHUP",
             lambda: lookup(getent, "passwd", "bob") is None
             and lookup(getent, "group", "devs") is None)
    # Every copy since the fault was set fails: the reload is what dropped them.
    wait_for("the copy after the reload to fail",
             lambda: "503" in (daemon.status()["server"]["last_error"] or ""))
    assert_refused_once(daemon, "user", "u-bob", "home_outside_roots", 1)
    assert_refused_once(daemon, "group", "g-devs", "reserved_name", 1)
    assert lookup(getent, "passwd", "alice").startswith("alice:x:1001:1001:")
    assert lookup(getent, "passwd", "carol").startswith("carol:x:1003:1003:")
