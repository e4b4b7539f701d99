"""`turnout serve` as a child process on a free loopback port, with its memory and descriptors.

The chaos run, the soak and the secrets test drive a real server process: its own interpreter
(so the load generator does not share its GIL), its own stderr (so its logs can be read), and
`/proc/PID` to read what it holds.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.gateway import free_port

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class GatewayProcess:
    """A `turnout serve --config FILE` child; `with` waits for /healthz, then stops it with
    SIGTERM (the graceful stop that stores the ledger), killing it only if that hangs."""

    def __init__(
        self,
        config_path: Path,
        env: dict[str, str] | None = None,
        stderr: IO[bytes] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "turnout", "serve", "--config", str(config_path)]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=stderr if stderr is not None else subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def rss_kb(self) -> int:
        """Resident memory (VmRSS) in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def __enter__(self) -> GatewayProcess:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnout serve exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("turnout serve did not answer /healthz in time")
            time.sleep(0.05)
        return self

    def stop(self) -> int:
        """Stop gracefully (SIGTERM), or kill after STOP_TIMEOUT_S; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        return self.proc.returncode

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
