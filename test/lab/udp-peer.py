#!/usr/bin/env python3
"""UDP client/server for the sensor tests, run inside a network namespace.

Each run renames its own task (prctl PR_SET_NAME) so the sensor's
process.name is a value the test chose, not "python3".

  udp-peer.py serve  NAME BIND PORT
      echoes every datagram back to its sender (recvfrom/sendto, unconnected);
      prints "READY" once bound
  udp-peer.py client NAME ADDR PORT MODE COUNT SIZE [HOLD_S]
      MODE sendto:  unconnected socket, COUNT datagrams of SIZE bytes to ADDR:PORT
      MODE connect: connect() then send()
      MODE trickle: connect(), then one datagram every 0.5 s, COUNT of them
      MODE spread:  unconnected, one datagram of SIZE bytes to each of COUNT
                    ports PORT, PORT+1, ... (one socket, many peers)
      after sending, reads replies for up to 0.5 s, holds the socket open for
      HOLD_S seconds, then closes it and prints
      "LOCAL <ip> <port>", "SENT <datagrams>", "REFUSED <sends that failed>",
      "RECEIVED <datagrams> <bytes>"
"""
import ctypes
import socket
import sys
import time


def set_comm(name):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(name, bind, port):
    set_comm(name)
    s = socket.socket(family_of(bind), socket.SOCK_DGRAM)
    s.bind((bind, port))
    print("READY", flush=True)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def client(name, addr, port, mode, count, size, hold_s):
    set_comm(name)
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    payload = b"u" * size
    sent = 0
    refused = 0

    def send(fn):
        # A connected socket reports an earlier ICMP port unreachable on its
        # next send: that datagram never left.
        nonlocal sent, refused
        try:
            fn()
            sent += 1
        except ConnectionRefusedError:
            refused += 1

    if mode == "connect":
        s.connect((addr, port))
        for _ in range(count):
            send(lambda: s.send(payload))
            time.sleep(0.01)
    elif mode == "sendto":
        for _ in range(count):
            send(lambda: s.sendto(payload, (addr, port)))
            time.sleep(0.01)
    elif mode == "trickle":
        s.connect((addr, port))
        for _ in range(count):
            send(lambda: s.send(payload))
            time.sleep(0.5)
    elif mode == "spread":
        for i in range(count):
            send(lambda: s.sendto(payload, (addr, port + i)))
    else:
        raise SystemExit("unknown mode " + mode)
    local = s.getsockname()
    print("LOCAL %s %d" % (local[0], local[1]), flush=True)
    got = 0
    got_bytes = 0
    s.settimeout(0.1)
    deadline = time.time() + 0.5
    while time.time() < deadline:
        try:
            data = s.recv(65535)
            got += 1
            got_bytes += len(data)
        except (socket.timeout, ConnectionRefusedError):
            pass
    time.sleep(hold_s)
    s.close()
    print("SENT %d" % sent, flush=True)
    print("REFUSED %d" % refused, flush=True)
    print("RECEIVED %d %d" % (got, got_bytes), flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "serve":
        serve(a[1], a[2], int(a[3]))
    elif a[0] == "client":
        client(a[1], a[2], int(a[3]), a[4], int(a[5]), int(a[6]), float(a[7]) if len(a) > 7 else 0.0)
    else:
        raise SystemExit(__doc__)
