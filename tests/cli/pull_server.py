#!/usr/bin/env python3
"""Loopback HTTP server for tests/cli/pull.sh (python3 stdlib only).

Serves one file (--file) under several routes that each misbehave in one way,
plus a Hugging Face lookalike. Binds 127.0.0.1 on a free port, writes the port
to --port-file once listening, and logs one line per request to --log:
    GET /plain/model.gguf range=bytes=100- auth=- -> 206

Routes (NAME is any file name; the bytes are always those of --file):
  /plain/NAME         Range support, ETag = the file's SHA-256
  /redirect/NAME      302 -> /redirect2/NAME, 301 -> /plain/NAME
  /norange/NAME       ignores Range: always 200 with the whole file
  /badetag/NAME       like /plain but its ETag is a wrong SHA-256
  /flaky/NAME         the first GET of each NAME sends half the bytes, then drops
  /slow/NAME          like /plain, 64 KiB every 50 ms
  /busy/NAME          the first GET of each NAME is a 503 (Retry-After: 1)
  /forbidden/NAME     403
  /secret/NAME        401 unless "Authorization: Bearer sekrit"
  anything else       404
Hugging Face lookalike, /OWNER/REPO/resolve/REV/PATH:
  302 to /cdn/SHA with X-Linked-Etag (the SHA-256) and X-Linked-Size, like the
  Hub; the CDN route's ETag is an MD5-like value that must not be mistaken for
  a digest. OWNER "gated" needs the bearer token, OWNER "broken" sends a wrong
  X-Linked-Etag, REV must be main, v1 or refs/pr/1 (RevisionNotFound), and
  PATH's last segment must be model.gguf (EntryNotFound).
"""
import argparse
import hashlib
import http.server
import os
import socket
import sys
import threading
import time
import urllib.parse

TOKEN = "sekrit"
REVISIONS = {"main", "v1", "refs/pr/1"}


class State:
    def __init__(self, data, log_path):
        self.data = data
        self.sha = hashlib.sha256(data).hexdigest()
        self.md5 = hashlib.md5(data).hexdigest()
        self.wrong_sha = hashlib.sha256(b"not the file").hexdigest()
        self.log = open(log_path, "a", buffering=1)
        self.lock = threading.Lock()
        self.seen = set()  # (route, name) pairs that already misbehaved once

    def first_time(self, key):
        with self.lock:
            if key in self.seen:
                return False
            self.seen.add(key)
            return True

    def write_log(self, line):
        with self.lock:
            self.log.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pull-test/1"
    state = None  # set in main

    def log_message(self, fmt, *args):  # quiet: the request log says enough
        pass

    def log_request(self, code="-", size="-"):
        auth = self.headers.get("Authorization") or "-"
        rng = self.headers.get("Range") or "-"
        self.state.write_log(f"{self.command} {self.path} range={rng} auth={auth.replace(' ', ':')} -> {code}")

    # ---- responses

    def simple(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def parse_range(self, size):
        """(start, end) inclusive, None for no Range, or 'bad' when unsatisfiable."""
        h = self.headers.get("Range")
        if not h or not h.startswith("bytes="):
            return None
        first, _, last = h[6:].split(",")[0].partition("-")
        if not first:
            return None  # suffix ranges are not needed here
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            return "bad"
        return start, end

    def send_file(self, etag, honour_range=True, drop_half=False, slow=False):
        data = self.state.data
        size = len(data)
        rng = self.parse_range(size) if honour_range else None
        if rng == "bad":
            return self.simple(416, headers=[("Content-Range", f"bytes */{size}")])
        start, end = rng if rng else (0, size - 1)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes" if honour_range else "none")
        if etag:
            self.send_header("ETag", f'"{etag}"')
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        body = data[start:end + 1]
        try:
            if drop_half:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
            elif slow:
                for i in range(0, len(body), 65536):
                    self.wfile.write(body[i:i + 65536])
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def redirect(self, code, location, headers=()):
        self.simple(code, b"redirecting\n", [("Location", location)] + list(headers))

    # ---- routing

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")[1:]
        s = self.state
        route, name = parts[0], "/".join(parts[1:])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.hugging_face(parts)
        if route == "cdn" and name == s.sha:
            return self.send_file(s.md5)
        if not name:
            return self.simple(404, b"no such file\n")
        if route == "plain":
            return self.send_file(s.sha)
        if route == "redirect":
            return self.redirect(302, f"/redirect2/{name}")
        if route == "redirect2":
            return self.redirect(301, f"/plain/{name}")
        if route == "norange":
            return self.send_file(s.sha, honour_range=False)
        if route == "badetag":
            return self.send_file(s.wrong_sha)
        if route == "flaky":
            return self.send_file(s.sha, drop_half=self.command == "GET" and s.first_time(("flaky", name)))
        if route == "slow":
            return self.send_file(s.sha, slow=True)
        if route == "busy" and self.command == "GET" and s.first_time(("busy", name)):
            return self.simple(503, b"try again later\n", [("Retry-After", "1")])
        if route == "busy":
            return self.send_file(s.sha)
        if route == "forbidden":
            return self.simple(403, b"forbidden\n")
        if route == "secret":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.simple(401, b"token needed\n")
            return self.send_file(s.sha)
        return self.simple(404, b"no such file\n")

    def hugging_face(self, parts):
        s = self.state
        owner, repo, rev = (urllib.parse.unquote(p) for p in (parts[0], parts[1], parts[3]))
        path = [urllib.parse.unquote(p) for p in parts[4:]]
        if owner == "gated" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            msg = f"Access to model {owner}/{repo} is restricted. You must be authenticated to access it."
            return self.simple(401, msg.encode(), [("X-Error-Code", "GatedRepo"), ("X-Error-Message", msg)])
        if rev not in REVISIONS:
            return self.simple(404, b"Invalid rev id\n",
                               [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", f"Invalid rev id: {rev}")])
        if path[-1] != "model.gguf":
            return self.simple(404, b"Entry not found\n",
                               [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found")])
        linked = s.wrong_sha if owner == "broken" else s.sha
        self.redirect(302, f"/cdn/{s.sha}",
                      [("X-Linked-Etag", f'"{linked}"'), ("X-Linked-Size", str(len(s.data))),
                       ("ETag", f'"{linked}"'), ("X-Repo-Commit", "0" * 40)])


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hang up on purpose here
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    with open(args.file, "rb") as f:
        Handler.state = State(f.read(), args.log)
    server = Server(("127.0.0.1", 0), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)  # the port file appears whole or not at all
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
