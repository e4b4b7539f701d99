"""Fuzzing the gateway's own HTTP API, raw (no SDK): whatever a client sends, a `turnout serve`
with a healthy upstream answers it, within a bound, without a 5xx of its own, and stays up.

Hypothesis draws bodies, paths and headers; schemathesis draws requests from docs/openapi.yaml.
A 5xx would be fine only as a relayed upstream failure, and the upstream here never fails.
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.fakes import Reply, RunningUpstream
from tests.serving import GatewayProcess

MAX_BODY = 1 << 20
ANSWER_WITHIN_S = 10.0
ROOT = Path(__file__).resolve().parents[1]
API_PATHS = ["/v1/chat/completions", "/v1/messages", "/v1/messages/count_tokens"]
CHAT = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Gateway:
    def __init__(self, proc: GatewayProcess, upstream: RunningUpstream) -> None:
        self.proc = proc
        self.upstream = upstream
        self.port = proc.port
        self.url = proc.url


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    with tempfile.TemporaryDirectory() as scratch, RunningUpstream() as upstream:
        upstream.script(Reply(text="fine"))
        config = {
            "ledger": str(Path(scratch) / "ledger.sqlite3"),
            "providers": {"up": {"kind": "openai", "base_url": upstream.url + "/v1"}},
            "routes": {"m": ["up/m"], "claude-*": ["up/*"]},  # a pattern: the name flows on
            "server": {"max_body_bytes": MAX_BODY},
        }
        path = Path(scratch) / "turnout.yaml"
        path.write_text(yaml.safe_dump(config))
        with GatewayProcess(path) as proc:
            yield Gateway(proc, upstream)
            assert proc.healthy(), "the gateway stopped answering /healthz"


def raw(port: int, data: bytes, timeout: float = ANSWER_WITHIN_S) -> tuple[int | None, bytes]:
    """Send bytes as they are; the status (None if the connection closed with no answer) and
    everything read until the server closed or the response was whole."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while time.monotonic() - started < timeout:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if _whole(received):
                break
        else:
            raise AssertionError(f"no whole answer within {timeout} s: {received[:200]!r}")
    if not received.startswith(b"HTTP/1."):
        return None, received
    return int(received.split(b" ", 2)[1]), received


def _whole(received: bytes) -> bool:
    head, sep, body = received.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return body.endswith(b"0\r\n\r\n")


def http(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int | None, bytes]:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    all_headers = {"Content-Type": "application/json", "Connection": "close", **(headers or {})}
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return raw(port, "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)


def assert_not_the_gateways_fault(status: int | None, response: bytes) -> None:
    assert status is not None, f"connection closed without an answer: {response[:200]!r}"
    assert status < 500, response[:600]


# Bodies


@FUZZ
@given(path=st.sampled_from(API_PATHS), body=st.binary(max_size=4096))
def test_any_bytes_as_a_body(gateway: Gateway, path: str, body: bytes) -> None:
    assert_not_the_gateways_fault(*http(gateway.port, "POST", path, body))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["m", "claude-x", "", "nope"]) | JSON,
        "messages": JSON
        | st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(["user", "assistant", "system", "tool", "x"]) | JSON},
                optional={"content": JSON, "tool_calls": JSON, "name": JSON},
            ),
            max_size=3,
        ),
        "stream": JSON,
        "max_tokens": JSON,
        "tools": JSON,
        "system": JSON,
        "stream_options": JSON,
        "tool_choice": JSON,
    },
)


@FUZZ
@given(path=st.sampled_from(API_PATHS), fields=FIELDS)
def test_json_of_the_wrong_shape(gateway: Gateway, path: str, fields: dict[str, Any]) -> None:
    body = json.dumps(fields).encode()
    assert_not_the_gateways_fault(*http(gateway.port, "POST", path, body))


@settings(max_examples=30, deadline=None)
@given(
    path=st.sampled_from(API_PATHS),
    garbage=st.binary(min_size=1, max_size=16).filter(lambda b: not _utf8(b)),
)
def test_invalid_utf8_inside_valid_json_syntax(gateway: Gateway, path: str, garbage: bytes) -> None:
    body = b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"' + garbage + b'"}]}'
    assert_not_the_gateways_fault(*http(gateway.port, "POST", path, body))


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("path", API_PATHS)
def test_a_body_over_max_body_bytes_is_refused(gateway: Gateway, path: str) -> None:
    body = json.dumps({**CHAT, "pad": "x" * (MAX_BODY + 10)}).encode()
    status, response = http(gateway.port, "POST", path, body)
    assert status == 413, response[:300]


