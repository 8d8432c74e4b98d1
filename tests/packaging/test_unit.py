"""packaging/workbench-cached.service and .socket: the directives the issue requires,
the ones that tie the socket's life to the service's, and `systemd-analyze security
--offline` keeps the service in the "OK" band. (ListenStream= and the modes against the
code: cached/src/server/activation.rs; the units under a real systemd: the VM test.)"""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "packaging", "workbench-cached.service")
SOCKET_UNIT = os.path.join(ROOT, "packaging", "workbench-cached.socket")


def directives(path=UNIT):
    out = {}
    section = None
    with open(path) as f:
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
    # Issue 10: no RuntimeDirectory= any more: with User= it would hand the socket's
    # directory to the service user; the socket unit creates it (root, 0755).
    assert ("Service", "RuntimeDirectory") not in d
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
    # systemd binds the socket outside the service's mount namespace and passes it.
    assert "workbench-cached.socket" in one("Unit", "Requires").split()
    assert "workbench-cached.socket" in one("Unit", "After").split()
    # Issue 10: an unprivileged user, tokens as credentials (an empty default so that a
    # missing file is reported, not a failed start), rotation through the .path unit.
    assert one("Service", "User") == "_workbench-nss"
    assert d[("Service", "LoadCredential")] == ["user-token:/etc/rstudio/nss-user-token",
                                                 "admin-token:/etc/rstudio/nss-admin-token"]
    assert d[("Service", "SetCredential")] == ["user-token:not loaded", "admin-token:not loaded"]
    assert "workbench-cached-tokens.path" in one("Unit", "Wants").split()
    # Rotation: root (`+`, outside the sandbox) reads the token files and pushes them to
    # the running daemon; no kill -HUP (the daemon could not read the files itself).
    assert one("Service", "ExecReload") == "+/usr/sbin/workbench-cached reload"


def test_token_rotation_units():
    path = directives(os.path.join(ROOT, "packaging", "workbench-cached-tokens.path"))
    assert path[("Path", "PathChanged")] == ["/etc/rstudio/nss-user-token",
                                             "/etc/rstudio/nss-admin-token"]
    assert path[("Path", "Unit")] == ["workbench-cached-tokens.service"]
    svc = directives(os.path.join(ROOT, "packaging", "workbench-cached-tokens.service"))
    # Rotation without a restart (the reload hands the daemon the files), and nothing
    # when the daemon is stopped.
    assert svc[("Service", "ExecStart")] == [
        "systemctl try-reload-or-restart workbench-cached.service"]


def test_sysusers_file_names_the_unit_user():
    with open(os.path.join(ROOT, "packaging", "sysusers.d", "workbench-nss.conf")) as f:
        lines = [l.split() for l in f if l.strip() and not l.startswith("#")]
    assert lines and lines[0][:2] == ["u", directives()[("Service", "User")][-1]]


def test_socket_lives_and_dies_with_the_service():
    d = directives(SOCKET_UNIT)

    def one(section, key):
        values = d.get((section, key), [])
        assert len(values) == 1, f"[{section}] {key}: {values}"
        return values[0]

    # Down with the service (a configuration error, `systemctl stop`): no socket left
    # listening for lookups to queue on, and no file left behind.
    assert one("Unit", "BindsTo") == "workbench-cached.service"
    assert one("Socket", "RemoveOnStop") == "yes"
    assert one("Socket", "Accept") == "no"
    # Bound when the service starts, not at sockets.target in early boot.
    assert one("Unit", "DefaultDependencies") == "no"
    assert "network-online.target" in one("Unit", "After").split()
    assert ("Install", "WantedBy") not in d


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_security():
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", UNIT],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= 2.0, r.stdout
