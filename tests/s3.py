"""A throwaway S3-compatible server for tests: moto's server in a subprocess on loopback,
serving one request at a time so conditional writes are atomic, as on S3 (moto_serial.py).

A subprocess, not moto's in-process thread: importing moto into the test process would hook
botocore's handlers there, and the backend must talk to a server, not to a stub.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# Dummy credentials: moto accepts any; the tests check they never reach a message.
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"


@dataclass
class Server:
    """A running moto server; `url` is its endpoint."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server() -> Server | str:
    """A started server, or why none can be started (moto is not installed)."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None:
        return "moto and boto3 are not installed: pip install -e '.[test]'"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("moto_serial.py")), "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    server = Server(process, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"moto server exited with status {process.returncode}"
        try:
            httpx.get(f"{server.url}/moto-api/", timeout=1)
            return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    return "moto server did not start within 60 s"
