"""`turnout serve` as a child process on a free loopback port, as a user starts it.

Tests that need the real command (its banner, signals, reload, replicas, kill -9) and the
chaos run and soak use this one helper: its own interpreter (so a load generator does not
share its GIL), its output in a file (so it never blocks on a full pipe and can be read
afterwards), and `/proc/PID` to read what it holds.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.gateway import free_port
from tests.waiting import READY_WITHIN_S, wait_until

STOP_TIMEOUT_S = 60.0


class GatewayProcess:
    """`turnout serve [--config FILE] [ARGS] --port P` (`module` runs another entry point
    to the same command, such as a test's launcher). `with` waits for /healthz, then stops
    it with SIGTERM (the graceful stop that stores the ledger), killing it only if that hangs.

    Output (stdout and stderr together) goes to `log` if given, else to a private file that
    `output()` reads."""

    def __init__(
        self,
        config_path: Path | None = None,
        *args: str,
        env: dict[str, str] | None = None,
        log: IO[bytes] | None = None,
        port: int | None = None,
        module: str = "turnout",
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Closed in stop() or kill(), once the process no longer writes to it.
        self._own_log = None if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
        self._printed = ""
        command = [sys.executable, "-m", module, "serve"]
        if config_path is not None:
            command += ["--config", str(config_path)]
        self.proc = subprocess.Popen(
            [*command, *args, "--port", str(self.port)],
            stdout=log if log is not None else self._own_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def healthz(self) -> dict[str, Any] | None:
        """/healthz's body when it answers 200, else None."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            body = json.loads(response.read() or b"null")
        except (OSError, ValueError):
            return None
        finally:
            connection.close()
        return body if response.status == 200 and isinstance(body, dict) else None

    def healthy(self) -> bool:
        return self.healthz() is not None

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, seconds: float = READY_WITHIN_S) -> GatewayProcess:
        try:
            wait_until(self.healthy, seconds, "turnout serve answering /healthz", self.running)
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}; its output:\n{self.output()}") from exc
        return self

    def output(self) -> str:
        """What the process printed so far (only without a `log` of the caller's)."""
        if self._own_log is None or self._own_log.closed:
            return self._printed
        self._own_log.seek(0)
        return self._own_log.read().decode("utf-8", errors="replace")

    def rss_kb(self) -> int:
        """Resident memory (VmRSS) in kB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def socket_count(self) -> int:
        """Open descriptors that are sockets (listening, accepted, pooled upstream ones)."""
        fds = Path(f"/proc/{self.pid}/fd")
        count = 0
        for fd in os.listdir(fds):
            try:
                count += os.readlink(fds / fd).startswith("socket:")
            except OSError:
                continue  # closed while we looked
        return count

    def kill(self) -> None:
        """kill -9: no graceful stop, nothing flushed."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()

    def stop(self) -> int:
        """Stop gracefully (SIGTERM), or kill after STOP_TIMEOUT_S; the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self._close_log()
        return self.proc.returncode

    def _close_log(self) -> None:
        """Keep what was printed, and close the private file (the process is gone)."""
        if self._own_log is not None and not self._own_log.closed:
            self._printed = self.output()
            self._own_log.close()

    def __enter__(self) -> GatewayProcess:
        return self.wait_ready()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