def test_a_chunked_body_over_max_body_bytes_is_refused(gateway: Gateway) -> None:
    piece = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(MAX_BODY // 65536 + 2))
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    status, response = raw(gateway.port, head + chunks + b"0\r\n\r\n")
    assert status == 413, response[:300]


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"m","messages":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"model":"m","messages":[{"role":"user","content":'
        + b'{"a":' * 50_000
        + b"1"
        + b"}" * 50_000
        + b"}]}",
        b"[" * 300_000,  # never closed
    ],
    ids=["100k-nested-arrays", "50k-nested-objects", "unclosed"],
)
@pytest.mark.parametrize("path", API_PATHS)
def test_deeply_nested_bodies(gateway: Gateway, path: str, body: bytes) -> None:
    assert_not_the_gateways_fault(*http(gateway.port, "POST", path, body))


# Headers, methods, paths


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/json; charset=latin-1",
        "",
        "ç/ç",
    ],
)
def test_wrong_content_types(gateway: Gateway, content_type: str) -> None:
    body = json.dumps(CHAT).encode()
    for path in API_PATHS:
        assert_not_the_gateways_fault(
            *http(gateway.port, "POST", path, body, {"Content-Type": content_type})
        )


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"])
def test_wrong_methods(gateway: Gateway, method: str) -> None:
    for path in [*API_PATHS, "/v1/models", "/v1/models/m", "/healthz"]:
        if method == "HEAD":  # no body comes back: only the status line matters
            with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
                sock.sendall(
                    f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
                )
                status = int(sock.recv(65536).split(b" ", 2)[1])
            assert status < 500
            continue
        assert_not_the_gateways_fault(*http(gateway.port, method, path, json.dumps(CHAT).encode()))
    assert_not_the_gateways_fault(*http(gateway.port, "POST", "/healthz", b"{}"))
    assert_not_the_gateways_fault(*http(gateway.port, "POST", "/v1/models", b"{}"))


ODD_PATHS = [
    "//v1/chat/completions",
    "/v1/chat/completions/",
    "/v1/chat/completions/../../../etc/passwd",
    "/v1/models/" + "a" * 8000,
    "/v1/models/%ff%fe",
    "/v1/models/%00",
    "/v1/models/..%2f..%2fetc%2fpasswd",
    "/v1/models/claude-%0d%0aX-Injected:%20yes",
    "/anthropic/anthropic/v1/messages",
    "/openai/v1/models?x=%ff&y=\u00e9",
    "/v1/chat/completions?" + "q=1&" * 2000,
    "*",
    "/%",
    "/v1/models/m?stream=true",
]


@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_paths(gateway: Gateway, path: str) -> None:
    for method in ("GET", "POST"):
        status, response = http(gateway.port, method, path, json.dumps(CHAT).encode())
        assert_not_the_gateways_fault(status, response)
        assert b"x-injected" not in response.lower().split(b"\r\n\r\n")[0]


@FUZZ
@given(
    path=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c != "#"),
        max_size=60,
    ).map(lambda s: "/" + s),
    method=st.sampled_from(["GET", "POST"]),
)
def test_generated_paths(gateway: Gateway, path: str, method: str) -> None:
    assert_not_the_gateways_fault(*http(gateway.port, method, path, json.dumps(CHAT).encode()))


INJECTIONS = [
    b"x-request-id: abc\r\nX-Injected: yes",
    b"x-request-id: abc\rX-Injected: yes",
    b"x-request-id: abc\nX-Injected: yes",
    b"anthropic-version: 2023-06-01\r\n\r\nGET /healthz HTTP/1.1",
    b"x-request-id: \x00\x01\x7f",
    b"x-request-id: " + b"\xff" * 64,
    b"x-request-id: " + b"r" * 16000,
    b"x-turnout-task: \r\n X-Injected: folded",
    b"authorization: Bearer abc\r\nX-Injected: yes",
]


@pytest.mark.parametrize("header", INJECTIONS)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models", "/healthz"])
def test_header_injection_is_not_reflected(gateway: Gateway, header: bytes, path: str) -> None:
    body = json.dumps(CHAT).encode()
    method = b"GET" if path != "/v1/chat/completions" else b"POST"
    request = (
        method + b" " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n"
        % len(body)
        + header
        + b"\r\n\r\n"
        + body
    )
    status, response = raw(gateway.port, request)
    assert_not_the_gateways_fault(status, response)
    head = response.split(b"\r\n\r\n")[0].lower()
    assert b"\nx-injected" not in head


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_model_name_with_crlf_is_refused_before_any_upstream_call(
    gateway: Gateway, path: str
) -> None:
    calls = len(gateway.upstream.requests)
    body = json.dumps({**CHAT, "model": "claude-x\r\nX-Injected: yes"}).encode()
    status, response = http(gateway.port, "POST", path, body)
    assert b"\r\nx-injected" not in response.split(b"\r\n\r\n")[0].lower()  # uvicorn holds
    assert status == 400, response[:300]
    assert len(gateway.upstream.requests) == calls


# The OpenAPI description, driven by schemathesis


SCHEMA = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.yaml")


@SCHEMA.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_openapi_operations_never_answer_with_a_server_error(
    case: schemathesis.Case[Any], gateway: Gateway
) -> None:
    case.call_and_validate(base_url=gateway.url, checks=[not_a_server_error], timeout=10)
