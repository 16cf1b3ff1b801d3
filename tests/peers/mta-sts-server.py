#!/usr/bin/env python3
"""The real-peer MTA-STS policy server of tests/peers/mta-sts.sh.

Python's http.server behind the ssl module (OpenSSL), one listener per lab
address, each with its own certificate (made by openssl from the peers' lab
CA) and behaviour. It listens on loopback only and talks to nobody.

    mta-sts-server.py PORT PLAN-FILE

PLAN-FILE has one line per host: "ADDRESS BEHAVIOUR CERT-PEM" where
BEHAVIOUR is policy:NAME (200 text/plain with policies/NAME), html (the good
policy as text/html), 404, redirect, big (1 MiB body, no Content-Length) or
silent (accepts TCP and never answers; CERT-PEM is "-").
"""

import http.server
import socket
import ssl
import sys
import threading
import time

POLICIES = {
    "enforce": "version: STSv1\r\nmode: enforce\r\nmx: *.smtp-ok.test\r\nmax_age: 604800\r\n",
    "testing": "version: STSv1\nmode: testing\nmx: *.smtp-ok.test\nmax_age: 86400\n",
    "none": "version: STSv1\nmode: none\nmax_age: 86400\n",
    "syntax": "version: STSv1\nmode: enforced\nmx: mx1.*.smtp-ok.test\nmax_age: 99999999999\n",
    "mismatch": "version: STSv1\nmode: enforce\nmx: mx1.smtp-ok.test\nmax_age: 604800\n",
    "badcert": "version: STSv1\nmode: enforce\nmx: *.smtp-wrongname.test\nmx: *.smtp-ok.test\nmax_age: 604800\n",
}
PATH = "/.well-known/mta-sts.txt"


def handler_for(behaviour):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet: the script reads mxwatch's results
            pass

        def send_body(self, code, content_type, body):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.close_connection = True
            if self.path != PATH:
                return self.send_body(404, "text/plain", "")
            if behaviour.startswith("policy:"):
                return self.send_body(200, "text/plain; charset=utf-8", POLICIES[behaviour[7:]])
            if behaviour == "html":
                return self.send_body(200, "text/html", POLICIES["enforce"])
            if behaviour == "404":
                return self.send_body(404, "text/plain", "")
            if behaviour == "redirect":
                self.send_response(301)
                self.send_header("Location", "https://mta-sts.sts-ok.test" + PATH)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return None
            if behaviour == "big":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Connection", "close")
                self.end_headers()
                block = b"mx: padding.example.net\r\n" * 64
                try:
                    for _ in range(1024 * 1024 // len(block)):
                        self.wfile.write(block)
                except OSError:
                    pass  # the client stops reading at its limit
                return None
            return self.send_body(500, "text/plain", "unknown behaviour")

    return Handler


def serve_tls(address, port, behaviour, cert):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert)  # key, leaf and intermediate in one file
    server = http.server.ThreadingHTTPServer((address, port), handler_for(behaviour))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def serve_silent(address, port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(16)
    held = []
    while True:
        conn, _ = listener.accept()
        held.append(conn)  # never read, never answered, closed when the client gives up
        held = [c for c in held if c.fileno() != -1][-64:]


def main():
    port = int(sys.argv[1])
    threads = []
    with open(sys.argv[2], encoding="utf-8") as plan:
        for line in plan:
            words = line.split()
            if not words:
                continue
            address, behaviour, cert = words
            if not address.startswith("127."):
                sys.exit(f"refusing to listen on {address}: loopback only")
            if behaviour == "silent":
                target, args = serve_silent, (address, port)
            else:
                target, args = serve_tls, (address, port, behaviour, cert)
            t = threading.Thread(target=target, args=args, daemon=True)
            t.start()
            threads.append(t)
    while all(t.is_alive() for t in threads):
        time.sleep(0.5)
    sys.exit("a listener stopped")


if __name__ == "__main__":
    main()
