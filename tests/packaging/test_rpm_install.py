"""The built .rpm installed for real, with this host's rpm, into a clean root made to look
like a RHEL node where it matters; its scriptlets run chrooted there.

No RHEL-family mirror is reachable from here, so the root is the cached Debian 12 minbase
root of test_deb_install.py (chroot_support.py) with /usr/lib64 added to the library path
(RHEL's glibc has it built in). In it: `rpm -i` edits nsswitch.conf, the installed daemon
answers `getent passwd alice` through the installed module from the fixture SCIM server,
`rpm -U` to a higher Release keeps exactly one `workbench`, and `rpm -e` restores
nsswitch.conf byte for byte. Where authselect manages nsswitch.conf (RHEL 8 and later)
the package must leave it alone and say what to run instead.

The install tests run only with WB_PACKAGING_RPM (the .rpm to test; scripts/test builds
it and sets it), as root, inside a private mount namespace, as test_deb_install.py.
"""

import os
import re

import pytest

# The chroot, fixture server and daemon helpers; chroot and scim are fixtures.
from chroot_support import (ALICE_LINE, ROOT, assert_alice_resolves,  # noqa: F401
                            assert_unknown_before_daemon, chroot, installed_daemon, must, run,
                            scim)

RPM = os.environ.get("WB_PACKAGING_RPM")
# RHEL 9's glibc: the oldest the package can need (RHEL 8 has 2.28; see the README).
RHEL9_GLIBC = (2, 34)
FILES = ["/usr/lib64/libnss_workbench.so.2", "/usr/sbin/workbench-cached",
         "/usr/lib/systemd/system/workbench-cached.service",
         "/usr/lib/systemd/system/workbench-cached.socket",
         "/usr/lib/systemd/system/workbench-cached-tokens.path",
         "/usr/lib/systemd/system/workbench-cached-tokens.service",
         "/usr/lib/sysusers.d/workbench-nss.conf",
         "/usr/share/man/man8/workbench-cached.8.gz", "/usr/share/man/man5/workbench-nss.conf.5.gz",
         "/usr/share/doc/libnss-workbench/examples/workbench-cached.conf",
         "/usr/share/doc/libnss-workbench/examples/nsswitch.conf",
         "/usr/share/licenses/libnss-workbench/copyright"]

pytestmark = pytest.mark.skipif(
    not RPM, reason="set WB_PACKAGING_RPM (scripts/test builds it) to install the .rpm")


def rpm_in(ch, *args, ok=True):
    """The host's rpm on the chroot's database. The database goes where RHEL 8 keeps it
    (Debian's rpm would default to /root/.rpmdb)."""
    cmd = ["rpm", f"--root={ch.path}", "--dbpath=/var/lib/rpm", *args]
    return must(cmd) if ok else run(cmd)


def rpm_install(ch, *args):
    """`rpm -i`/`-U` with --nodeps: the root's libc, /bin/sh and libgcc are Debian
    packages, so its rpm database has nothing that provides libc.so.6(GLIBC_2.34)(64bit)
    and the like; the files themselves are there, which is what the scriptlets and the
    module need. Returns what rpm and the scriptlets printed."""
    r = rpm_in(ch, *args, "--nodeps")
    return r.stdout + r.stderr


def make_rhel_like(ch):
    """RHEL's glibc (ld.so and ldconfig) searches /lib64 and /usr/lib64 without being
    told; Debian's searches its multiarch directories instead. Listing /usr/lib64 in
    ld.so.conf.d gives this root RHEL's behaviour for the one directory the package
    uses, so the %post's ldconfig puts the module in ld.so.cache as on RHEL."""
    (ch / "/etc/ld.so.conf.d/rhel-lib64.conf").write_text("/usr/lib64\n")
    ch.must("ldconfig")
    rpm_in(ch, "--initdb")


def with_workbench(text):
    """nsswitch.conf as the package's edit must leave it: workbench right after files on
    passwd, group and shadow; nothing else (the same expectation as the .deb test)."""
    expected = text
    for db in ("passwd", "group", "shadow"):
        line = next(l for l in text.splitlines() if l.startswith(db + ":"))
        expected = expected.replace(line + "\n", line.replace(" files", " files workbench", 1) + "\n")
    assert expected != text
    return expected


