"""packaging/workbench-cached.service: the directives the issue requires, and
`systemd-analyze security --offline` keeps it in the "OK" band."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "packaging", "workbench-cached.service")


def directives():
    out = {}
    section = None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.setdefault((section, key), []).append(value)
    return out


def test_required_directives():
    d = directives()

    def one(section, key):
        return d[(section, key)][-1]

    assert "nss-user-lookup.target" in one("Unit", "Before").split()
    assert "nss-user-lookup.target" in one("Unit", "Wants").split()
    assert "network-online.target" in one("Unit", "After").split()
    assert one("Service", "Type") == "notify"
    assert one("Service", "Restart") == "on-failure"
    assert re.fullmatch(r"[0-9]+(ms|s)?", one("Service", "RestartSec"))
    assert one("Service", "RestartPreventExitStatus") == "2"  # configuration error
    assert one("Service", "RuntimeDirectory") == "workbench-nss"
    assert one("Service", "RuntimeDirectoryMode") == "0755"  # the socket is for everyone
    assert one("Service", "CacheDirectory") == "workbench-nss"
    assert one("Service", "ExecStart") == "/usr/sbin/workbench-cached serve"
    assert one("Service", "ProtectSystem") == "strict"
    assert one("Service", "ProtectHome") == "yes"
    assert one("Service", "PrivateTmp") == "yes"
    assert one("Service", "NoNewPrivileges") == "yes"
    assert one("Service", "CapabilityBoundingSet") == ""
    assert set(one("Service", "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "@system-service" in d[("Service", "SystemCallFilter")]
    assert one("Install", "WantedBy") == "multi-user.target"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_security():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", UNIT],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout
