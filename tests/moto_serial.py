"""moto's S3 server, one request at a time: the server `tests/s3.py` starts.

Real S3 makes a conditional write atomic: of many `PUT If-None-Match: *` racing for one key,
exactly one succeeds. moto checks the condition and stores the object in two steps with no
lock between them, so under its threaded server two racing lock attempts can both win. The
backend's locking is only tested truthfully against a server that keeps S3's promise, so
requests are served whole, one after another (each response body is produced inside the lock).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialised(app: App) -> App:
    """`app` with every request handled under one lock, the body produced before release."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return serve


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
