"""A client of the daemon's socket written by hand, for the tests that talk to it
without the module (hostile clients, shadow as a first request), and what the daemon
holds, read from /proc.

Frames per wire/src/frame.rs: u32 LE payload length, u8 version (1), u8 tag, payload.
A name is a u32 LE length and the bytes."""

import os
import socket
import struct

from workbench_testkit.sandbox import DEFAULT_SOCKET

VERSION = 1
TAG_PASSWD_BY_NAME = 1
TAG_SHADOW_BY_NAME = 6


def frame(tag, payload, version=VERSION, length=None):
    n = len(payload) if length is None else length
    return struct.pack("<IBB", n, version, tag) + payload


def name(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<I", len(b)) + b


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.connect(DEFAULT_SOCKET)
    return s


def read_response(sock, bound=5.0):
    sock.settimeout(bound)
    head = b""
    while len(head) < 6:
        chunk = sock.recv(6 - len(head))
        assert chunk, "EOF before a response header"
        head += chunk
    n, version, tag = struct.unpack("<IBB", head)
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        assert chunk, "EOF inside a response"
        body += chunk
    return version, tag, body


def proc_status(pid, field):
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def held_connections(pid):
    """Client connections the daemon holds: its descriptors for sockets bound to the
    daemon socket's path (accepted sockets share it), less the listener."""
    with open("/proc/net/unix", encoding="utf-8") as f:
        inodes = {l.split()[6] for l in f.readlines()[1:]
                  if len(l.split()) >= 8 and l.split()[7] == DEFAULT_SOCKET}
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held - 1
