#!/usr/bin/env python3
"""A real local HTTP(S) receiver for Sluice's tests and demo (Python 3.11 stdlib only).

Listens on 127.0.0.1 (HTTP/1.1, keep-alive, one thread per connection). Every request it
accepts (answered 2xx) is appended to the NDJSON file --record, one line per request:
  {"method", "path", "headers": {name: value}, "body": text, "received_ms": epoch ms,
   "client_port": the client's TCP port (one per connection: shows connection reuse),
   "client_cn": CN of the client certificate (mTLS only)}
and answered with the configured status (--status, 204 by default).

Control API on the same server, never recorded:
  POST /_control/status  {"status": 400, "body": "...", "retry_after": 2, "delay_ms": 0, "accept_up_to": null}
                         changes the answer (and an added delay) for the requests that follow
  GET  /_control/count   -> {"count": N, "total": T, "arrivals_ms": [...]}   requests recorded (accepted)
                            and answered; arrival times (epoch ms) of every answered request
                         in all, so far (by this process)
  POST /_control/reset   empties the record file and restores the startup answer

Vendor contracts: --vendor NAME loads scripts/receivers/vendors/NAME.py, which checks every
request against that vendor's documented API contract and answers as the vendor does. The module
defines `handle(req, store)`: `req` has method, path, query (dict of lists), headers (names
lower-cased), body (bytes) and json (parsed body or None); `store` is a dict kept across requests
(tickets, incidents) and guarded by the server's lock. It returns (status, body, headers), or raises
`Violation(message, status, body)`: the request broke the contract; the violation is appended to
<record>.violations (NDJSON: method, path, message) and answered with the vendor's error. A status
forced through /_control/status still wins (429s and 5xxs on demand).
  GET  /_control/store   -> the vendor store, as JSON (assert state after a run)

TLS: --tls-cert/--tls-key serve HTTPS; --client-ca also demands a client certificate signed by it.
Prints "LISTENING <port>" as the first line on stdout once it accepts connections.
Exits on SIGTERM/SIGINT, closing its listening socket (clients then get "connection refused"),
and when the process that started it goes away.
"""
import argparse
import importlib.util
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
defaults = {"status": 204, "body": "", "retry_after": None, "delay_ms": 0, "forced": False, "accept_up_to": None}
state = dict(defaults)
count = 0
total = 0            # every request answered, accepted or not
arrivals_ms = []     # when each of them arrived (epoch ms): gaps between failed attempts too
admitted = 0         # requests let through while accept_up_to is set (each is then recorded)
record_file = None
violations_file = None
vendor = None        # the --vendor module
vendor_store = {}    # its state across requests


