"""A daemon that answers like workbench-cached but offers a bad map image, for the
module's image checks (test_fast_path.py). Run as a script so that it can run as another
user:

    python3 fake_map_daemon.py SOCKET MODE LOG

It answers `PasswdByName`/`PasswdByUid` for `mallory` (uid 4242) from the socket, and a
`MapImage` request with an image of MODE: `unsealed` (a memfd without seals), `regular`
(a regular file), `wrong_size` (sealed, but not the size offered), `bad_header` (sealed,
the size offered, not an image). Every request's tag (and, for `MapImage`, the refusal
code the module reported) is appended to LOG, one per line."""

import fcntl
import os
import socket
import struct
import sys
import tempfile
import threading

F_SEAL_FUTURE_WRITE = 0x10
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | F_SEAL_FUTURE_WRITE
MALLORY = (4242, 4242, b"mallory", b"x", b"Fake Daemon", b"/home/mallory", b"/bin/sh")
IMAGE_LEN = 3 * 4096


def s(b):
    return struct.pack("<I", len(b)) + b


def passwd_record():
    uid, gid, name, pw, gecos, home, shell = MALLORY
    return struct.pack("<II", uid, gid) + s(name) + s(pw) + s(gecos) + s(home) + s(shell)


def frame(tag, payload):
    return struct.pack("<IBB", len(payload), 1, tag) + payload


def image_fd(mode):
    if mode == "regular":
        f = tempfile.TemporaryFile()
        f.write(b"WBNSMAP\0" + b"\0" * (IMAGE_LEN - 8))
        f.flush()
        return os.dup(f.fileno()), IMAGE_LEN
    fd = os.memfd_create("workbench-nss-map", os.MFD_ALLOW_SEALING)
    os.write(fd, b"WBNSMAP\0" + b"\x07" * (IMAGE_LEN - 8))
    if mode != "unsealed":
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    offered = IMAGE_LEN + 4096 if mode == "wrong_size" else IMAGE_LEN
    return fd, offered


def serve(conn, mode, log):
    with conn:
        while True:
            head = conn.recv(6, socket.MSG_WAITALL)
            if len(head) < 6:
                return
            n, _, tag = struct.unpack("<IBB", head)
            payload = conn.recv(n, socket.MSG_WAITALL) if n else b""
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{tag} {payload[0] if tag == 10 and payload else ''}\n")
            if tag == 10:
                fd, offered = image_fd(mode)
                offer = struct.pack("<QQ", 1, offered)
                socket.send_fds(conn, [frame(0, offer)], [fd])
                os.close(fd)
            elif tag in (1, 2):
                conn.sendall(frame(0, passwd_record()))
            else:
                conn.sendall(frame(1, b""))


def main():
    path, mode, log = sys.argv[1:4]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen(16)
    print("READY", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode, log), daemon=True).start()


if __name__ == "__main__":
    main()
