"""Workbench fidelity (issue 13): every account a real installation provisions works as
Workbench means it, through glibc, `id` and pam_unix in the private namespace.

- Names keep the server's case, may have digits, '.', '_', '-' (up to 64 bytes), also
  when derived from userName minus its domain; lookups are exact; what breaks tools is
  refused with a reason.
- A local account taken over by Workbench (same name and uid) is the local account
  (local passwd and shadow lines) and keeps its directory groups; name-only or uid-only
  matches stay refused collisions.
- A "no such entry" remembered for a name or id is dropped when the data arrives.
- `status` and `check-config` say when Workbench's own module (pwb) answers beside us.
- Each refusal in `status` names its fix (a uid below min-uid: lower min-uid).

The directory is the sample directory plus tests/fixture/fidelity-directory.json; the
private /etc/passwd, /etc/group and a private /etc/shadow get the taken-over account
`Migrated.User` (1700) for this module only."""

import contextlib
import json
import os
import subprocess

import pytest

from conftest import REPO, SAMPLE, show
from control import ControlError
from hashes import HASHES, assert_no_hash
from ondemand_helpers import compact_user
from workbench_testkit.sandbox import PAM_SERVICE

pytestmark = pytest.mark.usefixtures("module_answers")

FIDELITY = REPO / "tests/fixture/fidelity-directory.json"
MIGRATED = "Migrated.User"
MIGRATED_LINE = f"{MIGRATED}:x:1700:1700:Local Migrated:/home/{MIGRATED}:/bin/bash"

# SCIM id -> refusal reason, for the entries of fidelity-directory.json that are refused.
REFUSED = {
    "f-nameonly": "collides_with_local",
    "f-uidonly": "collides_with_local",
    # `LocalClash` differs from the local `localclash` only in case: sudo would match it
    # to the local account's rules.
    "f-caseclash": "collides_with_local",
    "f-lowuid": "id_below_minimum",
    "f-digits": "invalid_name",
    "f-dash": "invalid_name",
    "f-comma": "invalid_name",
    "f-slash": "invalid_name",
    "f-space": "invalid_name",
    "f-dotdot": "invalid_name",
    "f-tab": "control_character",
    "f-reserved": "reserved_name",
    "f-long": "invalid_name",
    "f-at": "invalid_name",
}
BAD_NAMES = ["4242", "-dash", "a,b", "a/b", "sp ace", "..", "tab\there", "Root",
             "L" * 65, "x@y", "Legacy.Low", "notclash"]


def _rewrite(path, text):
    """Same inode: the file is bind-mounted over /etc."""
    with open(path, "r+", encoding="utf-8") as f:
        f.write(text)
        f.truncate()


