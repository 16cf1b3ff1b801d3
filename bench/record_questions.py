#!/usr/bin/env python3
"""Records the DNS questions a client asks, passing them on to the real server and back.

    python3 bench/record_questions.py LISTEN_IP PORT UPSTREAM_IP UPSTREAM_PORT OUT

Writes OUT in dnsperf's query-file form ("name TYPE" a line), one line per question received,
in order: the ideal client's workload is then exactly mxwatch's questions (duplicates and all,
which the summary line counts). UDP only (the benchmark's answers all fit). Stops on SIGTERM.
Stdlib only, loopback only.
"""

import selectors
import signal
import socket
import struct
import sys

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
         33: "SRV", 43: "DS", 46: "RRSIG", 48: "DNSKEY", 52: "TLSA", 257: "CAA"}


def question(packet: bytes):
    """The (name, type) of a query's first question."""
    labels, offset = [], 12
    while True:
        length = packet[offset]
        offset += 1
        if length == 0:
            break
        labels.append(packet[offset:offset + length].decode("ascii", "replace"))
        offset += length
    (qtype,) = struct.unpack("!H", packet[offset:offset + 2])
    return ".".join(labels) + ".", TYPES.get(qtype, f"TYPE{qtype}")


def main() -> None:
    listen_ip, port, up_ip, up_port, out = sys.argv[1:6]
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    front.bind((listen_ip, int(port)))
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    back.connect((up_ip, int(up_port)))
    clients = {}  # (id, question bytes) -> client address
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    selector = selectors.DefaultSelector()
    selector.register(front, selectors.EVENT_READ, "front")
    selector.register(back, selectors.EVENT_READ, "back")
    asked = {}
    total = 0
    with open(out, "w") as f:
        while running[0]:
            for key, _ in selector.select(timeout=0.5):
                if key.data == "front":
                    packet, client = front.recvfrom(65535)
                    if len(packet) < 17:
                        continue
                    name, qtype = question(packet)
                    f.write(f"{name} {qtype}\n")
                    total += 1
                    asked[(name.lower(), qtype)] = asked.get((name.lower(), qtype), 0) + 1
                    clients[(packet[:2], name.lower(), qtype)] = client
                    back.send(packet)
                else:
                    packet = back.recv(65535)
                    if len(packet) < 17:
                        continue
                    name, qtype = question(packet)
                    client = clients.pop((packet[:2], name.lower(), qtype), None)
                    if client is not None:
                        front.sendto(packet, client)
    repeated = total - len(asked)
    print(f"recorded {total} questions, {len(asked)} distinct (name, type), {repeated} repeats",
          file=sys.stderr)


if __name__ == "__main__":
    main()
