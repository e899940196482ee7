#!/usr/bin/env python3
"""TCP client/server for the sensor tests, run inside a network namespace.

Each run renames its own task (prctl PR_SET_NAME) so the sensor's
process.name is a value the test chose, not "python3".

  tcp-peer.py serve  NAME BIND PORT MODE [REPLY_BYTES]   MODE: echo | reset | hold
  tcp-peer.py client NAME ADDR PORT MODE [SEND_BYTES] [HOLD_S]   MODE: normal | abort | hold

serve prints "READY" once listening, then handles connections forever.
client prints "LOCAL <ip> <port>" once connected (the test needs the
ephemeral port to recompute the community id) and "ERROR <errno-name>" if
connect fails; it exits 0 either way so the test reads the outcome.
"""
import ctypes
import errno
import socket
import struct
import sys
import threading
import time


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def read_all(c):
    total = 0
    while True:
        b = c.recv(65536)
        if not b:
            return total
        total += len(b)


def handle(c, mode, reply):
    try:
        if mode == "reset":
            c.recv(1024)
            linger0(c)
            c.close()
            return
        if mode == "hold":
            read_all(c)
        else:
            read_all(c)
            c.sendall(b"r" * reply)
        c.close()
    except OSError:
        c.close()


def serve(name, bind, port, mode, reply=2000):
    set_comm(name)
    s = socket.socket(family_of(bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind, port))
    s.listen(128)
    print("READY", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c, mode, reply), daemon=True).start()


def client(name, addr, port, mode, send=1000, hold=0.0):
    set_comm(name)
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    try:
        s.connect((addr, port))
    except OSError as e:
        print("ERROR", errno.errorcode.get(e.errno, str(e.errno)), flush=True)
        return
    local = s.getsockname()
    print("LOCAL", local[0], local[1], flush=True)
    try:
        if mode == "abort":
            s.sendall(b"a" * send)
            time.sleep(0.2)
            linger0(s)
            s.close()
            return
        s.sendall(b"q" * send)
        if mode == "hold":
            time.sleep(hold)
        s.shutdown(socket.SHUT_WR)
        got = read_all(s)
        print("RECEIVED", got, flush=True)
    except OSError as e:
        print("ERROR", errno.errorcode.get(e.errno, str(e.errno)), flush=True)
    s.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "serve":
        serve(a[1], a[2], int(a[3]), a[4], *(int(x) for x in a[5:6]))
    elif a[0] == "client":
        client(a[1], a[2], int(a[3]), a[4], *(int(x) for x in a[5:6]), *(float(x) for x in a[6:7]))
    else:
        sys.exit("usage: tcp-peer.py serve|client ...")
