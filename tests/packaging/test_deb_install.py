"""The built .deb installed for real: `dpkg -i` into a clean Debian 12 root (debootstrap
--variant=minbase, cached as a tarball under target/packaging-root/), entered with
chroot; the installed daemon answers `getent passwd alice` through the installed module
from the fixture SCIM server on loopback; `dpkg --purge` restores nsswitch.conf.

Runs only with WB_PACKAGING_DEB (the .deb to test; `scripts/test` builds it
and sets it), as root, inside a private mount namespace (the proc, dev and run mounts
of the chroot must vanish with the test): the host's /etc is never touched.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

# The chroot, fixture server and daemon helpers; chroot and scim are fixtures.
from chroot_support import (chroot, assert_alice_resolves, assert_unknown_before_daemon,  # noqa: F401
                            installed_daemon, must, scim)

DEB = os.environ.get("WB_PACKAGING_DEB")

pytestmark = pytest.mark.skipif(
    not DEB, reason="set WB_PACKAGING_DEB (scripts/test --packaging) to install the .deb")


def test_dpkg_install_getent_purge(chroot, scim):
    ch = chroot
    url, work = scim
    original = (ch / "/etc/nsswitch.conf").read_text()
    deb_in_root = ch / f"/tmp/{Path(DEB).name}"
    shutil.copy(DEB, deb_in_root)

    ch.must("dpkg", "-i", f"/tmp/{deb_in_root.name}")

    # nsswitch.conf: workbench right after files on passwd, group, shadow; nothing else.
    edited = (ch / "/etc/nsswitch.conf").read_text()
    expected = original
    for db in ("passwd", "group", "shadow"):
        line = next(l for l in original.splitlines() if l.startswith(db + ":"))
        expected = expected.replace(line + "\n", line.replace(" files", " files workbench", 1) + "\n")
    assert edited == expected
    assert expected != original

    multiarch = must(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).stdout.strip()
    module = f"/usr/lib/{multiarch}/libnss_workbench.so.2"
    files = [module, "/usr/sbin/workbench-cached", "/lib/systemd/system/workbench-cached.service",
             "/lib/systemd/system/workbench-cached.socket",
             "/lib/systemd/system/workbench-cached-tokens.path",
             "/lib/systemd/system/workbench-cached-tokens.service",
             "/usr/lib/sysusers.d/workbench-nss.conf",
             "/usr/share/man/man8/workbench-cached.8.gz", "/usr/share/man/man5/workbench-nss.conf.5.gz",
             "/usr/share/doc/libnss-workbench/examples/workbench-cached.conf",
             "/usr/share/doc/libnss-workbench/copyright",
             "/etc/apparmor.d/abstractions/nameservice.d/workbench-nss"]
    for f in files:
        assert (ch / f).exists(), f"{f} not installed"
    # The ldconfig trigger put the module in the chroot's ld.so.cache.
    assert "libnss_workbench.so.2" in ch.must("ldconfig", "-p").stdout
    # Enabled for systemd (no systemd runs in the chroot, so nothing was started).
    assert (ch / "/etc/systemd/system/multi-user.target.wants/workbench-cached.service").is_symlink()

    assert_unknown_before_daemon(ch)
    # Configure as Workbench would, start the installed daemon, look alice up.
    with installed_daemon(ch, url, work):
        assert_alice_resolves(ch)
        status = json.loads(ch.must("/usr/sbin/workbench-cached", "status", "--json").stdout)
        assert status["tokens"]["user"] == "ok", status

    ch.must("dpkg", "--purge", "libnss-workbench")
    assert (ch / "/etc/nsswitch.conf").read_text() == original
    for f in files:
        assert not (ch / f).exists(), f"{f} left behind by purge"
    assert not (ch / "/var/cache/workbench-nss").exists()
    assert "libnss_workbench" not in ch.must("ldconfig", "-p").stdout
    assert ch.run("getent", "passwd", "alice").returncode == 2
