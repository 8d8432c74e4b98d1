"""The private world the end-to-end tests and the demo run in (design.md §9).

Everything here happens INSIDE a private mount namespace (`unshare --mount
--propagation private`), so the host's /etc and /run are never touched: a tmpfs on
/run (the daemon listens at its default socket path there), a private ld.so.cache that
lists the built module (LD_LIBRARY_PATH never reaches setuid/setgid programs such as
unix_chkpwd), and bind mounts over /etc/nsswitch.conf, /etc/pam.d, /etc/passwd and
/etc/group. When the namespace ends, all of it is gone.

Used as a library by tests/e2e/conftest.py, scripts/lib/demo.py and scripts/lib/bench.py
(tests/support/README.md: how they import it):

    from workbench_testkit.sandbox import Daemon, FixtureServer, Sandbox

    sandbox = Sandbox(repo / "target/release/libnss_workbench.so").setup()
    scim = FixtureServer(repo, data_file, sandbox.workdir / "scim").start()
    daemon = Daemon(repo / "target/release/workbench-cached", sandbox.workdir / "d1",
                    scim).start()          # returns once the daemon sent READY=1
    sandbox.run(["getent", "passwd", "alice"], user=1001)
"""

import contextlib
import ctypes
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# The fixture server's control client, tests/fixture/control.py (on the import path with
# this package: pytest.ini, scripts/lib/pythonpath.sh).
from control import FixtureControl

DEFAULT_SOCKET = "/run/workbench-nss/socket"
SOCKET_DIR = "/run/workbench-nss"
WORK_ROOT = "/run/wb-e2e"
PAM_SERVICE = "workbench-test"
MODULE_SONAME = "libnss_workbench.so.2"

# A local account the private /etc/passwd and /etc/group add, for collision tests.
LOCAL_CLASH_NAME = "localclash"
LOCAL_CLASH_ID = 1500
# A local group no local user has (as `sudo` or `adm`), for the identity-rule tests.
LOCAL_GROUP_ONLY_NAME = "localteam"
LOCAL_GROUP_ONLY_ID = 1600

# Commands see a small, fixed environment: no LD_LIBRARY_PATH (it would hide a broken
# ld.so.cache) and no WORKBENCH_NSS_SOCKET (the module must use its default path).
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}

_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18


class SandboxError(RuntimeError):
    pass


def _mount_ns_id(pid="self"):
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def shared_mounts():
    """Mount points that still propagate to a peer group (would leak mounts)."""
    shared = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            optional = fields[6:fields.index("-")]
            if any(o.startswith("shared:") for o in optional):
                shared.append(fields[4])
    return shared


def host_namespace_id():
    """The mount namespace we must not touch: PID 1's, or (when /proc/1 is not
    readable from inside a new namespace) the one WB_HOST_MNT_NS names, which
    scripts/test and enter_private_namespace() record before unsharing."""
    return _mount_ns_id(1) or os.environ.get("WB_HOST_MNT_NS")


def in_private_namespace():
    """True when this process has its own mount namespace with no shared mounts."""
    own, host = _mount_ns_id(), host_namespace_id()
    return own is not None and host is not None and own != host and not shared_mounts()


def enter_private_namespace():
    """unshare(CLONE_NEWNS) + make / recursively private, for a single-threaded caller.

    scripts/test and scripts/demo already run under `unshare --mount --propagation
    private`; this lets `python3 -m pytest tests/e2e` work too, run as root.
    """
    if in_private_namespace():
        return
    os.environ.setdefault("WB_HOST_MNT_NS", _mount_ns_id() or "")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"unshare(CLONE_NEWNS): {os.strerror(err)} (run as root)")
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"mount --make-rprivate /: {os.strerror(err)}")
    if not in_private_namespace():
        raise SandboxError("still not in a private mount namespace")


