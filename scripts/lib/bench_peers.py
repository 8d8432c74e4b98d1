"""The peers scripts/bench measures beside the module, each run inside the benchmark's
private mount namespace (nothing on the host is started, stopped or changed):

  nscd  glibc's own nscd (unpacked by scripts/lib/deps.sh, the host's libc6 version)
        caching `files`, with its own config file; its socket and its unlinked
        database files live in /run/nscd, and /run is the sandbox's private tmpfs, so a
        host nscd (if any) is neither seen nor touched. Shared maps on, as shipped.
  sssd  SSSD 2.8 (sssd-common, sssd-proxy and libnss-sss, unpacked, laid over /usr by a
        read-only overlay in this namespace) with its `proxy` provider over libnss_files
        (`id_provider = proxy`, `proxy_lib_name = files`), so over the same /etc/passwd
        and /etc/group as files-N; /var/lib/sss and /var/log are writable overlays in the
        sandbox. The proxy provider fetches an entry when it is first asked for, so the
        row's keys are in SSSD's memory cache after one lookup each, at any directory
        size. Not the `files` provider (measured: with the 10,000-user directory it had
        not answered after 15 minutes here, sssd_be at 95% of a core and 1 GB, its
        cache untouched until its one import transaction commits; at 1,000 users,
        about 5 s): it imports every line in one blocking pass. Upstream knows it
        (SSSD/sssd#5699: 40 s at 5,000 users, closed "deprecated, no further
        improvements planned"); SSSD 2.9 deprecated the provider in favour of this
        very proxy configuration, 2.11 removed it. No setting makes the import
        incremental: the domain `timeout` only keeps the watchdog from killing it, and
        `fallback_to_nss` sends lookups past SSSD while it imports. Lookups are
        answered by libnss_sss's memory-mapped cache (/var/lib/sss/mc) once the
        responder has put an entry there; the responder logs every request it answers
        (debug_level 6), so the caller can prove that a measurement never reached its
        socket: responder_requests().

While a peer runs, glibc asks it first (nscd) or nsswitch.conf names it (`sss`); the
caller stops it before measuring anything else.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

NSCD_SOCKET = Path("/run/nscd/socket")

NSCD_CONF = """\
# scripts/bench: nscd caching files; sizes for 100,000 users (two keys each).
debug-level 0
paranoia no
enable-cache passwd yes
positive-time-to-live passwd 3600
negative-time-to-live passwd 20
suggested-size passwd 200003
check-files passwd yes
persistent passwd no
shared passwd yes
max-db-size passwd 536870912
auto-propagate passwd yes
enable-cache group yes
positive-time-to-live group 3600
negative-time-to-live group 60
suggested-size group 100003
check-files group yes
persistent group no
shared group yes
max-db-size group 536870912
auto-propagate group yes
enable-cache hosts no
enable-cache services no
enable-cache netgroup no
"""

# memcache sizes are MiB; the defaults (8/6/10) hold far fewer than 100,000 users.
# debug_level 6 in [nss]: a `REQ_TRACE: New request` line per lookup the responder
# answers; memory-cache hits never reach it, so they log nothing.
SSSD_CONF = """\
[sssd]
services = nss
domains = bench

[nss]
debug_level = 6
timeout = 3600
memcache_timeout = 3600
memcache_size_passwd = 64
memcache_size_group = 64
memcache_size_initgroups = 64

[domain/bench]
# On demand, through libnss_files (the files-N lines): see the module docstring.
id_provider = proxy
proxy_lib_name = files
auth_provider = none
enumerate = false
entry_cache_timeout = 3600
"""


class PeerError(RuntimeError):
    pass


def wait_until(what, check, timeout, interval=0.05):
    """Polls check() until it returns something truthy (never a sleep in its place)."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise PeerError(f"not reached in {timeout}s: {what}")
        time.sleep(interval)


