#!/usr/bin/env python3
"""The real-peer RDAP server of tests/peers/rdap.sh.

Python's http.server behind the ssl module (OpenSSL), independent of the
in-process lab's Rust server (crates/mxwatch-lab/src/rdap.rs): its answers are
built from RFC 9083's own examples (the domain object of section 5.3, the error
response of section 6), with the expiry and status values of each lab domain
below. It listens on one loopback address and talks to nobody.

    rdap-server.py ADDRESS PORT CERT-PEM

CERT-PEM holds the key, the leaf (for rdap.lab.test) and the intermediate.
GET /domain/NAME answers per PLAN; any other name is 404 (not registered).
"""

import copy
import datetime
import http.server
import json
import ssl
import sys
import time

# RFC 9083 section 5.3, the domain object example, as printed (trimmed of the
# variants, secureDNS and the nameservers' addresses, which mxwatch does not read).
RFC9083_DOMAIN = {
    "objectClassName": "domain",
    "handle": "XXXX",
    "ldhName": "xn--fo-5ja.example",
    "unicodeName": "fóo.example",
    "status": ["locked", "transfer prohibited"],
    "nameservers": [
        {"objectClassName": "nameserver", "handle": "XXXX", "ldhName": "ns1.example.com", "status": ["active"]},
    ],
    "remarks": [
        {"description": ["She sells sea shells down by the sea shore.", "Originally written by Terry Sullivan."]}
    ],
    "links": [
        {
            "value": "https://example.net/domain/xn--fo-5ja.example",
            "rel": "self",
            "href": "https://example.net/domain/xn--fo-5ja.example",
            "type": "application/rdap+json",
        }
    ],
    "port43": "whois.example.net",
    "events": [
        {"eventAction": "registration", "eventDate": "1990-12-31T23:59:59Z"},
        {"eventAction": "last changed", "eventDate": "1991-12-31T23:59:59Z", "eventActor": "joe@example.com"},
    ],
    "entities": [
        {
            "objectClassName": "entity",
            "handle": "XXXX",
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Joe User"], ["kind", {}, "text", "individual"]]],
            "status": ["validated", "locked"],
            "roles": ["registrant"],
        },
        {
            "objectClassName": "entity",
            "handle": "292",
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Peer Registrar (RFC 9083 example)"]]],
            "roles": ["registrar"],
        },
    ],
}

# RFC 9083 section 6, the error response example.
RFC9083_ERROR = {
    "errorCode": 418,
    "title": "Your Beverage Choice is Not Available",
    "description": ["I know coffee has more ummppphhh.", "Sorry, dude!"],
}

# domain -> (behaviour, days to expiry, status values)
PLAN = {
    "healthy.test": ("domain", 400, ["locked", "transfer prohibited"]),
    "provider.test": ("domain", 700, ["client transfer prohibited", "client update prohibited"]),
    "customer1.test": ("domain", 200, ["locked", "transfer prohibited"]),
    "reg-expiring.test": ("domain", 5, ["transfer prohibited"]),
    "reg-mxlapsing.test": ("domain", 300, ["transfer prohibited"]),
    "reg-nolock.test": ("domain", 300, ["active"]),
    "reg-redemption.test": ("domain", -8, ["redemption period"]),
    "reg-pending.test": ("domain", -35, ["pending delete", "transfer prohibited"]),
    "reg-error.test": ("error", 500, None),
    "reg-ratelimit.test": ("error", 429, None),
    "reg-slow.test": ("slow", 0, None),
    "reg-garbage.test": ("garbage", 0, None),
}
STARTED = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def domain_object(name, days, status):
    body = copy.deepcopy(RFC9083_DOMAIN)
    body["ldhName"] = name
    body.pop("unicodeName")
    body["links"][0]["value"] = body["links"][0]["href"] = f"https://rdap.lab.test/domain/{name}"
    body["status"] = status
    expires = STARTED + datetime.timedelta(days=days)
    body["events"].append({"eventAction": "expiration", "eventDate": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
    body["rdapConformance"] = ["rdap_level_0"]
    return body


def error_object(code):
    body = dict(RFC9083_ERROR)
    body["errorCode"] = code
    body["rdapConformance"] = ["rdap_level_0"]
    return body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # one line per question: rdap.sh counts them
        sys.stderr.write("GET %s\n" % self.path)
        sys.stderr.flush()

    def send_json(self, code, body, content_type="application/rdap+json", extra=()):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.close_connection = True
        if not self.path.startswith("/domain/"):
            return self.send_json(400, error_object(400))
        name = self.path[len("/domain/"):].rstrip(".").lower()
        behaviour, value, status = PLAN.get(name, ("missing", 404, None))
        if behaviour == "domain":
            return self.send_json(200, domain_object(name, value, status))
        if behaviour == "error":
            extra = [("Retry-After", "120")] if value == 429 else []
            return self.send_json(value, error_object(value), extra=extra)
        if behaviour == "slow":
            time.sleep(30)  # well past mxwatch's --rdap-timeout; it gives up first
            return None
        if behaviour == "garbage":
            # A domain object cut short: not JSON.
            return self.send_json(200, json.dumps(domain_object(name, 300, []))[:60])
        return self.send_json(404, error_object(404))


def main():
    address, port, cert = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if not address.startswith("127."):
        sys.exit(f"refusing to listen on {address}: loopback only")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert)
    server = http.server.ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