def version_of(rpm_file):
    return must(["rpm", "-qp", "--qf", "%{VERSION}-%{RELEASE}", rpm_file]).stdout


@pytest.fixture(scope="module")
def release2(tmp_path_factory):
    """The same package rebuilt with Release 2 from the same release build, to upgrade
    to."""
    out = tmp_path_factory.mktemp("release2")
    r = must([str(ROOT / "scripts/package-rpm"), "--no-build", "--release", "2", "--out", str(out)],
             cwd=ROOT, env={**os.environ, "WB_NO_BUILD": "1"})
    built = r.stdout.strip().splitlines()[-1]
    path = built if os.path.isabs(built) else str(ROOT / built)
    assert version_of(path) == version_of(RPM).rsplit("-", 1)[0] + "-2"
    return path


def test_package_metadata_fits_rhel9():
    """What RHEL's rpm decides from the headers alone, before any file is installed."""
    requires = must(["rpm", "-qp", "--requires", RPM]).stdout.split("\n")
    glibc = {tuple(int(x) for x in m.group(1).split("."))
             for r in requires if (m := re.search(r"\(GLIBC_([0-9.]+)\)", r))}
    assert glibc, requires
    # A newer symbol version would make dnf refuse the package on RHEL 9.
    assert max(glibc) <= RHEL9_GLIBC, f"needs glibc {max(glibc)}, RHEL 9 has {RHEL9_GLIBC}"
    assert "libnss_workbench.so.2()(64bit)" in must(["rpm", "-qp", "--provides", RPM]).stdout
    modes = dict(l.rsplit(" ", 1) for l in must(
        ["rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEMODES:perms}\n]", RPM]).stdout.splitlines())
    assert sorted(p for p in modes if not modes[p].startswith("d")) == sorted(FILES)
    # Executable, as shared objects are on RHEL (its rpmbuild scans only those).
    assert modes["/usr/lib64/libnss_workbench.so.2"] == "-rwxr-xr-x"


def test_rpm_install_getent_upgrade_erase(chroot, scim, release2):
    ch = chroot
    url, work = scim
    make_rhel_like(ch)
    original = (ch / "/etc/nsswitch.conf").read_text()
    expected = with_workbench(original)

    printed = rpm_install(ch, "-i", RPM)
    assert "authselect" not in printed, printed

    assert (ch / "/etc/nsswitch.conf").read_text() == expected
    for f in FILES:
        assert (ch / f).exists(), f"{f} not installed"
    # Every file as the package says (digest, mode, owner).
    rpm_in(ch, "-V", "--nodeps", "libnss-workbench")
    # The %post's ldconfig put the module in the cache, from /usr/lib64.
    assert re.search(r"libnss_workbench\.so\.2 .*=> /usr/lib64/libnss_workbench\.so\.2",
                     ch.must("ldconfig", "-p").stdout)

    assert_unknown_before_daemon(ch)
    with installed_daemon(ch, url, work):
        assert_alice_resolves(ch)

        # Upgrade: the new %post (adds, $1 = 2) runs before the old %postun ($1 = 1, which
        # must not remove): workbench stays, once.
        rpm_install(ch, "-U", release2)
        assert rpm_in(ch, "-q", "--qf", "%{RELEASE}", "libnss-workbench").stdout == "2"
        assert (ch / "/etc/nsswitch.conf").read_text() == expected
        for f in FILES:
            assert (ch / f).exists(), f"{f} gone after the upgrade"
        # A reinstall of the same package (dnf reinstall) runs the same pair again.
        rpm_install(ch, "-U", "--replacepkgs", release2)
        assert (ch / "/etc/nsswitch.conf").read_text() == expected
        # A new process loads the upgraded module and still finds the daemon.
        assert ch.must("getent", "passwd", "alice").stdout.strip() == ALICE_LINE
    assert (ch / "/var/cache/workbench-nss").exists()

    rpm_install(ch, "-e", "libnss-workbench")
    assert (ch / "/etc/nsswitch.conf").read_text() == original
    for f in FILES:
        assert not (ch / f).exists(), f"{f} left behind by rpm -e"
    assert not (ch / "/var/cache/workbench-nss").exists()
    assert "libnss_workbench" not in ch.must("ldconfig", "-p").stdout
    assert ch.run("getent", "passwd", "alice").returncode == 2
    assert rpm_in(ch, "-q", "libnss-workbench", ok=False).returncode != 0


