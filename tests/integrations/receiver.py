"""A real HTTP receiver on loopback for outbound webhook tests: it records what it gets and
answers as told (a status, a delay, or closing the connection)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    connection: tuple = ()  # the sender's address: one per connection it opened


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    close: bool = False
    location: str = ""
    answer: bytes | None = None  # instead of the default body
    # Close a kept-alive connection after this many answers without saying so (0: never), as
    # servers with an idle timeout or a request cap do.
    answers_per_connection: int = 0

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers answer
        answered = 0

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            receiver.received.append(
                Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    connection=self.client_address,
                )
            )
            if receiver.close:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if receiver.delay:
                time.sleep(receiver.delay)
            answer = receiver.answer
            if answer is None:
                answer = b'{"ok": true}' if receiver.status < 300 else b"receiver says no"
            try:
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.answered += 1
            if receiver.answers_per_connection and self.answered >= receiver.answers_per_connection:
                self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server=server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
