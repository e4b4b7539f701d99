"""A request that comes back to the gateway that sent it is refused, not relayed forever."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.fakes import Reply, RunningUpstream
from tests.gateway import free_port, request, running_gateway
from tests.serving import GatewayProcess
from turnout import hops

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_every_upstream_request_names_this_gateway_in_via() -> None:
    with RunningUpstream() as upstream:
        upstream.script(Reply(text="hello"))
        config = {
            "ledger": "off",
            "providers": {"p": {"kind": "openai", "base_url": upstream.url + "/v1"}},
            "routes": {"m": ["p/gpt-4o"]},
        }
        with running_gateway(yaml.safe_dump(config)) as gateway:
            reply = request(
                gateway.url, "POST", "/v1/chat/completions", CHAT, {"via": "1.1 corp-proxy"}
            )
        assert reply.status == 200
        [seen] = upstream.requests
        assert seen.headers["via"] == f"1.1 corp-proxy, 1.1 {hops.INSTANCE}"


def test_two_gateways_pointing_at_each_other_answer_508_once(tmp_path: Path) -> None:
    """A (here) -> B (another process) -> A: the second arrival at A is refused, so the loop
    costs two hops, not thousands of sockets."""
    port_a, port_b = free_port(), free_port()

    def config(port_other: int) -> str:
        return yaml.safe_dump(
            {
                "ledger": "off",
                "defaults": {"retries": 0},
                "providers": {
                    "next": {"kind": "openai", "base_url": f"http://127.0.0.1:{port_other}/v1"}
                },
                "routes": {"m": ["next/m"]},
            }
        )

    config_b = tmp_path / "b.yaml"
    config_b.write_text(config(port_a))
    with (
        GatewayProcess(config_b, port=port_b) as b,
        running_gateway(config(port_b), port=port_a) as a,
    ):
        reply = request(a.url, "POST", "/v1/chat/completions", CHAT)
    assert reply.status != 200
    assert "leads back to a turnout gateway" in reply.body.decode()
    # B read A's refusal as a request no retry can fix: one attempt, no retry, no gate.
    assert "attempts=next:invalid_request " in b.output()


def test_a_via_without_this_gateway_is_relayed_and_a_long_chain_is_not() -> None:
    assert hops.loop_reason("1.1 corp-proxy, 1.1 turnout-0123456789ab") is None
    assert hops.loop_reason(f"1.1 {hops.INSTANCE}") is not None
    chain = ", ".join(f"1.1 turnout-{n:012x}" for n in range(hops.MAX_TURNOUT_HOPS))
    assert hops.loop_reason(chain) is not None


def test_explain_reads_a_bare_508_as_a_loop() -> None:
    from turnout import diagnose

    result = diagnose(508, "Loop Detected")
    assert (result.category.value, result.code, result.retryable) == (
        "endpoint_not_found",
        "gateway_loop",
        False,
    )
    assert "base_url" in result.explanation
