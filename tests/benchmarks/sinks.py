"""Loopback receivers for the outbox benchmarks, each a process of its own that writes one line per
thing received to a file, so a benchmark counts exactly what arrived (once, twice, never):

    python -m tests.benchmarks.sinks smtp PORT FILE      # one line per e-mail: its Subject
    python -m tests.benchmarks.sinks webhook PORT FILE   # one line per POST: its webhook-id

The SMTP side is the part of RFC 5321 Django's SMTP backend speaks (EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT; no TLS, no auth). Both bind with SO_REUSEADDR, so a benchmark can stop one and
start it again on the same port.
"""

from __future__ import annotations

import socketserver
import sys
import threading
from collections.abc import Callable
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Lines:
    """Appends lines to a file, one writer at a time, flushed at once (the benchmark reads it)."""

    def __init__(self, path: Path):
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self._file.write(line.replace("\n", " ") + "\n")
            self._file.flush()


def smtp_handler(lines: _Lines) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def reply(self, text: str) -> None:
            self.wfile.write(f"{text}\r\n".encode())
            self.wfile.flush()

        def handle(self) -> None:
            self.reply("220 sink ESMTP")
            while True:
                raw = self.rfile.readline()
                if not raw:
                    return
                verb = raw.decode("latin-1").strip().split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.reply("250-sink\r\n250 8BITMIME")
                elif verb in {"HELO", "MAIL", "RCPT", "RSET", "NOOP"}:
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    body = []
                    while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                        body.append(line[1:] if line.startswith(b"..") else line)
                    headers = BytesHeaderParser().parsebytes(b"".join(body))
                    lines.add(str(headers.get("Subject", "")))
                    self.reply("250 OK queued")
                elif verb == "QUIT":
                    self.reply("221 Bye")
                    return
                else:
                    self.reply("502 Command not implemented")

    return Handler


def webhook_handler(lines: _Lines) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers answer

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            lines.add(self.headers.get("webhook-id", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    return Handler


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def serve(kind: str, port: int, path: Path) -> None:
    lines = _Lines(path)
    servers: dict[str, Callable[[], socketserver.BaseServer]] = {
        "smtp": lambda: _ThreadingTCPServer(("127.0.0.1", port), smtp_handler(lines)),
        "webhook": lambda: _webhook_server(port, lines),
    }
    server = servers[kind]()
    print("ready", flush=True)
    server.serve_forever()


def _webhook_server(port: int, lines: _Lines) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), webhook_handler(lines))
    server.daemon_threads = True
    return server


def received(path: Path) -> list[str]:
    """The lines a sink wrote so far."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
