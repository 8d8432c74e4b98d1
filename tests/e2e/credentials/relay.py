"""A stand-in daemon for the trust tests: listens on a Unix socket as whoever runs it
and relays each connection to the real daemon, recording how many bytes each client
sent. Run as a non-root user (through setpriv) it is "another user's daemon".

    python3 relay.py LISTEN_PATH UPSTREAM_PATH LOG_FILE

Prints `ready` once listening. Appends `bytes=N` to LOG_FILE when a client connection
ends (N = bytes the client sent; 0 means the module sent nothing)."""

import os
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, upstream_path, log_path):
    sent = 0
    upstream = None
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            if upstream is None:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(upstream_path)
                threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
            sent += len(data)
            upstream.sendall(data)
    except OSError:
        pass
    finally:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"bytes={sent}\n")
        if upstream is not None:
            upstream.close()
        client.close()


def main():
    listen_path, upstream_path, log_path = sys.argv[1:4]
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen_path)
    os.chmod(listen_path, 0o666)
    server.listen(16)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve, args=(client, upstream_path, log_path),
                         daemon=True).start()


if __name__ == "__main__":
    main()