def _check(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SandboxError(f"{' '.join(map(str, cmd))} exited {p.returncode}: "
                           f"{p.stderr.strip() or p.stdout.strip()}")
    return p


def _mkdir_public(path):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def nsswitch_text(host_text):
    """The host's nsswitch.conf with passwd, group and shadow set to `files workbench`."""
    wanted = {"passwd": "files workbench", "group": "files workbench",
              "shadow": "files workbench"}
    out, seen = [], set()
    for line in host_text.splitlines():
        key = line.split(":", 1)[0].strip() if ":" in line else None
        if key in wanted and not line.lstrip().startswith("#"):
            out.append(f"{key}:{' ' * (15 - len(key))}{wanted[key]}")
            seen.add(key)
        elif key == "initgroups" and not line.lstrip().startswith("#"):
            continue  # glibc then follows `group:`, which is what we test
        else:
            out.append(line)
    for key, value in wanted.items():
        if key not in seen:
            out.append(f"{key}:{' ' * (15 - len(key))}{value}")
    return "\n".join(out) + "\n"


# The password stack README.md recommends: pam_localuser lets accounts in /etc/passwd
# through to pam_unix; a directory user is told where to change the password, and refused.
PAM_PASSWORD_MESSAGE = ("The password of %u is managed by the identity provider "
                        "(Posit Workbench); change it there.")

PAM_SERVICE_TEXT = f"""\
# libnss-workbench end-to-end tests: pam_unix alone, so a result is pam_unix's own.
auth     required pam_unix.so
account  required pam_unix.so
password [success=2 default=ignore] pam_localuser.so
password requisite pam_echo.so {PAM_PASSWORD_MESSAGE}
password requisite pam_deny.so
password required pam_unix.so
session  required pam_unix.so
"""


class Sandbox:
    """Private /run, ld.so.cache, nsswitch.conf, pam.d, passwd and group."""

    def __init__(self, module_path=None, local_clash=True, extra_modules=None):
        self.module_path = Path(module_path) if module_path else None
        # {soname: path}: other NSS modules put beside ours (scripts/bench's floor module).
        self.extra_modules = {k: Path(v) for k, v in (extra_modules or {}).items()}
        self.local_clash = local_clash
        self.workdir = Path(WORK_ROOT)
        self.mounts = []
        self.host_passwd = Path("/etc/passwd").read_text(encoding="utf-8")
        self.host_group = Path("/etc/group").read_text(encoding="utf-8")

    # -- setup ------------------------------------------------------------------
    def setup(self):
        if os.geteuid() != 0:
            raise SandboxError("the sandbox needs root (mounts, setpriv, the daemon)")
        if not in_private_namespace():
            raise SandboxError(
                "refusing to mount anything outside a private mount namespace: run "
                "under `unshare --mount --propagation private` (scripts/test does)")
        # Capture host files before anything is mounted over them.
        host_ld_conf = Path("/etc/ld.so.conf").read_text(encoding="utf-8")
        host_nsswitch = Path("/etc/nsswitch.conf").read_text(encoding="utf-8")

        self._mount(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev",
                     "wb-e2e-run", "/run"], "/run")
        _mkdir_public(SOCKET_DIR)
        work = _mkdir_public(self.workdir)
        etc = _mkdir_public(work / "etc")

        # Module + private ld.so.cache. -X: never create links in the host's library
        # dirs; ldconfig rewrites /var/cache/ldconfig/aux-cache even with -i, so that
        # directory is a private one too.
        aux = _mkdir_public(work / "ldconfig-aux")
        if Path("/var/cache/ldconfig").is_dir():
            self._mount(["mount", "--bind", str(aux), "/var/cache/ldconfig"],
                        "/var/cache/ldconfig")
        self.libdir = _mkdir_public(work / "lib")
        if self.module_path is not None:
            if not self.module_path.exists():
                raise SandboxError(f"module not built: {self.module_path}")
            dst = self.libdir / MODULE_SONAME
            shutil.copyfile(self.module_path, dst)
            os.chmod(dst, 0o755)
        for soname, path in self.extra_modules.items():
            shutil.copyfile(path, self.libdir / soname)
            os.chmod(self.libdir / soname, 0o755)
        ld_conf = etc / "ld.so.conf"
        ld_conf.write_text(host_ld_conf.rstrip("\n") + f"\n{self.libdir}\n", encoding="utf-8")
        ld_cache = etc / "ld.so.cache"
        _check(["ldconfig", "-i", "-X", "-C", str(ld_cache), "-f", str(ld_conf)])
        os.chmod(ld_cache, 0o644)
        if self.module_path is not None:
            listing = _check(["ldconfig", "-p", "-C", str(ld_cache)]).stdout
            if str(self.libdir / MODULE_SONAME) not in listing:
                raise SandboxError(f"private ld.so.cache does not list {MODULE_SONAME}")

        nss = etc / "nsswitch.conf"
        nss.write_text(nsswitch_text(host_nsswitch), encoding="utf-8")
        os.chmod(nss, 0o644)
        self.nsswitch_path = nss

        pam = work / "pam.d"
        shutil.copytree("/etc/pam.d", pam, symlinks=True)
        (pam / PAM_SERVICE).write_text(PAM_SERVICE_TEXT, encoding="utf-8")
        os.chmod(pam, 0o755)
        os.chmod(pam / PAM_SERVICE, 0o644)

        passwd, group = etc / "passwd", etc / "group"
        ptext, gtext = self.host_passwd, self.host_group
        if self.local_clash:
            ptext = ptext.rstrip("\n") + (
                f"\n{LOCAL_CLASH_NAME}:x:{LOCAL_CLASH_ID}:{LOCAL_CLASH_ID}:"
                f"Local Clash:/nonexistent:/usr/sbin/nologin\n")
            gtext = gtext.rstrip("\n") + (
                f"\n{LOCAL_CLASH_NAME}:x:{LOCAL_CLASH_ID}:\n"
                f"{LOCAL_GROUP_ONLY_NAME}:x:{LOCAL_GROUP_ONLY_ID}:\n")
        passwd.write_text(ptext, encoding="utf-8")
        group.write_text(gtext, encoding="utf-8")
        os.chmod(passwd, 0o644)
        os.chmod(group, 0o644)

        for src, dst in ((ld_cache, "/etc/ld.so.cache"), (nss, "/etc/nsswitch.conf"),
                         (pam, "/etc/pam.d"), (passwd, "/etc/passwd"),
                         (group, "/etc/group")):
            self._mount(["mount", "--bind", str(src), dst], dst)
        return self

    @contextlib.contextmanager
    def nsswitch(self, **databases):
        """Temporarily sets databases in the bind-mounted nsswitch.conf, e.g.
        `with sandbox.nsswitch(passwd="workbench"):`. The file is rewritten in place
        (same inode: a bind mount pins the inode, a rename would not be seen), and
        restored afterwards. Every new process reads it afresh."""
        original = self.nsswitch_path.read_text(encoding="utf-8")
        out = []
        for line in original.splitlines():
            key = line.split(":", 1)[0].strip() if ":" in line else None
            if key in databases and not line.lstrip().startswith("#"):
                line = f"{key}:{' ' * (15 - len(key))}{databases[key]}"
            out.append(line)

        def rewrite(text):
            with open(self.nsswitch_path, "r+", encoding="utf-8") as f:
                f.write(text)
                f.truncate()

        rewrite("\n".join(out) + "\n")
        try:
            yield
        finally:
            rewrite(original)

    def install(self, path):
        """A copy of an executable in the sandbox's public bin dir, so that setpriv'd
        users can run it even when the checkout sits under a private directory."""
        bindir = _mkdir_public(self.workdir / "bin")
        dst = bindir / Path(path).name
        shutil.copyfile(path, dst)
        os.chmod(dst, 0o755)
        return dst

    def _mount(self, cmd, target):
        _check(cmd)
        self.mounts.append(target)

    def teardown(self):
        """Unmount in reverse order (the namespace's end would do it too)."""
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", target], capture_output=True)
        self.mounts.clear()

    # -- running commands -------------------------------------------------------
    def run(self, cmd, user=None, input=None, env=None, timeout=120, init_groups=False):
        """Run cmd (list) and return CompletedProcess (text). user: uid, (uid, gid)
        or None for root; it runs through `setpriv` with no supplementary groups (or,
        with init_groups, those NSS gives, which goes through the module)."""
        cmd = [str(c) for c in cmd]
        if user is not None:
            uid, gid = user if isinstance(user, tuple) else (user, user)
            groups = ["--init-groups"] if init_groups else ["--clear-groups"]
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", *groups, "--", *cmd]
        full_env = dict(BASE_ENV)
        full_env.update(env or {})
        return subprocess.run(cmd, input=input, capture_output=True, text=True,
                              env=full_env, timeout=timeout)


