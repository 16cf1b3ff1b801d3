#!/usr/bin/env python3
"""A webhook receiver for tests/peers/watch.sh (python3 standard library only).

Listens on 127.0.0.1 only (port 0: the kernel picks one, written to
--port-file once the socket is bound) and appends one JSON line per request
to --log, written and flushed *before* the reply goes out, so that whatever
mxwatch saw answered is already in the file:

  {"seq": 1, "t": 1764000000.1, "method": "POST", "path": "/hook",
   "status": 500, "signature": "sha256=...", "sig_ok": true,
   "body": "<raw body, UTF-8>", "json": {...} or null, "error": null}

sig_ok: the X-Mxwatch-Signature header is "sha256=" and the hex HMAC-SHA256
of the raw body under --secret (compared in constant time). The first
--fail-first POSTs to --path are answered 500, every later one 200; anything
else (another path, another method) gets 404 and is logged as well. The
receiver exits on SIGTERM/SIGINT, and by itself after --max-seconds.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secret", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--path", default="/hook")
    ap.add_argument("--fail-first", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()

    lock = threading.Lock()
    state = {"seq": 0, "posts": 0}
    log = open(args.log, "a", encoding="utf-8")
    secret = args.secret.encode()

    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, closed after the reply.
        protocol_version = "HTTP/1.0"
        server_version = "mxwatch-peers-hook/1"
        sys_version = ""

        def log_message(self, fmt, *a):  # quiet: the JSON log says it all
            pass

        def read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
                    if len(data) > MAX_BODY:
                        raise ValueError("body too large")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("body too large")
            return self.rfile.read(length)

        def handle_any(self):
            error = None
            try:
                body = self.read_body()
            except (ValueError, OSError) as e:
                body, error = b"", f"reading the body: {e}"
            signature = self.headers.get("X-Mxwatch-Signature")
            want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
            sig_ok = signature is not None and hmac.compare_digest(signature, want)
            try:
                parsed = json.loads(body)
            except ValueError as e:
                parsed = None
                error = error or f"body is not JSON: {e}"
            with lock:
                state["seq"] += 1
                hook = self.command == "POST" and self.path == args.path
                if hook:
                    state["posts"] += 1
                    status = 500 if state["posts"] <= args.fail_first else 200
                else:
                    status = 404
                record = {
                    "seq": state["seq"],
                    "t": round(time.time(), 3),
                    "method": self.command,
                    "path": self.path,
                    "status": status,
                    "signature": signature,
                    "sig_ok": sig_ok,
                    "content_type": self.headers.get("Content-Type"),
                    "body": body.decode("utf-8", "replace"),
                    "json": parsed,
                    "error": error,
                }
                log.write(json.dumps(record, sort_keys=True) + "\n")
                log.flush()
            reply = b'{"ok": true}\n' if status == 200 else b'{"ok": false}\n'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_POST = handle_any
        do_GET = handle_any
        do_PUT = handle_any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timer = threading.Timer(args.max_seconds, stop)
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