class Violation(Exception):
    """A request that breaks the vendor's contract: recorded, and answered with the vendor's error."""

    def __init__(self, message, status=400, body=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body if body is not None else json.dumps({"error": message}).encode()

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one write per response, no 40 ms Nagle/delayed-ACK stalls
    timeout = 120                   # idle keep-alive connections go away eventually

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in the connection's thread, not in accept()

    def _reply(self, status, body=b"", headers=()):
        # Status line, headers and body in a single write.
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
        if status != 204:  # a 204 carries no Content-Length (RFC 9110 8.6)
            lines.append(f"Content-Length: {len(body)}")
        else:
            body = b""
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def _handle(self):
        global count, total, admitted
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_control/"):
            return self._control(body)
        with lock:
            s = dict(state)
            total += 1
            arrivals_ms.append(int(time.time() * 1000))
            # accept_up_to: once that many requests were recorded (or are being), answer 503 —
            # a test stops the stream at an exact point, however fast or slow the machine is.
            if s["accept_up_to"] is not None and 200 <= int(s["status"]) < 300:
                if admitted >= s["accept_up_to"]:
                    s["status"] = 503
                else:
                    admitted += 1
        if s["delay_ms"]:
            time.sleep(s["delay_ms"] / 1000)
        status = int(s["status"])
        extra_headers = []
        if vendor is not None and not s["forced"]:
            status, vendor_body, extra_headers = self._vendor(body)
            s["body"] = vendor_body
        if 200 <= status < 300:
            entry = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                     "body": body.decode("utf-8", "replace"), "received_ms": int(time.time() * 1000),
                     "client_port": self.client_address[1]}
            if isinstance(self.request, ssl.SSLSocket):
                cert = self.request.getpeercert()
                if cert:
                    entry["client_cn"] = next((v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"), None)
            line = json.dumps(entry) + "\n"
            with lock:
                count += 1
                record_file.write(line)
                record_file.flush()
        headers = [("Retry-After", str(s["retry_after"]))] if s["retry_after"] is not None else []
        out = s["body"] or b""
        if isinstance(out, str):
            out = out.encode()
        headers += extra_headers
        if out and not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json" if out[:1] in (b"{", b"[") else "text/plain"))
        self._reply(status, out, headers)

    def _vendor(self, body):
        """The vendor module's answer, recording contract violations."""
        from urllib.parse import urlsplit, parse_qs
        parts = urlsplit(self.path)
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        req = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query),
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "json": parsed}
        try:
            with lock:
                status, out, headers = vendor.handle(req, vendor_store)
            return status, out, list(headers or [])
        except Violation as v:
            with lock:
                violations_file.write(json.dumps({"method": self.command, "path": self.path, "message": v.message}) + "\n")
                violations_file.flush()
            return v.status, v.body, []

    def _control(self, body):
        global count, total, admitted
        if self.path == "/_control/status":
            try:
                update = json.loads(body or b"{}")
            except ValueError:
                return self._reply(400, b'{"error":"body is not JSON"}')
            with lock:
                state.update({k: update[k] for k in defaults if k in update})
                state["forced"] = True
                if state["accept_up_to"] is not None:
                    admitted = count  # the limit counts every request recorded so far
            return self._reply(200, b"{}")
        if self.path == "/_control/store":
            with lock:
                text = json.dumps(vendor_store, default=str)
            return self._reply(200, text.encode(), [("Content-Type", "application/json")])
        if self.path == "/_control/count":
            with lock:
                n, t, times = count, total, list(arrivals_ms)
            return self._reply(200, json.dumps({"count": n, "total": t, "arrivals_ms": times}).encode(),
                               [("Content-Type", "application/json")])
        if self.path == "/_control/reset":
            with lock:
                count = 0
                total = 0
                arrivals_ms.clear()
                admitted = 0
                record_file.seek(0)
                record_file.truncate()
                state.clear()
                state.update(defaults)
                vendor_store.clear()
            return self._reply(200, b"{}")
        return self._reply(404)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True   # restart on the same port while old connections sit in TIME_WAIT
    request_queue_size = 1024    # bursts of new connections
    tls = None

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        # Failed handshakes and clients that vanish are part of the tests: stay quiet.
        if not isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)


def main():
    global record_file, violations_file, vendor
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--record", required=True, help="NDJSON file the accepted requests are appended to")
    p.add_argument("--status", type=int, default=204, help="status answered (default 204)")
    p.add_argument("--delay-ms", type=int, default=0, help="delay before each answer")
    p.add_argument("--tls-cert", help="PEM server certificate (serve HTTPS)")
    p.add_argument("--tls-key", help="PEM key of --tls-cert")
    p.add_argument("--client-ca", help="PEM CA that must have signed the client's certificate (mTLS)")
    p.add_argument("--vendor", help="check requests against scripts/receivers/vendors/VENDOR.py and answer as it does")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="passed to the vendor module's options")
    a = p.parse_args()
    defaults.update(status=a.status, delay_ms=a.delay_ms)
    state.update(defaults)
    record_file = open(a.record, "a", encoding="utf-8")
    violations_file = open(a.record + ".violations", "a", encoding="utf-8")
    if a.vendor:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendors", a.vendor + ".py")
        spec = importlib.util.spec_from_file_location("vendor_" + a.vendor.replace("-", "_"), path)
        vendor = importlib.util.module_from_spec(spec)
        vendor.Violation = Violation  # modules raise the server's Violation
        vendor.options = dict(o.split("=", 1) for o in a.option)
        spec.loader.exec_module(vendor)

    server = Server(("127.0.0.1", a.port), Handler)
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])
        if a.client_ca:
            ctx.load_verify_locations(a.client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        server.tls = ctx

    def stop(*_):
        # Close the listening socket at once, then leave: no connection outlives the process.
        try:
            server.socket.close()
        finally:
            record_file.flush()
            sys.stdout.flush()
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A parent's thread may have these blocked (the mask is inherited through exec): unblock them.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    # Never outlive the process that started us (a test run that crashed, a demo script killed).
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        stop()

    threading.Thread(target=watch_parent, daemon=True).start()
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
