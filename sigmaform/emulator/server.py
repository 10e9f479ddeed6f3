"""Serve the emulator over real HTTP with one thread per connection."""

from __future__ import annotations

import socket
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sigmaform.emulator.app import EmulatorApp


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, threaded, so slow (latency-injected) requests overlap."""

    daemon_threads = True
    # Many clients connect at once (parallel refresh); a short backlog would drop SYNs and
    # cost each of them a one-second retransmit.
    request_queue_size = 128


class _IPv6Server(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: the journal records requests."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(host: str, port: int, app: EmulatorApp) -> ThreadingWSGIServer:
    """Bind `host:port` (port 0 picks a free one); call `.serve_forever()` to run.

    Raises OSError when the address cannot be bound (for example, the port is in use).
    """
    server_class = _IPv6Server if ":" in host else ThreadingWSGIServer
    server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    assert isinstance(server, ThreadingWSGIServer)
    return server