def tail(path, n=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


class Nscd:
    def __init__(self, root, workdir):
        self.binary = Path(root) / "usr/sbin/nscd"
        self.workdir = Path(workdir)
        self.proc = None

    def start(self, timeout=30):
        if not self.binary.exists():
            raise PeerError(f"nscd not unpacked at {self.binary} (scripts/lib/deps.sh)")
        if NSCD_SOCKET.exists():
            raise PeerError(f"{NSCD_SOCKET} exists in the private /run: another nscd?")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / "nscd.conf"
        self.conf.write_text(NSCD_CONF)
        NSCD_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        self.log = self.workdir / "nscd.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([str(self.binary), "-F", "-f", str(self.conf)],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

        def up():
            if self.proc.poll() is not None:
                raise PeerError(f"nscd exited {self.proc.returncode}: {tail(self.log)}")
            return self.stats() is not None

        wait_until("nscd answering on its socket", up, timeout)
        return self

    def stats(self):
        """`nscd -g` counters for passwd and group, None while it does not answer."""
        p = subprocess.run([str(self.binary), "-g", "-f", str(self.conf)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            return None
        out, section = {}, None
        for line in p.stdout.splitlines():
            line = line.strip()
            if line.endswith("cache:"):
                section = line.split()[0] if line.split()[0] in ("passwd", "group") else None
                if section:
                    out[section] = {}
            elif section and line:
                value, _, label = line.partition("  ")
                try:
                    out[section][label.strip()] = int(value.strip().rstrip("%"))
                except ValueError:
                    pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # So that later rows' processes do not even try it.
        NSCD_SOCKET.unlink(missing_ok=True)


class Sssd:
    def __init__(self, root, workdir, sandbox):
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.sandbox = sandbox
        self.proc = None
        self.ready_s = None
        self.mounts = []

    @staticmethod
    def has_proxy_provider(root):
        return any(Path(root).glob("usr/lib*/**/sssd/libsss_proxy.so"))

    def _overlay(self, target, upper=None):
        name = target.strip("/").replace("/", "-")
        if upper:
            up, work = self.workdir / f"{name}-up", self.workdir / f"{name}-work"
            up.mkdir(parents=True, exist_ok=True)
            work.mkdir(parents=True, exist_ok=True)
            opts = f"lowerdir={target},upperdir={up},workdir={work}"
        else:
            opts = f"lowerdir={self.root / target.strip('/')}:{target}"
        self.sandbox._mount(["mount", "-t", "overlay", f"wb-bench-{name}", "-o", opts, target],
                            target)
        self.mounts.append(target)

    def start(self, probe_name, timeout=900):
        """Starts sssd; returns once `getent passwd probe_name` is answered by it."""
        if not (self.root / "usr/sbin/sssd").exists():
            raise PeerError(f"sssd not unpacked under {self.root} (scripts/lib/deps.sh)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._overlay("/usr")
        self._overlay("/var/lib", upper=True)
        self._overlay("/var/log", upper=True)
        for d in ("db", "mc", "pipes/private", "pubconf/krb5.include.d", "gpo_cache",
                  "keytabs", "deskprofile"):
            Path("/var/lib/sss", d).mkdir(parents=True, exist_ok=True)
        os.chmod("/var/lib/sss/pipes/private", 0o700)
        Path("/var/log/sssd").mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / "sssd.conf"
        self.conf.write_text(SSSD_CONF)
        os.chmod(self.conf, 0o600)
        self.log = self.workdir / "sssd.log"
        t0 = time.monotonic()
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["/usr/sbin/sssd", "-i", "-c", str(self.conf),
                                          "--logger=stderr"],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

        def answered():
            if self.proc.poll() is not None:
                raise PeerError(f"sssd exited {self.proc.returncode}: {tail(self.log)}")
            p = subprocess.run(["getent", "-s", "sss", "passwd", probe_name],
                               capture_output=True, text=True)
            return p.returncode == 0

        wait_until(f"sssd answering for {probe_name}", answered, timeout, interval=0.2)
        self.ready_s = time.monotonic() - t0
        return self

    def responder_requests(self):
        """Requests the nss responder has logged so far (`REQ_TRACE: New request`, one
        per lookup it answers; debug_level 6): libnss_sss asks it only when its memory
        cache does not answer."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return 0
        return text.count("REQ_TRACE: New request")

    def mc_sizes(self):
        out = {}
        for f in ("passwd", "group", "initgroups"):
            p = Path("/var/lib/sss/mc", f)
            out[f] = p.stat().st_size if p.exists() else 0
        return out

    def stop(self):
        if not self.proc:
            self.unmount()
            return
        if self.proc.poll() is None:
            # The monitor stops its responders and providers on SIGTERM.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # A provider busy importing ignores its monitor, and sits in its own process
        # group: whatever is left of the session we started goes.
        left = session_pids(self.proc.pid)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until("sssd's processes gone", lambda: not session_pids(self.proc.pid), 30)
        self.unmount()

    def unmount(self):
        """Its memory cache gone and its tree off /usr and /var: libnss_sss reads the
        mapped files without asking whether SSSD still runs, so a later `sss` lookup in
        this namespace (the next size's daemon checking its users against local
        accounts, say) would otherwise get the last run's entries."""
        for f in Path("/var/lib/sss/mc").glob("*"):
            f.unlink(missing_ok=True)
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", target], capture_output=True)
            if target in self.sandbox.mounts:
                self.sandbox.mounts.remove(target)
        self.mounts.clear()


def session_pids(sid):
    """Processes in session `sid` (one that start_new_session=True made for us)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        # after the name: state ppid pgrp session ...
        if len(fields) > 3 and fields[3] == str(sid) and fields[0] != "Z":
            pids.append(int(d))
    return pids
