"""The relay end to end with scripted mock providers: real gateway, real sockets, real SDKs."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import openai
import pytest
import yaml

from tests.clients import Clients
from tests.clock import FakeClock
from tests.gateway import request, running_gateway
from turnout.config.default import DEMO_GATE_BODY
from turnout.runtime.configs import demo_config

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.02, "gate_s": 0.3, "cooldown_s": 0.3}
QUOTA = {"status": 400, "body": DEMO_GATE_BODY}


def mock_config(
    primary: list[dict[str, Any]],
    backup: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> str:
    """A route of two scripted mock paths, as YAML."""
    data = {
        "defaults": FAST,
        "providers": {
            "primary": {"kind": "mock", "script": primary},
            "backup": {"kind": "mock", "script": backup or [{"reply": "from backup"}]},
        },
        "routes": {"claude-sonnet-4-6": ["primary/claude-sonnet-4-6", "backup/backup-model"]},
        **extra,
    }
    return yaml.safe_dump(data)


def ask_openai(client: openai.OpenAI) -> tuple[str, dict[str, str]]:
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}]
    )
    completion = raw.parse()
    return completion.choices[0].message.content or "", dict(raw.headers)


def test_demo_fails_over_from_the_usage_gate_and_then_skips_it(clients: Clients) -> None:
    with running_gateway(demo_config()) as gw:
        client = clients.openai(gw.url)
        text, headers = ask_openai(client)
        assert "backup path" in text
        assert headers["x-turnout-attempts"] == "claude-sub:quota -> backup:ok"
        assert headers["x-turnout-path"] == "backup/claude-sonnet-4-6"
        assert float(headers["x-turnout-overhead-ms"]) >= 0
        _, again = ask_openai(client)
        assert again["x-turnout-attempts"] == "claude-sub:skipped(quota) -> backup:ok"


def test_anthropic_sdk_streams_through_the_failover(clients: Clients) -> None:
    with running_gateway(demo_config()) as gw:
        client = clients.anthropic(gw.url)
        with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert text.startswith("Hello from the backup path.")
        assert final.stop_reason == "end_turn"


def test_every_path_failing_gives_one_error_listing_each_path(clients: Clients) -> None:
    invalid_key = {"status": 401, "body": '{"error":{"message":"Invalid API key"}}'}
    config = mock_config([QUOTA], backup=[invalid_key])
    with running_gateway(config) as gw:
        with pytest.raises(openai.APIStatusError) as caught:
            ask_openai(clients.openai(gw.url))
        error = caught.value
        assert error.status_code == 400  # a spent quota is final: no client retries a 400
        assert error.response.headers["x-should-retry"] == "false"
        message = str(error.message)
        assert "primary/claude-sonnet-4-6: quota (subscription_usage_gate)" in message
        assert "backup/backup-model: auth (invalid_api_key)" in message
        body = error.response.json()
        assert body["error"]["turnout"]["attempts"][0]["code"] == "subscription_usage_gate"


def test_anthropic_dialect_errors_have_the_anthropic_shape(clients: Clients) -> None:
    config = mock_config([{"status": 503}], backup=[{"status": 503}])
    with running_gateway(config) as gw:
        with pytest.raises(anthropic.APIStatusError) as caught:
            clients.anthropic(gw.url).messages.create(
                model="claude-sonnet-4-6",
                max_tokens=5,
                messages=[{"role": "user", "content": "hi"}],
            )
        body = caught.value.response.json()
        assert body["type"] == "error"
        assert body["error"]["type"] == "api_error"
        assert caught.value.status_code == 502
        assert "x-should-retry" not in caught.value.response.headers  # waiting may help


def test_transient_failure_is_retried_on_the_same_path(clients: Clients) -> None:
    config = mock_config([{"status": 503}, {"reply": "primary after retry"}])
    with running_gateway(config) as gw:
        text, headers = ask_openai(clients.openai(gw.url))
        assert text == "primary after retry"
        assert headers["x-turnout-attempts"] == "primary:server_error -> primary:ok"


def test_gated_path_is_probed_again_after_its_gate_and_recovers(clients: Clients) -> None:
    config = mock_config([QUOTA, {"reply": "primary is back"}])
    clock = FakeClock()
    with running_gateway(config, clock=clock) as gw:
        client = clients.openai(gw.url)
        assert ask_openai(client)[0] == "from backup"
        clock.advance(0.29)  # gate_s is 0.3 in this config
        assert ask_openai(client)[1]["x-turnout-attempts"] == "primary:skipped(quota) -> backup:ok"
        clock.advance(0.02)
        text, headers = ask_openai(client)
        assert text == "primary is back"
        assert headers["x-turnout-attempts"] == "primary:ok"


def test_a_stream_cut_midway_ends_with_an_error_not_a_quiet_finish(clients: Clients) -> None:
    config = mock_config([{"reply": "one two three four five six", "cut_after": 3}])
    with running_gateway(config) as gw:
        stream = clients.openai(gw.url).chat.completions.create(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        received: list[str] = []

        def read_all() -> None:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)

        with pytest.raises(openai.APIError) as caught:
            read_all()
        assert "incomplete" in str(caught.value.message)
        assert "".join(received) == "one two"  # what came, and nothing claimed complete


def test_invalid_request_is_returned_as_the_provider_said_without_failover(
    clients: Clients,
) -> None:
    refused = '{"error":{"message":"Unrecognized request argument supplied: foo","type":"invalid_request_error"}}'
    config = mock_config([{"status": 400, "body": refused}])
    with running_gateway(config) as gw:
        with pytest.raises(openai.BadRequestError) as caught:
            ask_openai(clients.openai(gw.url))
        assert "Unrecognized request argument" in str(caught.value.message)
        assert caught.value.response.headers["x-turnout-attempts"] == "primary:invalid_request"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "shape"),
    [
        ("/v1/chat/completions", b"{not json", {}, 400, "openai"),
        ("/v1/messages", b"{not json", {}, 400, "anthropic"),
        (
            "/v1/chat/completions",
            b'{"model":"m","messages":[]}',
            {"content-type": "text/plain"},
            415,
            "openai",
        ),
        (
            "/v1/chat/completions",
            b'{"model":"nope","messages":[{"role":"user","content":"x"}]}',
            {},
            404,
            "openai",
        ),
        ("/v1/chat/completions", b'["a list"]', {}, 400, "openai"),
        ("/v1/messages", b'{"messages":[]}', {}, 400, "anthropic"),
        ("/v1/nothing-here", b"{}", {}, 404, "openai"),
        ("/anthropic/v1/nothing", b"{}", {}, 404, "anthropic"),
        ("/v1/chat/completions", b"x" * 2048, {}, 413, "openai"),
    ],
)
def test_bad_input_gets_a_clear_error_in_the_client_dialect(
    path: str, body: bytes, headers: dict[str, str], status: int, shape: str
) -> None:
    config = mock_config([{"reply": "x"}], server={"max_body_bytes": 1024})
    with running_gateway(config) as gw:
        reply = request(gw.url, "POST", path, body, headers)
        assert reply.status == status
        data = reply.json()
        assert isinstance(data, dict)
        if shape == "anthropic":
            assert data["type"] == "error"
            assert data["error"]["message"]
        else:
            assert data["error"]["message"]
        assert request(gw.url, "GET", "/healthz").status == 200  # still serving


def test_hermes_style_anthropic_prefix_and_query_string(clients: Clients) -> None:
    with running_gateway(demo_config()) as gw:
        client = clients.anthropic(gw.url + "/anthropic")
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-6",
            max_tokens=20,
            messages=[{"role": "user", "content": "hi"}],
            extra_query={"beta": "true"},
        )
        assert raw.headers["x-turnout-path"] == "backup/claude-sonnet-4-6"
        assert raw.parse().content[0].type == "text"


def test_gateway_keys_are_required_once_configured(clients: Clients) -> None:
    config = mock_config([{"reply": "keyed"}], server={"keys": ["${GW_KEY}"]})
    with running_gateway(config, env={"GW_KEY": "sk-turnout-test"}) as gw:
        with pytest.raises(openai.AuthenticationError):
            ask_openai(clients.openai(gw.url, key="wrong"))
        assert ask_openai(clients.openai(gw.url, key="sk-turnout-test"))[0] == "keyed"
        reply = clients.anthropic(gw.url, key="sk-turnout-test").messages.create(
            model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.content[0].type == "text"


def test_models_list_and_one_model(clients: Clients) -> None:
    config = mock_config([{"reply": "x"}])
    with running_gateway(config) as gw:
        models = clients.openai(gw.url).models.list()
        assert [m.id for m in models.data] == ["claude-sonnet-4-6"]
        one = request(gw.url, "GET", "/v1/models/claude-sonnet-4-6").json()
        assert isinstance(one, dict)
        assert one["paths"] == ["primary/claude-sonnet-4-6", "backup/backup-model"]
        assert request(gw.url, "GET", "/v1/models/unknown").status == 404
        listed = clients.anthropic(gw.url).models.list()
        assert [m.id for m in listed.data] == ["claude-sonnet-4-6"]


def test_count_tokens_answers_even_without_an_anthropic_path(clients: Clients) -> None:
    with running_gateway(demo_config()) as gw:
        count = clients.anthropic(gw.url).messages.count_tokens(
            model="claude-sonnet-4-6", messages=[{"role": "user", "content": "hello there"}]
        )
        assert count.input_tokens > 0


def test_context_length_fails_over_only_to_a_larger_window(clients: Clients) -> None:
    too_long = {
        "status": 400,
        "body": '{"error":{"message":"This model\'s maximum context length is 16385 tokens.","code":"context_length_exceeded"}}',
    }
    config = yaml.safe_dump(
        {
            "providers": {
                "small": {"kind": "mock", "script": [too_long]},
                "same": {"kind": "mock", "script": [{"reply": "never asked"}]},
                "big": {"kind": "mock", "script": [{"reply": "fits here"}]},
            },
            "routes": {"m": ["small/gpt-3.5-turbo", "same/gpt-3.5-turbo-0125", "big/gpt-4o"]},
        }
    )
    with running_gateway(config) as gw:
        raw = clients.openai(gw.url).chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "long"}]
        )
        assert raw.parse().choices[0].message.content == "fits here"
        assert raw.headers["x-turnout-attempts"] == "small:context_length -> same:skipped -> big:ok"
        entry = request(gw.url, "GET", "/v1/models/m").json()
        assert isinstance(entry, dict)
        assert entry["context_window"] == 16385  # the smallest window along the route


def test_the_gateway_reports_the_paths_it_keeps_out_of_service(clients: Clients) -> None:
    with running_gateway(mock_config([QUOTA])) as gw:
        empty = request(gw.url, "GET", "/turnout/paths").json()
        assert isinstance(empty, dict)
        assert empty["paths"] == []
        assert empty["state_backend"]["backend"] == "memory"
        ask_openai(clients.openai(gw.url))
        paths = request(gw.url, "GET", "/turnout/paths").json()
        assert isinstance(paths, dict)
        [entry] = paths["paths"]
        assert (entry["path"], entry["scope"]) == ("primary", "credential")
        assert (entry["state"], entry["category"], entry["code"]) == (
            "gated",
            "quota",
            "subscription_usage_gate",
        )
        assert 0 < entry["seconds_left"] <= 0.3


def test_head_healthz_answers_like_get_without_a_body() -> None:
    with running_gateway(demo_config()) as gw:
        head = request(gw.url, "HEAD", "/healthz")
        get = request(gw.url, "GET", "/healthz")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-type"] == get.headers["content-type"]


def test_a_request_for_an_endpoint_turnout_does_not_serve_is_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="turnout.server")
    with running_gateway(demo_config()) as gw:
        reply = request(gw.url, "POST", "/v1/completions", {}, {"user-agent": "legacy-sdk/1.0"})
        wrong_method = request(gw.url, "DELETE", "/v1/messages")
    assert (reply.status, wrong_method.status) == (404, 405)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any(
        "POST '/v1/completions': not an endpoint turnout serves (404)" in line
        and "'legacy-sdk/1.0'" in line
        for line in lines
    ), lines
    assert any(
        "DELETE '/v1/messages': not an endpoint turnout serves (405)" in line for line in lines
    )
