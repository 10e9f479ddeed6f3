"""Serve the emulator over real HTTP with one thread per connection."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from sigmaform.emulator.app import EmulatorApp


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, threaded, so slow (latency-injected) requests overlap."""

    daemon_threads = True
    # Many clients connect at once (parallel refresh); a short backlog would drop SYNs and
    # cost each of them a one-second retransmit.
    request_queue_size = 128


class _IPv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _KeepAliveServerHandler(ServerHandler):
    http_version = "1.1"


class _Handler(WSGIRequestHandler):
    """wsgiref's handler, with HTTP/1.1 keep-alive and without an access log on stderr.

    wsgiref answers one request per connection; a client refreshing 1,000 agents would pay
    a connection (and a server thread) per request, which distorts latency benchmarks.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a kept-alive connection
    # waits for the client's delayed ACK (~40 ms) before the body.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():
            return
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # The app reads Content-Length bytes only; don't reuse a connection it may misread.
            self.close_connection = True
        handler = _KeepAliveServerHandler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]  # typeshed: BufferedIOBase vs IO
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self  # type: ignore[attr-defined]  # wsgiref backpointer
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str, port: int, app: EmulatorApp) -> ThreadingWSGIServer:
    """Bind `host:port` (port 0 picks a free one); call `.serve_forever()` to run.

    Raises OSError when the address cannot be bound (for example, the port is in use).
    """
    server_class = _IPv6Server if ":" in host else ThreadingWSGIServer
    server = make_server(host, port, app, server_class=server_class, handler_class=_Handler)
    assert isinstance(server, ThreadingWSGIServer)
    return server


@contextlib.contextmanager
def running(app: EmulatorApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on a thread for as long as the block runs; yields the base URL.

    For tests and benchmarks that need a real socket; `sigmaform emulator` serves in the
    foreground instead.
    """
    server = serve(host, port, app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
