"""scripts/demo, inside a private mount namespace: the fixture SCIM server with the
sample directory, the daemon at its default socket, then a few commands an
administrator would type, each echoed before its output. Everything it starts is
stopped at the end; every mount vanishes with the namespace."""

import shlex
import sys
from pathlib import Path

from workbench_testkit import sandbox as sb  # tests/support (scripts/lib/pythonpath.sh)

REPO = Path(__file__).resolve().parents[2]

RELEASE = REPO / "target/release"
problems = []


def show(box, cmd, user=None, input=None, expect_ok=True, note=None):
    who = "" if user is None else f"[as uid {user[0] if isinstance(user, tuple) else user}] "
    pipe = f"echo {shlex.quote(input.strip())} | " if input is not None else ""
    print(f"\n$ {who}{pipe}{' '.join(shlex.quote(str(c)) for c in cmd)}", flush=True)
    p = box.run(cmd, user=user, input=input)
    out = (p.stdout + p.stderr).rstrip("\n")
    if out:
        print(out)
    if p.returncode != 0:
        print(f"(exit {p.returncode})")
    if (p.returncode == 0) != expect_ok:
        msg = note or f"unexpected exit {p.returncode}"
        print(f"!!! {msg}")
        problems.append(f"{' '.join(map(str, cmd))}: {msg}")
    return p


def main():
    for f in ("libnss_workbench.so", "workbench-cached"):
        if not (RELEASE / f).exists():
            sys.exit(f"not built: {RELEASE / f}")
    box = sb.Sandbox(RELEASE / "libnss_workbench.so").setup()
    server = daemon = None
    try:
        server = sb.FixtureServer(REPO, REPO / "tests/fixture/sample-directory.json",
                                  box.workdir / "scim").start()
        print(f"fixture SCIM server: {server.url}  (sample directory)")
        daemon = sb.Daemon(RELEASE / "workbench-cached", box.workdir / "daemon", server)
        daemon.start()
        print(f"workbench-cached: pid {daemon.pid}, socket {sb.DEFAULT_SOCKET}, "
              f"config {daemon.config_path}:")
        print("    " + daemon.config_path.read_text().strip().replace("\n", "\n    "))
        print("nsswitch.conf (private): passwd/group/shadow: files workbench")

        show(box, ["getent", "passwd", "alice"])
        show(box, ["getent", "passwd"])
        show(box, ["getent", "group", "devs"])
        show(box, ["id", "alice"])
        show(box, ["getent", "-s", "workbench", "passwd", "bob"])
        show(box, [RELEASE / "workbench-cached", "status"])
        pam_note = ("PAM password check FAILED for the right password: shadow support "
                    "(getspnam through the module) is not working yet")
        show(box, ["pamtester", sb.PAM_SERVICE, "alice", "authenticate"],
             input="alice-password\n", note=pam_note)
        show(box, ["pamtester", sb.PAM_SERVICE, "alice", "authenticate"],
             input="wrong-password\n", expect_ok=False,
             note="a WRONG password was accepted")
        show(box, ["pamtester", sb.PAM_SERVICE, "alice", "authenticate"], user=(1001, 1001),
             input="alice-password\n",
             note=pam_note + " (as alice, through unix_chkpwd)")
    except sb.SandboxError as e:
        print(f"\n!!! {e}")
        problems.append(str(e).splitlines()[0])
    finally:
        if daemon is not None and daemon.running():
            code = daemon.stop()
            print(f"\nworkbench-cached stopped (exit {code})")
        if server is not None:
            server.stop()
        box.teardown()
    if problems:
        print("\nDemo finished with problems:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nDemo finished: everything behaved as expected.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
