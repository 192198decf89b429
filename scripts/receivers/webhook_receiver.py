#!/usr/bin/env python3
"""A real local HTTP receiver for Sluice's tests and demo.

Listens on 127.0.0.1 (HTTP/1.1, keep-alive), records every request it accepts to an NDJSON
file (method, path, headers, body, received_ms) and answers with a configurable status.
Control API (not recorded):
  POST /_control/status  {"status": 400, "body": "...", "retry_after": 2, "delay_ms": 0}
  GET  /_control/count   -> {"count": N}
  POST /_control/reset
Prints "LISTENING <port>" on stdout once it accepts connections.
"""
import argparse, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"status": 204, "body": "", "retry_after": None, "delay_ms": 0}
lock = threading.Lock()
count = 0
record_file = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _handle(self):
        global count
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_control/"):
            return self._control(body)
        with lock:
            s = dict(state)
        if s["delay_ms"]:
            time.sleep(s["delay_ms"] / 1000)
        if 200 <= s["status"] < 300:
            line = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                               "body": body.decode("utf-8", "replace"), "received_ms": int(time.time() * 1000)})
            with lock:
                count += 1
                record_file.write(line + "\n")
                record_file.flush()
        headers = [("Retry-After", str(s["retry_after"]))] if s["retry_after"] is not None else []
        self._reply(s["status"], s["body"].encode(), headers)

    def _control(self, body):
        global count
        if self.path == "/_control/status":
            update = json.loads(body or b"{}")
            with lock:
                state.update({k: update[k] for k in ("status", "body", "retry_after", "delay_ms") if k in update})
            return self._reply(200, b"{}")
        if self.path == "/_control/count":
            with lock:
                n = count
            return self._reply(200, json.dumps({"count": n}).encode(), [("Content-Type", "application/json")])
        if self.path == "/_control/reset":
            with lock:
                count = 0
                record_file.seek(0)
                record_file.truncate()
            return self._reply(200, b"{}")
        return self._reply(404)

    do_POST = do_PUT = do_PATCH = do_GET = _handle


def main():
    global record_file
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--record", required=True, help="NDJSON file of accepted requests")
    p.add_argument("--status", type=int, default=204)
    a = p.parse_args()
    state["status"] = a.status
    record_file = open(a.record, "a", encoding="utf-8")
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