# Shaped like authselect's shipped profile templates (the sssd profile has no shadow map;
# the minimal/local one merges groups), as `authselect create-profile` copies them.
SSSD_TEMPLATE = """\
passwd:     sss files systemd   {exclude if "with-custom-passwd"}
group:      sss files systemd   {exclude if "with-custom-group"}
netgroup:   sss files           {exclude if "with-custom-netgroup"}
automount:  sss files           {exclude if "with-custom-automount"}
services:   sss files           {exclude if "with-custom-services"}
sudoers:    files sss           {include if "with-sudo"}
"""
LOCAL_TEMPLATE = """\
group:      files [SUCCESS=merge] {if "with-altfiles":altfiles [SUCCESS=merge] }systemd {exclude if "with-custom-group"}
passwd:     files {if "with-altfiles":altfiles }systemd {exclude if "with-custom-passwd"}
shadow:     files                                       {exclude if "with-custom-shadow"}
"""


def authselect_managed_root(ch):
    """/etc/nsswitch.conf as authselect leaves it: a symlink to the file it generated."""
    generated = ch / "/etc/authselect/nsswitch.conf"
    generated.parent.mkdir()
    generated.write_text("# Generated by authselect\n# Do not modify this file manually, "
                         "use authselect instead.\n\n" + (ch / "/etc/nsswitch.conf").read_text())
    (ch / "/etc/nsswitch.conf").unlink()
    (ch / "/etc/nsswitch.conf").symlink_to("/etc/authselect/nsswitch.conf")
    return generated.read_bytes()


def commands_in(message):
    """The indented command lines of the %post message."""
    return [l.strip() for l in message.splitlines() if l.startswith("    ")]


def test_authselect_symlink_left_alone(chroot, scim):
    ch = chroot
    url, work = scim
    make_rhel_like(ch)
    generated = authselect_managed_root(ch)

    printed = rpm_install(ch, "-i", RPM)

    # Nothing edited: authselect would drop it and refuse to work until forced.
    assert os.readlink(ch / "/etc/nsswitch.conf") == "/etc/authselect/nsswitch.conf"
    assert (ch / "/etc/authselect/nsswitch.conf").read_bytes() == generated
    assert "/etc/nsswitch.conf is managed by authselect" in printed, printed
    assert "NOT changed" in printed
    # No authselect binary here, so the profile is named for the admin to fill in.
    cmds = commands_in(printed)
    assert cmds[0] == "authselect create-profile workbench -b PROFILE --symlink-meta --symlink-pam", cmds
    assert cmds[-1] == "authselect select custom/workbench FEATURES", cmds

    # The module itself is installed and works; only nsswitch.conf does not name it yet.
    for f in FILES:
        assert (ch / f).exists(), f"{f} not installed"
    assert "libnss_workbench.so.2" in ch.must("ldconfig", "-p").stdout
    with installed_daemon(ch, url, work):
        assert ch.must("getent", "-s", "workbench", "passwd", "alice").stdout.strip() == ALICE_LINE
        assert ch.run("getent", "passwd", "alice").returncode == 2

    # The printed edit, on the copy `authselect create-profile` makes of each kind of
    # profile: workbench after files (and its [ACTION]), a shadow map where none was.
    edits = [c for c in cmds if c.startswith(("sed ", "grep "))]
    assert len(edits) == 2, cmds
    profile = ch / "/etc/authselect/custom/workbench/nsswitch.conf"
    profile.parent.mkdir(parents=True)
    for template, want in (
            (SSSD_TEMPLATE, {
                "passwd": 'passwd:     sss files workbench systemd   {exclude if "with-custom-passwd"}',
                "group": 'group:      sss files workbench systemd   {exclude if "with-custom-group"}',
                "shadow": "shadow:     files workbench"}),
            (LOCAL_TEMPLATE, {
                "passwd": 'passwd:     files workbench {if "with-altfiles":altfiles }systemd '
                          '{exclude if "with-custom-passwd"}',
                "group": 'group:      files [SUCCESS=merge] workbench {if "with-altfiles":altfiles '
                         '[SUCCESS=merge] }systemd {exclude if "with-custom-group"}',
                "shadow": "shadow:     files workbench                                       "
                          '{exclude if "with-custom-shadow"}'})):
        profile.write_text(template)
        for c in edits:
            ch.must("sh", "-c", c)
        lines = profile.read_text().splitlines()
        for db, line in want.items():
            assert [l for l in lines if l.startswith(db + ":")] == [line], lines
        untouched = [l for l in template.splitlines() if not l.startswith(tuple(want))]
        assert [l for l in lines if not l.startswith(tuple(want))] == untouched

    printed = rpm_install(ch, "-e", "libnss-workbench")
    assert os.readlink(ch / "/etc/nsswitch.conf") == "/etc/authselect/nsswitch.conf"
    assert (ch / "/etc/authselect/nsswitch.conf").read_bytes() == generated
    # Workbench was never added, so there is nothing to tell on removal.
    assert "authselect" not in printed, printed
    for f in FILES:
        assert not (ch / f).exists(), f"{f} left behind by rpm -e"