@pytest.fixture(scope="module")
def migrated_local_account(sandbox):
    """Migrated.User in the private /etc/passwd, /etc/group and a private /etc/shadow
    (password erin-password) for this module; everything restored afterwards."""
    passwd, group = sandbox.workdir / "etc/passwd", sandbox.workdir / "etc/group"
    old_passwd, old_group = passwd.read_text(), group.read_text()
    _rewrite(passwd, old_passwd.rstrip("\n") + f"\n{MIGRATED_LINE}\n")
    _rewrite(group, old_group.rstrip("\n") + f"\n{MIGRATED}:x:1700:\n")
    shadow = sandbox.workdir / "etc/shadow-fidelity"
    host = open("/etc/shadow", encoding="utf-8").read() if os.path.exists("/etc/shadow") else ""
    shadow.write_text(host.rstrip("\n") + f"\n{MIGRATED}:{HASHES['erin']}:19000:0:99999:7:::\n",
                      encoding="utf-8")
    st = os.stat("/etc/shadow")
    os.chown(shadow, st.st_uid, st.st_gid)
    os.chmod(shadow, 0o640)
    subprocess.run(["mount", "--bind", str(shadow), "/etc/shadow"], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", "/etc/shadow"], check=False)
        _rewrite(passwd, old_passwd)
        _rewrite(group, old_group)


@pytest.fixture(scope="module")
def fidelity_scim(services, sandbox):
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    extra = json.loads(FIDELITY.read_text(encoding="utf-8"))
    path = sandbox.workdir / "fidelity-plus-sample.json"
    path.write_text(json.dumps({"users": sample["users"] + extra["users"],
                                "groups": sample["groups"] + extra["groups"]}),
                    encoding="utf-8")
    return services.start_server(path, "scim-fidelity")


@pytest.fixture
def daemon(services, fidelity_scim, migrated_local_account):
    return services.ensure(fidelity_scim, negative_ttl=3600)


@pytest.fixture
def ctl(fidelity_scim):
    return fidelity_scim.control


def pamtester(run, name, password, as_user=None):
    p = run(["pamtester", PAM_SERVICE, name, "authenticate"], input=password + "\n",
            user=as_user)
    assert_no_hash(p)
    return p


def status_text(daemon):
    p = daemon.cli("status")
    assert p.returncode == 0, show(p)
    return p.stdout


# -- 1. names --------------------------------------------------------------------------

def test_names_keep_their_case_and_derive_from_user_name(getent, run):
    p = getent("passwd", "John.Smith")
    assert p.stdout == "John.Smith:x:1201:1201:Fidelity f-john:/home/John.Smith:/bin/bash\n", show(p)
    # Exact, case-sensitive: john.smith is no user (two directory names equal ignoring
    # case would both be refused; jsmith@other.example is jsmith).
    p = getent("passwd", "john.smith")
    assert p.returncode == 2 and p.stdout == "", show(p)
    p = getent("passwd", "jsmith")
    assert p.stdout.startswith("jsmith:x:1203:"), show(p)
    p = getent("passwd", "JOHN.SMITH")
    assert p.returncode == 2 and p.stdout == "", show(p)
    # A case variant of a local account is refused, never answered.
    p = getent("passwd", "LocalClash")
    assert p.returncode == 2 and p.stdout == "", show(p)
    p = getent("passwd", "Mary-Ann_2")
    assert p.stdout.startswith("Mary-Ann_2:x:1202:1202:"), show(p)
    p = getent("group", "Case.Team")
    assert p.stdout == "Case.Team:x:2102:Mary-Ann_2,jsmith\n", show(p)
    p = run(["id", "John.Smith"])
    assert p.stdout == ("uid=1201(John.Smith) gid=1201(John.Smith) "
                        "groups=1201(John.Smith),2101(migrators)\n"), show(p)


def test_derived_name_logs_in_through_pam(run):
    p = pamtester(run, "John.Smith", "alice-password")
    assert p.returncode == 0, show(p)
    p = pamtester(run, "John.Smith", "alice-password", as_user=1201)
    assert p.returncode == 0, show(p)
    p = pamtester(run, "John.Smith", "bob-password")
    assert p.returncode != 0, show(p)
    p = pamtester(run, "Mary-Ann_2", "erin-password")
    assert p.returncode == 0, show(p)


def test_derived_name_added_later_is_found_by_one_filtered_request(daemon, ctl, getent):
    ctl.add_user({"id": "f-jane", "userName": "Jane.Doe@corp.example", "posixUserId": 1250,
                  "displayName": "Jane Doe"})
    try:
        ctl.reset_counters()
        p = getent("passwd", "Jane.Doe")
        assert p.stdout == "Jane.Doe:x:1250:1250:Jane Doe:/home/Jane.Doe:/bin/bash\n", show(p)
        filters = [e.get("filter") for e in ctl.counters()["log"]]
        assert 'userName eq "Jane.Doe" or userName sw "Jane.Doe@"' in filters, filters
        # The server matches userName in any case; the lookup stays exact.
        p = getent("passwd", "jane.doe")
        assert p.returncode == 2 and p.stdout == "", show(p)
    finally:
        ctl.remove_user("f-jane")
        p = daemon.cli("sync")
        assert p.returncode == 0, show(p)


def test_derived_name_found_by_filter_before_the_first_complete_copy(services, getent):
    """With a server that knows `userName sw`, a derived name needs no complete copy
    (test_lifecycle.py has the same node against an `eq`-only server: EAGAIN)."""
    server = services.start_server(SAMPLE, "scim-fidelity-firstcopy")
    try:
        server.control.set_fault("hang", endpoint="Groups", then="close")
        services.stop()
        daemon = services.ensure(server, request_timeout=1)
        assert daemon.status()["server"]["last_sync"] is None, daemon.status()
        p = getent("passwd", "alice")
        assert p.stdout.startswith("alice:x:1001:1001:"), show(p)
        filters = [e.get("filter") for e in server.control.counters()["log"]]
        assert 'userName eq "alice" or userName sw "alice@"' in filters, filters
    finally:
        server.control.clear_fault()
        services.stop()
        server.stop()


def test_bad_names_are_refused_everywhere(getent, run, daemon_status):
    for name in BAD_NAMES:
        p = getent("passwd", "--", name)
        assert p.returncode == 2 and p.stdout == "", show(p)
        p = run(["id", "--", name])
        assert p.returncode != 0 and p.stdout == "", show(p)
        p = pamtester(run, name, "bob-password")
        assert p.returncode != 0, show(p)
    for uid in ("1210", "1211", "1212", "1213", "1214", "1215", "1216", "1217", "1218",
                "1701", "900"):
        p = getent("-s", "workbench", "passwd", uid)
        assert p.returncode == 2 and p.stdout == "", show(p)
    st = daemon_status()
    seen = {e["scim_id"]: e["reason"] for e in st["refused_entries"]
            if e["scim_id"].startswith("f-")}
    assert seen == REFUSED, st["refused_entries"]
    details = {e["scim_id"]: e["detail"] for e in st["refused_entries"]}
    assert "all digits" in details["f-digits"], details
    assert "','" in details["f-comma"] and "'/'" in details["f-slash"], details
    assert "whitespace" in details["f-space"], details
    assert "starts with '-'" in details["f-dash"], details
    assert "65 bytes (limit 64)" in details["f-long"], details


# -- 2. taken-over local accounts ------------------------------------------------------

def test_taken_over_account_is_the_local_one_with_its_directory_groups(getent, run,
                                                                      daemon_status):
    p = getent("passwd", MIGRATED)
    assert p.stdout == MIGRATED_LINE + "\n", show(p)
    # The module itself does not answer passwd or shadow for it: the local lines do.
    for db in ("passwd", "shadow"):
        p = getent("-s", "workbench", db, MIGRATED)
        assert p.returncode == 2 and p.stdout == "", show(p)
    # It is a member of its SCIM group; the name-only and uid-only matches are not.
    p = getent("group", "migrators")
    assert p.stdout == f"migrators:x:2101:{MIGRATED},John.Smith\n", show(p)
    p = run(["id", "-Gn", MIGRATED])
    assert p.stdout.split() == [MIGRATED, "migrators"], show(p)
    p = run(["id", "-Gn", "localclash"])
    assert "migrators" not in p.stdout.split(), show(p)
    st = daemon_status()
    assert st["local_same_account"] == 1, st
    assert st["local_same_account_names"] == [MIGRATED], st
    assert not any(e["scim_id"] == "f-migrated" for e in st["refused_entries"]), st
    # Counted apart from the users the module serves.
    assert st["cached"]["users"] == 5 + 3, st["cached"]


def test_taken_over_account_logs_in_with_the_local_password(run):
    p = pamtester(run, MIGRATED, "erin-password")
    assert p.returncode == 0, show(p)
    p = pamtester(run, MIGRATED, "erin-password", as_user=1700)
    assert p.returncode == 0, show(p)
    # The directory's hash (bob-password) is never used for it.
    p = pamtester(run, MIGRATED, "bob-password")
    assert p.returncode != 0, show(p)
    # A session gets its directory group through initgroups.
    p = run(["id", "-Gn"], user=1700, init_groups=True)
    assert "migrators" in p.stdout.split(), show(p)


def test_name_or_uid_alone_stays_a_collision_with_a_clear_message(daemon, daemon_status):
    details = {e["scim_id"]: e["detail"] for e in daemon_status()["refused_entries"]}
    assert "with uid 1500, the directory gives uid 1701" in details["f-nameonly"], details
    assert "as 'localclash', the directory names it 'notclash'" in details["f-uidonly"], details
    out = status_text(daemon)
    assert "local accounts    1 taken over by Workbench" in out, out
    assert "  local_same_account: Migrated.User\n" in out, out


# -- 3. just-in-time users -------------------------------------------------------------

def test_negative_answers_are_dropped_when_the_user_arrives(daemon, ctl, getent, probe,
                                                            daemon_status):
    for key in ("jit.user", "1300"):
        p, data = probe("lookup", "passwd", key, "--expect", "notfound")
        assert p.returncode == 0, show(p)
    p, data = probe("lookup", "group", "jit.user", "--expect", "notfound")
    assert p.returncode == 0, show(p)
    assert daemon_status()["ondemand"]["negative_cached"] >= 3
    ctl.add_user(compact_user("u-jit", "jit.user", 1300, home="/home/jit.user"))
    try:
        # negative-ttl is an hour: only the "none" answers stand between them and us.
        p, data = probe("lookup", "passwd", "jit.user", "--expect", "notfound")
        assert p.returncode == 0, show(p)
        p = daemon.cli("sync")
        assert p.returncode == 0, show(p)
        p = getent("passwd", "jit.user")
        assert p.stdout.startswith("jit.user:x:1300:1300:"), show(p)
        p = getent("passwd", "1300")
        assert p.stdout.startswith("jit.user:x:1300:"), show(p)
        p = getent("group", "jit.user")
        assert p.stdout == "jit.user:x:1300:\n", show(p)
        negatives = daemon_status()["ondemand"]["negative_cached"]
        # An on-demand fetch by uid drops the "none" remembered for the name.
        p, data = probe("lookup", "passwd", "jit2", "--expect", "notfound")
        assert p.returncode == 0, show(p)
        assert daemon_status()["ondemand"]["negative_cached"] == negatives + 1
        ctl.add_user(compact_user("u-jit2", "jit2", 1301, home="/home/jit2"))
        p, data = probe("lookup", "passwd", "jit2", "--expect", "notfound")
        assert p.returncode == 0, show(p)
        p = getent("passwd", "1301")
        assert p.stdout.startswith("jit2:x:1301:"), show(p)
        assert daemon_status()["ondemand"]["negative_cached"] == negatives
        p = getent("passwd", "jit2")
        assert p.stdout.startswith("jit2:x:1301:"), show(p)
    finally:
        for rid in ("u-jit", "u-jit2"):
            with contextlib.suppress(ControlError):
                ctl.remove_user(rid)
        daemon.cli("sync")


# -- 4. Workbench's pwb module ---------------------------------------------------------

def test_pwb_listed_with_options_is_reported_and_lookups_still_work(daemon, sandbox, getent,
                                                                    run):
    with sandbox.nsswitch(passwd="files pwb [NOTFOUND=return] workbench",
                          group="files workbench pwb", shadow="files workbench"):
        # glibc skips the missing pwb (UNAVAIL, not NOTFOUND): we still answer.
        p = getent("passwd", "alice")
        assert p.stdout.startswith("alice:x:1001:"), show(p)
        p = run(["id", "-Gn", "alice"])
        assert p.stdout.split() == ["alice", "devs", "data_science"], show(p)
        p = pamtester(run, "alice", "alice-password")
        assert p.returncode == 0, show(p)
        out = status_text(daemon)
        for want in (
            "pwb: passwd: files pwb [NOTFOUND=return] workbench\n",
            "pwb:   passwd: pwb answers before workbench: for a user both know, pwb's entry wins\n",
            "pwb:   passwd: pwb [NOTFOUND=return]: a name pwb does not know is reported "
            "missing without asking workbench\n",
            "pwb: group: files workbench pwb\n",
            "pwb:   group: workbench answers before pwb",
            "pwb:   group: a name neither knows is asked of both (every miss costs two lookups)",
            "pwb: to retire pwb:",
        ):
            assert want in out, out
        p = daemon.cli("status", "--json")
        doc = json.loads(p.stdout)
        assert any("pwb answers before workbench" in line for line in doc["pwb"]), doc["pwb"]
        p = daemon.cli("check-config", "--config", str(daemon.config_path))
        assert p.returncode == 0, show(p)
        assert "configuration OK" in p.stdout and "pwb: passwd: files pwb" in p.stdout, show(p)
    # Without pwb: not a word about it.
    out = status_text(daemon)
    assert "pwb" not in out, out


def test_unreadable_nsswitch_conf_is_a_clear_message(daemon, sandbox, run):
    cli = str(sandbox.bin["daemon"])
    os.chmod(sandbox.nsswitch_path, 0o600)
    try:
        p = run([cli, "status"], user=1001)
        assert p.returncode == 0, show(p)
        assert "pwb: cannot read /etc/nsswitch.conf (Permission denied" in p.stdout, show(p)
        p = run([cli, "check-config", "--config", str(daemon.config_path)], user=1001)
        assert "pwb: cannot read /etc/nsswitch.conf (Permission denied" in p.stdout, show(p)
    finally:
        os.chmod(sandbox.nsswitch_path, 0o644)


# -- 5. refusals an administrator can fix ----------------------------------------------

def test_each_refusal_names_its_fix(daemon, daemon_status):
    details = {e["scim_id"]: e["detail"] for e in daemon_status()["refused_entries"]}
    assert ("posixUserId 900 is below min-uid=1000; to accept it, lower min-uid to 900 or "
            "less") in details["f-lowuid"], details
    out = status_text(daemon)
    assert "lower min-uid to 900" in out, out
    reasons = [k for k in daemon_status()["refused"] if k != "total"]
    for reason in reasons:
        lines = [l for l in out.splitlines() if l.startswith(f"  {reason}: ")]
        assert len(lines) == 1 and "workbench-nss.conf(5)" in lines[0], (reason, out)
    assert ("  id_below_minimum: a taken-over account with a low id: lower min-uid (users) or "
            "min-gid (groups)") in out, out


@pytest.fixture
def low_daemon(services, fidelity_scim, migrated_local_account):
    return services.ensure(fidelity_scim, min_uid=900, min_gid=900, negative_ttl=3600)


def test_lowering_min_uid_admits_the_low_uid_account(low_daemon, getent, run):
    p = getent("passwd", "Legacy.Low")
    assert p.stdout.startswith("Legacy.Low:x:900:"), show(p)
    st = low_daemon.status()
    assert not any(e["scim_id"] == "f-lowuid" for e in st["refused_entries"]), st
