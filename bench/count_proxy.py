"""A counting HTTP proxy for benchmarks: forwards every request to an S3
server unchanged (the Host header too, so SigV4 signatures still match)
and counts, per object key, the ranged GETs and the body bytes they
returned. `GET /__counts` answers the counts as JSON (not forwarded).

    python3 bench/count_proxy.py UPSTREAM_PORT   # prints its own port

Independent of bagpipe's own code: what it counts is what the server sent.
"""
import http.client
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = ("127.0.0.1", int(sys.argv[1]))
COUNTS: dict[str, dict[str, int]] = {}
LOCK = threading.Lock()


class Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def forward(self):
        if self.path == "/__counts":
            body = json.dumps(COUNTS).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(*UPSTREAM, timeout=600)
        conn.request(self.command, self.path, body=body, headers=dict(self.headers))
        resp = conn.getresponse()
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in ("transfer-encoding", "connection"):
                self.send_header(name, value)
        sent = 0
        data = resp.read() if self.command != "HEAD" else b""
        if self.command != "HEAD" and resp.getheader("Content-Length") is None:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        sent = len(data)
        conn.close()
        if self.command == "GET" and "Range" in self.headers:
            key = self.path.split("?")[0]
            with LOCK:
                c = COUNTS.setdefault(key, {"gets": 0, "bytes": 0})
                c["gets"] += 1
                c["bytes"] += sent

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = forward


server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
print(server.server_address[1], flush=True)
server.serve_forever()