# authselect(8) is in no Debian package and no RHEL mirror is reachable, so a stand-in
# answers the one question the scriptlets ask: `authselect current [--raw]`, exit 0 and
# the selected profile with its features (as authselect prints them), from a file the
# test writes.
AUTHSELECT_STUB = """\
#!/bin/sh
[ "$1" = current ] || exit 1
read -r profile < /etc/authselect/stub-current
[ "$2" = --raw ] && echo "$profile" || echo "Profile ID: ${profile%% *}"
"""


def test_authselect_current_profile_named(chroot):
    ch = chroot
    make_rhel_like(ch)
    stub = ch / "/usr/bin/authselect"
    stub.write_text(AUTHSELECT_STUB)
    stub.chmod(0o755)
    (ch / "/etc/authselect").mkdir()
    current = ch / "/etc/authselect/stub-current"
    # A regular nsswitch.conf, but authselect has a profile selected: the next
    # `authselect select --force` would replace the file, so it counts as managed.
    current.write_text("sssd with-mkhomedir with-sudo\n")
    original = (ch / "/etc/nsswitch.conf").read_bytes()

    printed = rpm_install(ch, "-i", RPM)
    assert (ch / "/etc/nsswitch.conf").read_bytes() == original
    assert "(profile: sssd with-mkhomedir with-sudo)" in printed, printed
    cmds = commands_in(printed)
    assert cmds[0] == "authselect create-profile workbench -b sssd --symlink-meta --symlink-pam", cmds
    assert cmds[-1] == "authselect select custom/workbench with-mkhomedir with-sudo", cmds

    # The admin did it (nsswitch.conf as authselect then writes it): an upgrade or
    # reinstall has nothing to say and changes nothing.
    current.write_text("custom/workbench with-mkhomedir with-sudo\n")
    selected = with_workbench(original.decode()).encode()
    (ch / "/etc/nsswitch.conf").write_bytes(selected)
    printed = rpm_install(ch, "-U", "--replacepkgs", RPM)
    assert "authselect" not in printed, printed
    assert (ch / "/etc/nsswitch.conf").read_bytes() == selected

    # Erase leaves authselect's file alone too, and says how to take workbench out.
    printed = rpm_install(ch, "-e", "libnss-workbench")
    assert (ch / "/etc/nsswitch.conf").read_bytes() == selected
    assert "/etc/authselect/custom/workbench/nsswitch.conf" in printed, printed
    assert "authselect apply-changes" in printed

    # A custom profile of the site's own: edit that one, no new profile.
    current.write_text("custom/site with-sudo\n")
    (ch / "/etc/nsswitch.conf").write_bytes(original)
    printed = rpm_install(ch, "-i", RPM)
    cmds = commands_in(printed)
    assert not any(c.startswith("authselect create-profile") for c in cmds), cmds
    assert any("/etc/authselect/custom/site/nsswitch.conf" in c for c in cmds), cmds
    assert cmds[-1] == "authselect apply-changes", cmds
    assert (ch / "/etc/nsswitch.conf").read_bytes() == original
