#!/usr/bin/env python3
"""A misbehaving HTTP server for spec/hostile_net_spec.lua. Python 3 stdlib only.

    python3 spec/servers/hostile.py --port 0 --port-file /tmp/x.port \
        [--tls-cert cert.pem --tls-key key.pem]

Every response is written as raw bytes, so it can break HTTP/1.1 in ways a
well-behaved framework never would. With --tls-cert the same port speaks both
plain HTTP and HTTPS (the first byte of a connection decides), so a redirect can
change the scheme and nothing else.

Routes (query parameters in brackets):
  /headers                    200, the request's headers as JSON (lower-case names)
  /redirect[to, code, cookie] a redirect to `to`, with Set-Cookie: `cookie` if given
  /loop                       a redirect to itself, forever
  /many-headers[n]            200 with n small headers before a small JSON body
  /header-nul, /header-cr     a header value holding a NUL byte / a bare CR
  /status-garbage[v]          a status line that is not one (v picks the variant)
  /cl[v]                      a Content-Length that is negative, overflowing, or
                              doubled with two values (v = negative|overflow|double)
  /cl-and-chunked             both Content-Length and Transfer-Encoding: chunked
  /http09                     a body with no status line at all (HTTP/0.9)
  /drip[bytes, ms]            a body of `bytes` bytes, one byte every `ms` ms
  /linger[bytes]              a complete Content-Length body, then the connection
                              stays open, silent, until the client leaves
  /excess                     a complete body followed by a forged second response
  /informational[n, code]     n 1xx responses (code, 103 by default) before a 200;
                              n = -1: 1xx forever, until the client leaves
  /bad-gzip                   Content-Encoding: gzip over bytes that are not gzip
  /_stats, /_stats/reset      requests seen per path (control paths not counted)
The bound port is written to --port-file once the socket listens.
"""

import argparse
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

STOPPING = threading.Event()
HEAD_LIMIT = 1 << 20


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.paths = {}

    def hit(self, path):
        with self.lock:
            self.paths[path] = self.paths.get(path, 0) + 1

    def reset(self):
        with self.lock:
            self.paths.clear()

    def snapshot(self):
        with self.lock:
            return {"requests": sum(self.paths.values()), "paths": dict(self.paths)}


class Gone(Exception):
    pass