def random_token(prefix):
    return f"{prefix}-{secrets.token_hex(24)}"


def write_secret(path, text):
    """A root-owned 0600 file (the daemon refuses an admin token readable by others)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)
    return path


def _drain(stream, log_path):
    with open(log_path, "a", encoding="utf-8", errors="replace") as log:
        for line in stream:
            log.write(line)
            log.flush()


def tail(path, lines=60):
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class FixtureServer:
    """The fixture SCIM server (tests/fixture/scim_server.py) on loopback."""

    def __init__(self, repo, data_file, workdir, max_page=None, unix=None, name="scim",
                 tls_cert=None, tls_key=None, eq_only=False):
        self.repo = Path(repo)
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.data_file = Path(data_file)
        self.workdir = _mkdir_public(workdir)
        self.max_page = max_page
        self.eq_only = eq_only
        self.unix = unix
        self.name = name
        self.log_path = self.workdir / "server.log"
        self.user_token_path = write_secret(self.workdir / "user-token", random_token("wbu"))
        self.admin_token_path = write_secret(self.workdir / "admin-token", random_token("wba"))
        self.proc = None
        self.url = None
        self.control_url = None
        self.control = None

    def start(self, timeout=30):
        script = self.repo / "tests/fixture/scim_server.py"
        if not script.exists():
            raise SandboxError(f"fixture SCIM server missing: {script}")
        ready_file = self.workdir / "ready.json"
        cmd = [sys.executable, str(script), "--data", str(self.data_file),
               "--user-token-file", str(self.user_token_path),
               "--admin-token-file", str(self.admin_token_path),
               "--ready-file", str(ready_file), "--verbose"]
        cmd += ["--unix", str(self.unix)] if self.unix else ["--listen", "127.0.0.1:0"]
        if self.max_page:
            cmd += ["--max-page", str(self.max_page)]
        if self.eq_only:
            cmd += ["--eq-only"]
        if self.tls_cert:
            cmd += ["--tls-cert", str(self.tls_cert), "--tls-key", str(self.tls_key)]
        log = open(self.log_path, "a", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                     env=dict(BASE_ENV), start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        line = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise SandboxError(f"fixture server not READY in {timeout}s:\n"
                                   f"{tail(self.log_path)}")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                continue
            line = self.proc.stdout.readline()
            if not line:  # EOF: it exited
                self.proc.wait()
                raise SandboxError(f"fixture server exited {self.proc.returncode} before "
                                   f"READY:\n{tail(self.log_path)}")
            if line.startswith("READY "):
                break
        self.url = line.split(None, 1)[1].strip()
        threading.Thread(target=_drain, args=(self.proc.stdout, self.log_path),
                         daemon=True).start()
        info = json.loads(ready_file.read_text(encoding="utf-8"))
        self.control_url = info.get("control")
        self.control = FixtureControl(self.control_url)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Daemon:
    """workbench-cached serve --foreground, at the default socket path."""

    def __init__(self, binary, workdir, server, **settings):
        self.binary = str(binary)
        self.workdir = _mkdir_public(workdir)
        self.server = server
        self.settings = {
            "server-address": server.url if server else "http://127.0.0.1:9",
            "user-token-path": str(server.user_token_path) if server else "",
            "admin-token-path": str(server.admin_token_path) if server else "",
            "socket-path": DEFAULT_SOCKET,
            "cache-path": str(self.workdir / "cache.db"),
            "log-level": "debug",
            "enumerate": "1",
        }
        self.settings.update({k.replace("_", "-"): str(v) for k, v in settings.items()})
        self.config_path = self.workdir / "workbench-nss.conf"
        self.log_path = self.workdir / "daemon.log"
        self.proc = None
        self.exit_codes = []
        # Extra environment for `serve` (tests of what the daemon makes of it).
        self.start_env = {}

    def write_config(self):
        lines = ["# written by tests/support/workbench_testkit/sandbox.py"]
        lines += [f"{k}={v}" for k, v in self.settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.chmod(self.config_path, 0o644)
        return self.config_path

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=60):
        """Start and return once READY=1 arrived on $NOTIFY_SOCKET."""
        self.write_config()
        notify_path = self.workdir / "notify.sock"
        if notify_path.exists():
            notify_path.unlink()
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        notify.bind(str(notify_path))
        env = dict(BASE_ENV, NOTIFY_SOCKET=str(notify_path), **self.start_env)
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"--- serve --config {self.config_path}\n")
            log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--config", str(self.config_path), "--foreground"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                # Short select slices only to notice an early exit; READY=1 itself is
                # the synchronisation.
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise SandboxError(f"daemon sent no READY=1 in {timeout}s:\n"
                                       f"{tail(self.log_path)}")
                r, _, _ = select.select([notify], [], [], min(left, 0.25))
                if r:
                    msg = notify.recv(4096).decode("utf-8", "replace")
                    if "READY=1" in msg.split("\n"):
                        return self
                elif self.proc.poll() is not None:
                    code = self.proc.returncode
                    self.proc = None
                    raise SandboxError(f"daemon exited {code} before READY=1:\n"
                                       f"{tail(self.log_path)}")
        finally:
            notify.close()
            notify_path.unlink(missing_ok=True)

    def stop(self, timeout=20):
        """SIGTERM; returns the exit code (0 expected)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test left it stopped
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise SandboxError(f"daemon ignored SIGTERM for {timeout}s")
        code = self.proc.returncode
        self.exit_codes.append(code)
        self.proc = None
        return code

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cli(self, *args, timeout=30):
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              env=dict(BASE_ENV), timeout=timeout)

    def status(self):
        p = self.cli("status", "--json")
        if p.returncode != 0:
            raise SandboxError(f"status --json exited {p.returncode}: {p.stderr.strip()}")
        return json.loads(p.stdout)
