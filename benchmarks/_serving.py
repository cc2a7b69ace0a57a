"""`facesift serve` on a free port of 127.0.0.1 for the benchmarks that measure over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def served(workspace: Path) -> Iterator[str]:
    """The base URL of a server (uvicorn, one process) over `workspace`, stopped after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "FACESIFT_WORKSPACE": str(workspace)}
    server = subprocess.Popen(
        [sys.executable, "-m", "facesift.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None:
                    raise SystemExit("the server stopped while starting") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)
