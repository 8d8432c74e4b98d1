"""scripts/install --prefix-root: the same files as the .deb, and nsswitch.conf edited
with the same script (a real install on / is what test_deb_install does for the .deb)."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT = (ROOT / "target/release/libnss_workbench.so").exists() and \
    (ROOT / "target/release/workbench-cached").exists()


@pytest.mark.skipif(not BUILT, reason="needs the release build (scripts/test builds it)")
def test_install_into_a_root(tmp_path):
    dest = tmp_path / "root"
    (dest / "etc").mkdir(parents=True)
    (dest / "etc/nsswitch.conf").write_text("passwd: files sss\ngroup: files sss\nhosts: files dns\n")
    r = subprocess.run([str(ROOT / "scripts/install"), "--no-build", "--prefix-root", str(dest)],
                       capture_output=True, text=True, env={**os.environ, "WB_NO_BUILD": "1"})
    assert r.returncode == 0, r.stderr
    installed = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    libs = [p for p in installed if p.endswith("/libnss_workbench.so.2")]
    assert len(libs) == 1 and libs[0].startswith("usr/lib"), installed
    for f in ("usr/sbin/workbench-cached", "etc/systemd/system/workbench-cached.service",
              "etc/systemd/system/workbench-cached.socket",
              "etc/systemd/system/workbench-cached-tokens.path",
              "etc/systemd/system/workbench-cached-tokens.service",
              "etc/sysusers.d/workbench-nss.conf",
              "usr/share/man/man8/workbench-cached.8.gz",
              "usr/share/man/man5/workbench-nss.conf.5.gz",
              "usr/share/doc/libnss-workbench/examples/workbench-cached.conf",
              "etc/apparmor.d/abstractions/nameservice.d/workbench-nss"):
        assert f in installed, installed
    assert os.access(dest / "usr/sbin/workbench-cached", os.X_OK)
    text = (dest / "etc/nsswitch.conf").read_text()
    assert "passwd: files workbench sss\ngroup: files workbench sss\nhosts: files dns\n" in text
    assert "shadow:         files workbench\n" in text
