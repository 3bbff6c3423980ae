#!/usr/bin/env python3
"""Local HTTP/1.1 test server for the lua-airflow C core and Lua specs.

Python 3 standard library only.

Usage:
    python3 spec/servers/testserver.py --port 0 --port-file /tmp/x.port \
        [--host 127.0.0.1] [--tls-cert cert.pem --tls-key key.pem [--client-ca ca.pem]]

The bound port is written (atomically: tmp file + rename, no trailing newline)
to --port-file once the socket is listening.  The server then runs until
SIGTERM/SIGINT and exits 0.  Nothing is printed to stdout; unexpected errors go
to stderr.

Endpoints: see the ROUTES table / docstrings of the h_* methods below, or the
README text at the end of this file.
"""

import argparse
import base64
import gzip
import hashlib
import http.client
import http.server
import json
import os
import select
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import zlib

# Allow big request headers (long tokens, many headers) from clients under test.
http.client._MAXLINE = 1 << 20
http.client._MAXHEADERS = 10000

STOPPING = threading.Event()
BOMBS = {}  # gzip bombs by size in MiB, made once

CHUNK = 64 * 1024
LETTERS = b"abcdefghijklmnopqrstuvwxyz"
# Pattern buffer: byte k of a /big body is LETTERS[k % 26].
PATTERN = LETTERS * (CHUNK // 26 + 2)

ECHO_BODY_LIMIT = 10 * 1024 * 1024  # body text kept in /echo JSON at most

DISCONNECT_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
                     ssl.SSLEOFError, ssl.SSLZeroReturnError, socket.timeout)


class ClientGone(Exception):
    """Raised internally when the peer went away; swallowed quietly."""


def eprint(*args):
    try:
        print(*args, file=sys.stderr, flush=True)
    except Exception:
        pass