def response(status, reason, headers, body=b"", ctype="application/json"):
    head = ["HTTP/1.1 %d %s" % (status, reason)]
    if ctype:
        head.append("Content-Type: " + ctype)
    head += ["%s: %s" % kv for kv in headers]
    head.append("Content-Length: %d" % len(body))
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def json_response(status, obj, headers=()):
    return response(status, "OK" if status == 200 else "X", list(headers), json.dumps(obj).encode())


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(60)
        ctx = self.server.tls
        if ctx is not None:
            first = sock.recv(1, socket.MSG_PEEK)
            if first == b"\x16":  # a TLS ClientHello
                self.request = ctx.wrap_socket(sock, server_side=True)
        self.buf = b""

    def send(self, data):
        try:
            self.request.sendall(data)
        except OSError:
            raise Gone()

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > HEAD_LIMIT:
                raise Gone()
            data = self.request.recv(65536)
            if not data:
                raise Gone()
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = (lines[0].split(" ") + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            headers[k] = (headers[k] + ", " if k in headers else "") + v.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(self.buf) < length:
            data = self.request.recv(65536)
            if not data:
                raise Gone()
            self.buf += data
        self.buf = self.buf[length:]
        return method, target, headers

    def wait_gone(self, seconds):
        """Waits until the client closes (True) or `seconds` pass (False)."""
        deadline = time.monotonic() + seconds
        self.request.settimeout(0.1)
        try:
            while time.monotonic() < deadline and not STOPPING.is_set():
                try:
                    if not self.request.recv(65536):
                        return True
                except socket.timeout:
                    continue
                except (OSError, ssl.SSLError):
                    return True
            return STOPPING.is_set()
        finally:
            self.request.settimeout(60)

    def handle(self):
        try:
            while not STOPPING.is_set():
                method, target, headers = self.read_head()
                parts = urllib.parse.urlsplit(target)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                path = parts.path
                if not path.startswith("/_"):
                    self.server.stats.hit(path)
                route = ROUTES.get(path)
                if route is None:
                    self.send(json_response(404, {"detail": "Not Found"}))
                    continue
                if route(self, method, headers, query) == "close":
                    return
        except (Gone, OSError, ssl.SSLError, ValueError):
            return

    # --------------------------------------------------------------- routes

    def r_stats(self, method, headers, query):
        self.send(json_response(200, self.server.stats.snapshot()))

    def r_stats_reset(self, method, headers, query):
        self.server.stats.reset()
        self.send(response(204, "No Content", [], ctype=None))

    def r_headers(self, method, headers, query):
        self.send(json_response(200, headers))

    def r_redirect(self, method, headers, query):
        extra = [("Location", query.get("to", "/headers"))]
        if "cookie" in query:
            extra.append(("Set-Cookie", query["cookie"]))
        code = int(query.get("code", "302"))
        self.send(response(code, "Found", extra, b"{}"))

    def r_loop(self, method, headers, query):
        self.send(response(302, "Found", [("Location", "/loop")], b"{}"))

    def r_many_headers(self, method, headers, query):
        n = int(query.get("n", "100"))
        body = b'{"many":true}'
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"".join(b"X-H-%d: %d\r\n" % (i, i) for i in range(n))
        self.send(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def r_header_nul(self, method, headers, query):
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Bad: a\x00b\r\n"
                  b"Content-Length: 2\r\n\r\n{}")

    def r_header_cr(self, method, headers, query):
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Bad: a\rX-Evil: 1\r\n"
                  b"Content-Length: 2\r\n\r\n{}")
        return "close"

    STATUS_GARBAGE = {
        "letters": b"HTTP/1.1 2OO OK\r\n",
        "huge": b"HTTP/1.1 99999999999999999999 OK\r\n",
        "negative": b"HTTP/1.1 -200 OK\r\n",
        "binary": b"HTTP/1.1 \x00\xff\x1b[31m OK\r\n",
        "noversion": b"HTTX/1.1 200 OK\r\n",
    }

    def r_status_garbage(self, method, headers, query):
        line = self.STATUS_GARBAGE[query.get("v", "letters")]
        self.send(line + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        return "close"

    CL = {
        "negative": b"Content-Length: -1\r\n",
        "overflow": b"Content-Length: 99999999999999999999999999\r\n",
        "double": b"Content-Length: 2\r\nContent-Length: 40\r\n",
        "letters": b"Content-Length: 2x\r\n",
    }

    def r_cl(self, method, headers, query):
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
                  self.CL[query.get("v", "negative")] + b"\r\n{}")
        return "close"

    def r_cl_and_chunked(self, method, headers, query):
        # The chunked body is {"ok":1}; the Content-Length counts a different body.
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n8\r\n{\"ok\":1}\r\n0\r\n\r\n")
        return "close"

    def r_http09(self, method, headers, query):
        self.send(b'{"this": "has no status line"}\n')
        return "close"

    def r_drip(self, method, headers, query):
        n = int(query.get("bytes", "100"))
        ms = int(query.get("ms", "100"))
        self.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % n)
        for _ in range(n):
            if self.wait_gone(ms / 1000.0):
                return "close"
            self.send(b"x")

    def r_linger(self, method, headers, query):
        n = int(query.get("bytes", "1000"))
        body = json.dumps({"pad": "p" * max(0, n - 11)}).encode()
        self.send(response(200, "OK", [("Connection", "keep-alive")], body))
        self.wait_gone(120)
        return "close"

    def r_excess(self, method, headers, query):
        forged = json_response(200, {"forged": True})
        self.send(json_response(200, {"real": True}) + forged)

    def r_informational(self, method, headers, query):
        n = int(query.get("n", "1000"))
        code = int(query.get("code", "103"))
        one = b"HTTP/1.1 %d Info\r\nX-Early: %d\r\n\r\n" % (code, code)
        if n >= 0:
            self.send(one * n + json_response(200, {"after": n}))
            return
        block = one * 1000
        while not STOPPING.is_set():
            self.send(block)

    def r_bad_gzip(self, method, headers, query):
        self.send(response(200, "OK", [("Content-Encoding", "gzip")], b"this is not gzip at all"))
        return "close"


ROUTES = {
    "/_stats": Handler.r_stats,
    "/_stats/reset": Handler.r_stats_reset,
    "/headers": Handler.r_headers,
    "/redirect": Handler.r_redirect,
    "/loop": Handler.r_loop,
    "/many-headers": Handler.r_many_headers,
    "/header-nul": Handler.r_header_nul,
    "/header-cr": Handler.r_header_cr,
    "/status-garbage": Handler.r_status_garbage,
    "/cl": Handler.r_cl,
    "/cl-and-chunked": Handler.r_cl_and_chunked,
    "/http09": Handler.r_http09,
    "/drip": Handler.r_drip,
    "/linger": Handler.r_linger,
    "/excess": Handler.r_excess,
    "/informational": Handler.r_informational,
    "/bad-gzip": Handler.r_bad_gzip,
}


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, tls):
        self.stats = Stats()
        self.tls = tls
        super().__init__(addr, Handler)

    def handle_error(self, request, client_address):
        pass  # a client that misbehaves back is not our concern


def main(argv=None):
    ap = argparse.ArgumentParser(description="lua-airflow hostile test server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = Server((args.host, args.port), tls)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(tmp, args.port_file)
    while not stop.wait(0.2):
        pass
    STOPPING.set()
    server.shutdown()
    server.server_close()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
