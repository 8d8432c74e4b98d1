"""What the tests of the daemon without root (test_trust_boundaries.py,
test_token_reload.py) share: the unprivileged uid, a systemd-style credentials
directory, and a listener run as another user that records what it was sent."""

import os

NOBODY = 65534

# python3 -c LISTENER PATH SEEN: listens on the Unix socket PATH (mode 0666), prints
# READY, and appends whatever each client sends to the file SEEN.
LISTENER = r"""
import os, socket, sys
path, seen = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o666)
s.listen(16)
print("READY", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        data = c.recv(65536)
    except OSError:
        data = b""
    with open(seen, "ab") as f:
        f.write(data)
    c.close()
"""


def credentials_dir(base, uid, tokens):
    """Laid out as systemd's $CREDENTIALS_DIRECTORY: a directory only the service user
    can read, one 0400 file per credential, owned by that user."""
    d = base / "credentials"
    d.mkdir(parents=True, exist_ok=True)
    for name, source in tokens.items():
        f = d / name
        f.write_bytes(source.read_bytes())
        os.chown(f, uid, uid)
        os.chmod(f, 0o400)
    os.chown(d, uid, uid)
    os.chmod(d, 0o500)
    return d
