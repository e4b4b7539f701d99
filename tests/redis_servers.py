"""Redis for tests: the machine's shared server under a prefix of the test's own, or a private
`redis-server` on a free port that a test may stop and start again.

    from tests.redis_servers import redis_url_fixture  # noqa: F401  (registers `redis_url`)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.waiting import wait_until

SHARED = "redis://127.0.0.1:6379/0"
#: A private server: loopback only, nothing written to disk.
_SERVER = ("redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _drop(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(name="redis_url")
def redis_url_fixture() -> Iterator[str]:
    """The shared Redis with a prefix of this test's own (`?prefix=`), its keys dropped after."""
    if not _reachable(SHARED):
        pytest.skip(f"no Redis at {SHARED} (start redis-server to run the shared-state tests)")
    prefix = f"turnout-test-{uuid.uuid4().hex[:10]}"
    try:
        # A generous timeout: on a busy test machine 100 ms would send some calls to the local
        # fallback, and these tests are about what Redis shares.
        yield f"{SHARED}?prefix={prefix}&timeout_ms=2000"
    finally:
        _drop(SHARED, prefix)


class PrivateRedis:
    """A `redis-server` of this test's own on a free port, with no persistence: `stop()` kills
    it (its data goes with it), `start()` brings it back on the same port."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [*_SERVER, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._proc
        wait_until(
            lambda: _reachable(self.url), what="redis-server", alive=lambda: process.poll() is None
        )

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None


@pytest.fixture(name="private_redis")
def private_redis_fixture() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