class Stats:
    """Thread-safe counters.

    connections: distinct TCP connections that carried at least one counted
                 request since start / last reset (a keep-alive connection
                 counts once; a connection that was already open before a
                 reset is counted again at its first request after the reset).
    requests:    counted requests since start / last reset.
    accepted:    raw TCP accepts since start / last reset.
    Requests to control paths (/_stats, /_stats/reset, /_flaky/reset, i.e. any
    path starting with "/_") are not counted, so fetching stats does not
    disturb them.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.generation = 0
        self.connections = 0
        self.requests = 0
        self.accepted = 0

    def on_accept(self):
        with self.lock:
            self.accepted += 1

    def on_request(self, handler):
        with self.lock:
            if getattr(handler, "_counted_gen", None) != self.generation:
                handler._counted_gen = self.generation
                self.connections += 1
            self.requests += 1

    def reset(self):
        with self.lock:
            self.generation += 1
            self.connections = 0
            self.requests = 0
            self.accepted = 0

    def snapshot(self):
        with self.lock:
            return {"connections": self.connections, "requests": self.requests,
                    "accepted": self.accepted}


class Flaky:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def hit(self, key):
        with self.lock:
            n = self.counts.get(key, 0) + 1
            self.counts[key] = n
            return n

    def reset(self):
        with self.lock:
            self.counts.clear()


def qint(query, name, default, lo=None, hi=None):
    vals = query.get(name)
    if not vals or vals[-1] == "":
        v = default
    else:
        try:
            v = int(vals[-1])
        except ValueError:
            raise BadRequest("query parameter %r must be an integer" % name)
    if lo is not None and v < lo:
        raise BadRequest("query parameter %r must be >= %d" % (name, lo))
    if hi is not None and v > hi:
        raise BadRequest("query parameter %r must be <= %d" % (name, hi))
    return v


def qstr(query, name, default=None):
    vals = query.get(name)
    if not vals:
        return default
    return vals[-1]


class BadRequest(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lua-airflow-testserver/1.0"
    sys_version = ""
    # malformed request lines get a proper HTTP/1.1 error (not HTTP/0.9 style)
    default_request_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections are dropped after this
    # socketserver.StreamRequestHandler: wbufsize=0 -> unbuffered writes.
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds
    # the body until the client's delayed ACK (40 ms) and every request looks slow.
    disable_nagle_algorithm = True

    # ------------------------------------------------------------------ infra

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # quiet
        pass

    def log_error(self, format, *args):  # quiet (malformed requests etc.)
        pass

    def __getattr__(self, name):
        # Accept every method: do_GET, do_POST, do_FOO ...
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def parse_request(self):
        self._headers_sent = False
        self._aborted = False
        ok = super().parse_request()
        if ok:
            target = self.path
            if target.startswith(("http://", "https://")):
                parts = urllib.parse.urlsplit(target)
                target = parts.path or "/"
                if parts.query:
                    target += "?" + parts.query
            raw_path, _, raw_query = target.partition("?")
            self.raw_path = raw_path
            self.raw_query = raw_query
            if not raw_path.startswith("/_"):
                self.server.stats.on_request(self)
        return ok

    def send_response(self, code, message=None):
        super().send_response(code, message)
        self._headers_sent = True

    def end_headers(self):
        super().end_headers()
        self._headers_sent = True

    def handle(self):
        try:
            super().handle()
        except DISCONNECT_ERRORS:
            self.close_connection = True
        except ClientGone:
            self.close_connection = True
        except ssl.SSLError:
            self.close_connection = True
        except OSError:
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except Exception:
            pass

    def _dispatch(self):
        try:
            self._read_body()
        except BadRequest as e:
            self.close_connection = True
            self.send_json(400, {"detail": str(e)})
            return
        try:
            self.query_pairs = urllib.parse.parse_qsl(
                self.raw_query, keep_blank_values=True, encoding="utf-8",
                errors="replace")
            self.query = {}
            for k, v in self.query_pairs:
                self.query.setdefault(k, []).append(v)
            self.route()
        except (ClientGone,) + DISCONNECT_ERRORS:
            self.close_connection = True
        except BadRequest as e:
            if self._headers_sent:
                self.close_connection = True
            else:
                self.send_json(400, {"detail": str(e)})
        except (ssl.SSLError, OSError) as e:
            # socket-level trouble: treat as a disconnect
            self.close_connection = True
        except Exception:
            eprint("testserver: handler error for %s %s:\n%s"
                   % (self.command, self.path, traceback.format_exc()))
            self.close_connection = True
            if not self._headers_sent and not self._aborted:
                try:
                    self.send_json(500, {"detail": "Internal Server Error"})
                except Exception:
                    pass

    # ------------------------------------------------------------- body input

    def _read_body(self):
        """Read the request body (Content-Length or chunked) into
        self.body_bytes (up to ECHO_BODY_LIMIT), self.body_length and
        self.body_sha256."""
        h = hashlib.sha256()
        kept = []
        kept_len = 0
        total = 0

        def consume(data):
            nonlocal kept_len, total
            total += len(data)
            h.update(data)
            if kept_len < ECHO_BODY_LIMIT:
                piece = data[:ECHO_BODY_LIMIT - kept_len]
                kept.append(piece)
                kept_len += len(piece)

        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ClientGone()
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise BadRequest("malformed chunk size line %r" % line[:80])
                if size == 0:
                    # trailers until empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if not t:
                            raise ClientGone()
                        if t in (b"\r\n", b"\n"):
                            break
                    break
                left = size
                while left > 0:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        raise ClientGone()
                    consume(data)
                    left -= len(data)
                crlf = self.rfile.readline(65537)
                if crlf not in (b"\r\n", b"\n"):
                    if not crlf:
                        raise ClientGone()
                    raise BadRequest("missing CRLF after chunk data")
        else:
            cl = self.headers.get("Content-Length")
            if cl is not None:
                try:
                    left = int(cl.strip())
                    if left < 0:
                        raise ValueError
                except ValueError:
                    raise BadRequest("bad Content-Length %r" % cl)
                while left > 0:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        raise ClientGone()
                    consume(data)
                    left -= len(data)
        self.body_bytes = b"".join(kept)
        self.body_length = total
        self.body_truncated = total > kept_len
        self.body_sha256 = h.hexdigest()

    # ------------------------------------------------------------ output util

    @property
    def is_head(self):
        return self.command == "HEAD"

    def write(self, data):
        if self.is_head or not data:
            return
        try:
            self.wfile.write(data)
        except DISCONNECT_ERRORS:
            raise ClientGone()

    def send_bytes(self, code, body, ctype="application/json", headers=None):
        self.send_response(code)
        no_body = code in (204, 304) or 100 <= code < 200
        if ctype is not None and not no_body:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or []):
            self.send_header(k, v)
        if not no_body:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body:
            self.write(body)

    def send_json(self, code, obj, headers=None):
        body = json.dumps(obj).encode("utf-8")
        self.send_bytes(code, body, "application/json", headers)

    def request_headers(self):
        out = {}
        for k, v in self.headers.items():
            lk = k.lower()
            if lk in out:
                out[lk] = out[lk] + ", " + v
            else:
                out[lk] = v
        return out

    def wait_or_disconnect(self, seconds):
        """Sleep up to `seconds`; return early (True) if the client
        disconnected or the server is stopping."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if STOPPING.is_set():
                return True
            try:
                r, _, _ = select.select([sock], [], [], min(left, 0.1))
            except (OSError, ValueError):
                return True
            if r:
                try:
                    # peek at the raw TCP stream (works for SSLSocket too)
                    data = socket.socket.recv(sock, 1, socket.MSG_PEEK)
                except BlockingIOError:
                    data = b"?"
                except OSError:
                    return True
                if not data:
                    return True
                # client sent something (pipelined request / TLS alert):
                # can't tell, just keep sleeping without busy looping
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def abort_rst(self):
        """Close the connection abruptly with a TCP RST (SO_LINGER {1,0})."""
        self._aborted = True
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()  # drop the makefile() reference so close() is real
        except Exception:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def close_after(self):
        """Close the connection gracefully (FIN) after what was written."""
        self.close_connection = True

    # ---------------------------------------------------------------- routing

    def route(self):
        p = self.raw_path
        m = self.command
        if p == "/_stats":
            return self.send_json(200, self.server.stats.snapshot())
        if p == "/_stats/reset":
            if m not in ("POST", "PUT", "DELETE"):
                return self.send_json(405, {"detail": "Method Not Allowed"},
                                      [("Allow", "POST")])
            self.server.stats.reset()
            return self.send_bytes(204, b"")
        if p == "/_flaky/reset":
            if m not in ("POST", "PUT", "DELETE"):
                return self.send_json(405, {"detail": "Method Not Allowed"},
                                      [("Allow", "POST")])
            self.server.flaky.reset()
            return self.send_bytes(204, b"")
        if p.startswith("/echo"):
            return self.h_echo()
        if p.startswith("/hostile/"):
            return self.h_hostile(p[len("/hostile"):])
        seg = p.split("/")
        head = seg[1] if len(seg) > 1 else ""
        if head == "status" and len(seg) == 3:
            return self.h_status(seg[2])
        if head == "delay" and len(seg) == 3:
            return self.h_delay(seg[2])
        if head == "redirect" and len(seg) == 3:
            return self.h_redirect_chain(seg[2])
        if p.startswith("/api/v2/dags/") and "/logs/" in p:
            return self.h_ndjson_log()
        fn = SIMPLE_ROUTES.get(p)
        if fn is not None:
            return fn(self)
        return self.send_json(404, {"detail": "Not Found"})

    # -------------------------------------------------------------- endpoints

    def h_echo(self):
        try:
            decoded = [urllib.parse.unquote(s, encoding="utf-8", errors="strict")
                       for s in self.raw_path.split("/")]
        except UnicodeDecodeError:
            return self.send_json(400, {"detail": "path is not valid percent-encoded UTF-8",
                                        "path": self.raw_path})
        try:
            pairs = urllib.parse.parse_qsl(self.raw_query, keep_blank_values=True,
                                           encoding="utf-8", errors="strict")
        except UnicodeDecodeError:
            return self.send_json(400, {"detail": "query is not valid percent-encoded UTF-8",
                                        "query_raw": self.raw_query})
        obj = {
            "method": self.command,
            "path": self.raw_path,
            "path_decoded": decoded,
            "query_raw": self.raw_query,
            "query": [[k, v] for k, v in pairs],
            "headers": self.request_headers(),
            "body": self.body_bytes.decode("utf-8", errors="replace"),
            "body_length": self.body_length,
            "body_sha256": self.body_sha256,
            "http_version": self.request_version,
        }
        if self.body_truncated:
            obj["body_truncated"] = True
        expect = self.headers.get("Expect")
        if expect is not None:
            obj["expect"] = expect.strip().lower()
        if isinstance(self.connection, ssl.SSLSocket):
            tls = {"version": self.connection.version()}
            try:
                cert = self.connection.getpeercert()
            except Exception:
                cert = None
            if cert:
                subj = {}
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        subj[k] = v
                tls["client_subject"] = subj
            obj["tls"] = tls
        self.send_json(200, obj)

    # ---------------------------------------------------- hostile answers
    # What a hostile server or a broken proxy sends (spec/hostile_spec.lua). Paths
    # under /hostile/ can serve as a client's base_url: /hostile/auth/token is then
    # its login and /hostile/api/... its API calls (answered by /echo, so a spec can
    # see every header that arrived).

    def h_hostile(self, rest):
        if rest == "/auth/token":
            # a token with a line break: sent as is, it would add a header
            return self.send_json(200, {"access_token": "abc\r\nX-Evil: 1", "token_type": "bearer"})
        if rest.startswith("/api/"):
            return self.h_echo()
        if rest == "/bomb":
            return self.h_bomb()
        if rest == "/html-200":
            page = (b"<!DOCTYPE html>\n<html><head><title>Sign in - Corporate SSO</title></head>"
                    b"<body><form method=post action=/sso/login><input name=user></form></body></html>\n")
            ctype = None if qstr(self.query, "untyped") else "text/html; charset=utf-8"
            return self.send_bytes(200, page, ctype)
        if rest == "/detail":
            # a detail that would forge a log line, recolour a terminal and break UTF-8
            body = (b'{"detail": "bad dag\\r\\nINFO forged line \\u001b[31mred\\u001b[0m '
                    b'\xff\xfe end"}')
            return self.send_bytes(400, body, "application/json")
        return self.send_json(404, {"detail": "Not Found"})

    def h_bomb(self):
        """A gzip body of `mib` MiB of zeros (1024 by default; about 1 MB on the wire),
        sent whatever the client accepts."""
        mib = qint(self.query, "mib", 1024, 1, 4096)
        body = BOMBS.get(mib)
        if body is None:
            z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
            block = b"0" * (1024 * 1024)
            parts = [z.compress(block) for _ in range(mib)]
            parts.append(z.flush())
            body = b"".join(parts)
            BOMBS[mib] = body
        self.send_bytes(200, body, "application/json", [("Content-Encoding", "gzip")])

    def h_status(self, code_s):
        try:
            code = int(code_s)
        except ValueError:
            raise BadRequest("status code must be an integer")
        if not 200 <= code <= 599:
            raise BadRequest("status code must be in 200..599")
        headers = []
        ra = qstr(self.query, "retry_after")
        if ra is not None:
            headers.append(("Retry-After", ra))
        body = qstr(self.query, "body")
        if body is not None:
            ctype = qstr(self.query, "ctype", "text/plain")
            return self.send_bytes(code, body.encode("utf-8"), ctype, headers)
        self.send_json(code, {"status": code}, headers)

    def h_delay(self, ms_s):
        try:
            ms = int(ms_s)
        except ValueError:
            raise BadRequest("delay must be an integer number of ms")
        if ms < 0:
            raise BadRequest("delay must be >= 0")
        if self.wait_or_disconnect(ms / 1000.0):
            self.close_connection = True
            return
        self.send_json(200, {"delayed_ms": ms})

    def h_slow_body(self):
        n = qint(self.query, "chunks", 10, 0)
        ms = qint(self.query, "ms", 100, 0)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(n * 10))
        self.end_headers()
        if self.is_head:
            return
        for i in range(n):
            if i > 0 and ms > 0:
                if self.wait_or_disconnect(ms / 1000.0):
                    self.close_connection = True
                    return
            self.write((b"%09d\n" % i)[-10:])

    def h_hang_body(self):
        secs = qint(self.query, "secs", 30, 0, 3600)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.write(b"0123456789")
        self.wait_or_disconnect(secs)
        self.close_connection = True  # never completes the body

    def h_reset_mid_body(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.write(b"r" * 1000)
        self.abort_rst()

    def h_truncated_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.write(b"a\r\n0123456789\r\n")
        self.write(b"5\r\nabcde\r\n")
        self.close_after()

    def h_ndjson_log(self):
        """GET /api/v2/dags/.../logs/N: a task log as NDJSON in pieces that split lines:
        two whole lines and the start of a third in one piece, and so on; the last line
        has no newline. Expected events: a, bb, cc, d, e."""
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (b'{"event":"a"}\n{"event":"bb"}\n{"ev', b'ent":"cc"}\n{"event":"d"}\n{"event":"e',
                      b'"}'):
            self.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            time.sleep(0.05)  # separate reads on the client, so pieces are not merged
        self.write(b"0\r\n\r\n")

    def h_chunked(self):
        n = qint(self.query, "n", 3, 0, 10_000_000)
        size = qint(self.query, "size", 10, 1, 100 * 1024 * 1024)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.is_head:
            return
        for i in range(n):
            letter = LETTERS[i % 26:i % 26 + 1]
            self.write(b"%x\r\n" % size)
            left = size
            block = letter * min(size, CHUNK)
            while left > 0:
                piece = block if left >= len(block) else block[:left]
                self.write(piece)
                left -= len(piece)
            self.write(b"\r\n")
        self.write(b"0\r\n\r\n")

    def h_big(self):
        n = qint(self.query, "bytes", 1024 * 1024, 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.is_head:
            return
        pos = 0
        while pos < n:
            k = min(CHUNK, n - pos)
            off = pos % 26
            self.write(PATTERN[off:off + k])
            pos += k

    def _raw_status_line(self, code, reason):
        self.log_request(code)
        self._headers_sent = True
        return ("%s %d %s\r\n" % (self.protocol_version, code, reason)).encode("latin-1")

    def _std_headers(self):
        return ("Server: %s\r\nDate: %s\r\n" % (self.version_string(),
                                                 self.date_time_string())).encode("latin-1")

    def h_huge_header(self):
        n = qint(self.query, "bytes", 100 * 1024, 0, 1024 * 1024 * 1024)
        body = json.dumps({"huge_header_bytes": n}).encode()
        out = self._raw_status_line(200, "OK") + self._std_headers()
        out += b"Content-Type: application/json\r\n"
        out += b"Content-Length: %d\r\n" % len(body)
        out += b"X-Huge: "
        self.wfile.write(out)
        block = b"h" * CHUNK
        left = n
        while left > 0:
            piece = block if left >= CHUNK else block[:left]
            self.wfile.write(piece)
            left -= len(piece)
        self.wfile.write(b"\r\n\r\n")
        self.write(body)

    def h_many_headers(self):
        n = qint(self.query, "n", 100, 0, 1_000_000)
        self.send_response(200)
        for i in range(n):
            self.send_header("X-H-%d" % i, str(i))
        body = json.dumps({"headers": n}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.write(body)

    def h_redirect(self):
        to = qstr(self.query, "to", "/echo")
        code = qint(self.query, "code", 302, 300, 399)
        self.send_json(code, {"location": to}, [("Location", to)])

    def h_redirect_chain(self, n_s):
        try:
            n = int(n_s)
        except ValueError:
            raise BadRequest("redirect count must be an integer")
        if n <= 0:
            return self.h_echo()
        code = qint(self.query, "code", 302, 300, 399)
        if n == 1:
            to = "/echo"
        else:
            to = "/redirect/%d" % (n - 1)
        if self.raw_query:
            to += "?" + self.raw_query
        self.send_json(code, {"location": to}, [("Location", to)])

    def h_headers(self):
        self.send_json(200, self.request_headers())

    def h_json(self):
        n = qint(self.query, "bytes", 1000, 0, 1024 * 1024 * 1024)
        prefix = b'{"items":['
        # item i: {"i":<i>,"s":"xxxxxxxxxx"}  -> 23 + len(str(i)) bytes, plus commas
        base = len(prefix) + len(b'],"total_entries":}')
        total = base + 1  # with k=0 -> "0"
        k = 0
        while True:
            item_len = 23 + len(str(k)) + (1 if k > 0 else 0)
            new_total = total - len(str(k)) + len(str(k + 1)) + item_len
            if new_total > n:
                break
            total = new_total
            k += 1
        suffix = b'],"total_entries":%d}' % k
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(total))
        self.end_headers()
        if self.is_head:
            return
        self.write(prefix)
        i = 0
        while i < k:
            j = min(k, i + 2000)
            parts = [b'{"i":%d,"s":"xxxxxxxxxx"}' % x for x in range(i, j)]
            s = b",".join(parts)
            if i > 0:
                s = b"," + s
            self.write(s)
            i = j
        self.write(suffix)

    def h_invalid_json(self):
        self.send_bytes(200, b'{"broken": ', "application/json")

    def h_html_error(self):
        html = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
                b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
                b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
        self.send_bytes(502, html, "text/html")

    def h_gzip(self):
        accepts = False
        for tok in self.headers.get("Accept-Encoding", "").split(","):
            parts = [p.strip() for p in tok.split(";")]
            if parts[0].lower() in ("gzip", "x-gzip", "*"):
                q = 1.0
                for p in parts[1:]:
                    if p.lower().startswith("q="):
                        try:
                            q = float(p[2:])
                        except ValueError:
                            q = 0.0
                if q > 0:
                    accepts = True
        if accepts:
            body = gzip.compress(json.dumps({"gzipped": True}).encode())
            self.send_bytes(200, body, "application/json",
                            [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
        else:
            self.send_json(200, {"gzipped": False}, [("Vary", "Accept-Encoding")])

    def h_auth_basic(self):
        user = qstr(self.query, "user", "user")
        pw = qstr(self.query, "pass", "passwd")
        auth = self.headers.get("Authorization", "")
        ok = False
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() == "basic":
            try:
                dec = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
                ok = dec == "%s:%s" % (user, pw)
            except Exception:
                ok = False
        if ok:
            self.send_json(200, {"user": user, "authenticated": True})
        else:
            self.send_json(401, {"detail": "Unauthorized"},
                           [("WWW-Authenticate", 'Basic realm="test"')])

    def h_auth_bearer(self):
        token = qstr(self.query, "token", "token")
        auth = self.headers.get("Authorization", "")
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and cred.strip() == token:
            self.send_json(200, {"token": token, "authenticated": True})
        else:
            self.send_json(401, {"detail": "Unauthorized"},
                           [("WWW-Authenticate", 'Bearer realm="test"')])

    def h_flaky(self):
        key = qstr(self.query, "key", "default")
        fail = qint(self.query, "fail", 1, 0)
        code = qint(self.query, "code", 503, 200, 599)
        n = self.server.flaky.hit(key)
        if n <= fail:
            headers = []
            ra = qstr(self.query, "retry_after")
            if ra is not None:
                headers.append(("Retry-After", ra))
            self.send_json(code, {"attempt": n, "status": code}, headers)
        else:
            self.send_json(200, {"attempt": n})

    def h_close_after_headers(self):
        out = self._raw_status_line(200, "OK") + self._std_headers()
        out += b"Content-Type: text/plain\r\nContent-Length: 50\r\n\r\n"
        self.wfile.write(out)
        self.close_after()

    def h_stall_headers(self):
        ms = qint(self.query, "ms", 1000, 0, 3600 * 1000)
        body = json.dumps({"stalled_ms": ms}).encode()
        self.wfile.write(self._raw_status_line(200, "OK"))
        self.wfile.write(b"X-Stall: ")
        steps = ms // 100
        for _ in range(steps):
            if self.wait_or_disconnect(0.1):
                self.close_connection = True
                return
            self.wfile.write(b"s")
        self.wfile.write(b"\r\n" + self._std_headers() +
                         b"Content-Type: application/json\r\n" +
                         b"Content-Length: %d\r\n\r\n" % len(body))
        self.write(body)


SIMPLE_ROUTES = {
    "/slow-body": Handler.h_slow_body,
    "/hang-body": Handler.h_hang_body,
    "/reset-mid-body": Handler.h_reset_mid_body,
    "/truncated-chunked": Handler.h_truncated_chunked,
    "/chunked": Handler.h_chunked,
    "/big": Handler.h_big,
    "/huge-header": Handler.h_huge_header,
    "/many-headers": Handler.h_many_headers,
    "/redirect": Handler.h_redirect,
    "/headers": Handler.h_headers,
    "/json": Handler.h_json,
    "/invalid-json": Handler.h_invalid_json,
    "/html-error": Handler.h_html_error,
    "/gzip": Handler.h_gzip,
    "/auth/basic": Handler.h_auth_basic,
    "/auth/bearer": Handler.h_auth_bearer,
    "/flaky": Handler.h_flaky,
    "/close-after-headers": Handler.h_close_after_headers,
    "/stall-headers": Handler.h_stall_headers,
}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ssl_context=None):
        self.stats = Stats()
        self.flaky = Flaky()
        self.ssl_context = ssl_context
        super().__init__(addr, handler)

    def server_bind(self):
        # like HTTPServer.server_bind but without the (possibly slow) getfqdn()
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def process_request(self, request, client_address):
        self.stats.on_accept()
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        # runs in the per-connection thread: TLS handshake happens here so a
        # stalled handshake never blocks the accept loop
        if self.ssl_context is not None:
            try:
                request.settimeout(10)
                tls = self.ssl_context.wrap_socket(request, server_side=True)
                tls.settimeout(None)
            except (ssl.SSLError, OSError):
                try:
                    request.close()
                except OSError:
                    pass
                return
            try:
                self.RequestHandlerClass(tls, client_address, self)
            finally:
                try:
                    tls.close()
                except OSError:
                    pass
            return
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, DISCONNECT_ERRORS + (ClientGone, ssl.SSLError, OSError)):
            return
        eprint("testserver: error while handling connection from %s:\n%s"
               % (client_address, traceback.format_exc()))


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.tmp.%d" % (os.path.basename(path), os.getpid()))
    with open(tmp, "w") as f:
        f.write(str(port))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="lua-airflow HTTP test server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    args = ap.parse_args(argv)

    ctx = None
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(args.client_ca)
    elif args.tls_key or args.client_ca:
        ap.error("--tls-key/--client-ca require --tls-cert")

    if ":" in args.host:
        Server.address_family = socket.AF_INET6

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        server = Server((args.host, args.port), Handler, ctx)
    except OSError as e:
        eprint("testserver: cannot bind %s:%d: %s" % (args.host, args.port, e))
        return 1

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True)
    t.start()

    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)

    while not stop.wait(0.2):
        pass

    STOPPING.set()
    try:
        server.shutdown()
        server.server_close()
    except Exception:
        pass
    try:
        sys.stderr.flush()
    except Exception:
        pass
    # daemon handler threads may be blocked in I/O: leave immediately
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
