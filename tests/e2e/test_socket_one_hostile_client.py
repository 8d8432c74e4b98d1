"""Hostile clients on the daemon's socket (design.md §7): garbage, a frame claiming
4 GB, a wrong protocol version, a frame cut short then idle, one byte per second. Each
such connection is closed by the daemon, counted in `bad_requests` when it was bad
input, and meanwhile other lookups keep answering promptly through glibc.

One hostile connection at a time; test_socket_many_hostile_clients.py is the crowd.
Frames are written by hand (socket_clients.py, per wire/src/frame.rs)."""

import socket
import struct
import threading
import time

import pytest

from conftest import ALICE_LINE, show
from socket_clients import TAG_PASSWD_BY_NAME, VERSION, connect, frame, name, read_response

pytestmark = pytest.mark.usefixtures("module_answers")

REQUEST_DEADLINE_S = 2.0   # cached/src/server/connection.rs: a started frame must finish
BAD_INPUT_CLOSE_S = 1.0    # bad input is refused on sight
LOOKUP_S = 1.0             # a cached lookup through glibc, with a wide margin
MARGIN_S = 2.0


def wait_eof(sock, bound):
    """Seconds until the daemon closed `sock` (EOF or reset); fails on any data (the
    daemon must not answer) or when nothing happened within `bound`."""
    t0 = time.monotonic()
    while True:
        left = bound - (time.monotonic() - t0)
        assert left > 0, f"connection still open after {bound}s"
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
        except socket.timeout:
            continue
        assert data == b"", f"the daemon answered a bad request: {data[:64]!r}"
        return time.monotonic() - t0


def bad_requests(daemon_status):
    return daemon_status()["bad_requests"]


def lookup_alice_promptly(getent):
    t0 = time.monotonic()
    p = getent("passwd", "alice")
    elapsed = time.monotonic() - t0
    assert p.stdout == ALICE_LINE + "\n", show(p)
    assert elapsed < LOOKUP_S, f"getent passwd alice took {elapsed:.2f}s"


def test_handwritten_frame_is_answered(daemon):
    # The positive control: the frames below are refused for what they are, not
    # because this file gets the framing wrong.
    with connect() as s:
        s.sendall(frame(TAG_PASSWD_BY_NAME, name("alice")))
        version, _tag, body = read_response(s)
        assert version == VERSION
        assert b"alice" in body and b"/home/alice" in body, body
        # The same connection serves a second request.
        s.sendall(frame(TAG_PASSWD_BY_NAME, name("bob")))
        assert b"/srv/home/bob" in read_response(s)[2]


BAD_INPUT = [
    ("http request", b"GET /scim/v2/Users HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("random bytes", bytes(range(256)) * 4),
    ("frame claiming 4 GB", struct.pack("<IBB", 0xFFFFFFFF, VERSION, TAG_PASSWD_BY_NAME)),
    ("frame claiming 4 GB with data", frame(TAG_PASSWD_BY_NAME, b"x" * 64, length=0xFFFFFFF0)),
    ("wrong protocol version", frame(TAG_PASSWD_BY_NAME, name("alice"), version=2)),
    ("protocol version 0", frame(TAG_PASSWD_BY_NAME, name("alice"), version=0)),
    ("unknown tag", frame(200, name("alice"))),
    ("NUL in a name", frame(TAG_PASSWD_BY_NAME, name(b"al\0ice"))),
    ("name longer than its frame", frame(TAG_PASSWD_BY_NAME, struct.pack("<I", 1000) + b"alice")),
]


@pytest.mark.parametrize("what,data", BAD_INPUT, ids=[w for w, _ in BAD_INPUT])
def test_bad_input_closes_the_connection_and_is_counted(daemon_status, getent, what, data):
    before = bad_requests(daemon_status)
    with connect() as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # already closed by the daemon: fine
        elapsed = wait_eof(s, BAD_INPUT_CLOSE_S + MARGIN_S)
    assert elapsed < BAD_INPUT_CLOSE_S, f"{what}: closed only after {elapsed:.2f}s"
    assert bad_requests(daemon_status) == before + 1, what
    lookup_alice_promptly(getent)


def test_slow_and_idle_clients_do_not_stop_lookups(daemon_status, getent):
    before = bad_requests(daemon_status)
    stop = threading.Event()
    idle = [connect() for _ in range(32)]          # connected, never send anything
    header_only = connect()                        # 3 bytes of a header, then idle
    cut_short = connect()                          # header + part of the payload, then idle
    slow = connect()                               # a valid frame at one byte per second
    slow_frame = frame(TAG_PASSWD_BY_NAME, name("alice" * 4))
    slow_sent = []

    def one_byte_per_second():
        for b in slow_frame:
            try:
                slow.send(bytes([b]))
            except OSError:
                return
            slow_sent.append(b)
            if stop.wait(1.0):   # the pacing under test, not synchronisation
                return

    try:
        t0 = time.monotonic()
        header_only.sendall(frame(TAG_PASSWD_BY_NAME, name("alice"))[:3])
        cut_short.sendall(frame(TAG_PASSWD_BY_NAME, name("alice"))[:9])
        writer = threading.Thread(target=one_byte_per_second, daemon=True)
        writer.start()

        # While all of them hold connections, lookups answer at once and correctly.
        for _ in range(5):
            lookup_alice_promptly(getent)
        p = getent("group", "devs")
        assert p.stdout == "devs:x:2001:alice,bob\n", show(p)

        bound = REQUEST_DEADLINE_S + MARGIN_S
        for label, s in (("header cut short", header_only), ("frame cut short", cut_short),
                         ("one byte per second", slow)):
            wait_eof(s, bound - (time.monotonic() - t0))
            assert time.monotonic() - t0 < bound, label
        # The slow frame never completed: the daemon gave up on it, it did not answer.
        assert len(slow_sent) < len(slow_frame), slow_sent
        lookup_alice_promptly(getent)
        # Idle connections are still open (their deadline is longer) and still serve.
        idle[0].sendall(frame(TAG_PASSWD_BY_NAME, name("alice")))
        assert b"/home/alice" in read_response(idle[0])[2]
    finally:
        stop.set()
        for s in idle + [header_only, cut_short, slow]:
            s.close()
    # Timeouts are not bad input.
    assert bad_requests(daemon_status) == before


def test_many_connections_at_once_then_lookups(getent):
    socks = []
    try:
        for _ in range(200):
            socks.append(connect())
        lookup_alice_promptly(getent)
    finally:
        for s in socks:
            s.close()
    lookup_alice_promptly(getent)
