#!/usr/bin/env python3
"""A delayed network link for bench/run's round-trip case (this kernel has no
netem): two TUN devices, every packet read from one written to the other
DELAY_MS later, both ways, in order.

    delay_link.py TUN_A TUN_B DELAY_MS

Creates TUN_A and TUN_B (IFF_TUN, no packet information: one IP packet a
read), prints "ready" on stdout once both exist (the caller then moves them
into network namespaces and gives them addresses: the open descriptors stay
valid), and forwards until it is killed. Needs
CAP_NET_ADMIN (root). Packets are never dropped or reordered; a queue over
10,000 packets a direction drops the newest (a delay line is not a buffer)."""

import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
QUEUE_LIMIT = 10_000


def open_tun(name):
    """A new TUN device NAME, as a non-blocking descriptor."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main(argv):
    if len(argv) != 4 or not argv[3].isdigit():
        print("usage: delay_link.py TUN_A TUN_B DELAY_MS", file=sys.stderr)
        return 64
    try:
        a, b = open_tun(argv[1]), open_tun(argv[2])
    except OSError as e:
        print(f"delay_link: cannot create the TUN devices: {e} (root needed)", file=sys.stderr)
        return 77
    delay = int(argv[3]) / 1000
    peer = {a: b, b: a}
    # (due time, sequence, destination, packet): one heap for both ways;
    # the sequence keeps each direction in order.
    due, seq, queued = [], 0, {a: 0, b: 0}
    print("ready", flush=True)
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
        ready, _, _ = select.select([a, b], [], [], timeout)
        now = time.monotonic()
        for fd in (a, b):
            if fd not in ready:
                continue
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                dest = peer[fd]
                if queued[dest] < QUEUE_LIMIT:
                    heapq.heappush(due, (now + delay, seq, dest, packet))
                    seq += 1
                    queued[dest] += 1
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, dest, packet = heapq.heappop(due)
            queued[dest] -= 1
            try:
                os.write(dest, packet)
            except OSError:
                pass  # the interface is down (being set up or torn down)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
