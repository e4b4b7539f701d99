"""Loading configs: the documented shape works, mistakes are refused with a fix."""

from __future__ import annotations

import re

import pytest

from turnout.config import ConfigError
from turnout.config.default import find_config
from turnout.routing.resolve import resolve_route, target_model
from turnout.runtime.configs import demo_config, embedded_default, load_config_text

EXAMPLE = """
providers:
  claude-sub:
    kind: anthropic
    base_url: https://api.anthropic.com
    api_key: ${ANTHROPIC_API_KEY}
  relay:
    kind: openai
    base_url: https://relay.example/v1
    api_key: ${RELAY_KEY}
    retries: 0
routes:
  claude-sonnet-4-6:
    - claude-sub/claude-sonnet-4-6
    - relay/claude-sonnet-4-6
  cheap:
    targets: [relay/deepseek-chat]
    cooldown_s: 5
  "claude-*": [claude-sub/*]
aliases:
  claude-haiku-4-5: cheap
tasks:
  title: cheap
defaults:
  gate_s: 60
"""
ENV = {"ANTHROPIC_API_KEY": "sk-ant-test", "RELAY_KEY": "sk-relay-test"}


def test_the_documented_shape_loads() -> None:
    config = load_config_text(EXAMPLE, env=ENV)
    route = config.routes["claude-sonnet-4-6"]
    assert [t.path for t in route.targets] == [
        "claude-sub/claude-sonnet-4-6",
        "relay/claude-sonnet-4-6",
    ]
    assert config.providers["claude-sub"].api_key is not None
    assert config.providers["claude-sub"].api_key.value == "sk-ant-test"
    assert "sk-ant-test" not in repr(config)


def test_settings_merge_defaults_then_provider_then_route() -> None:
    config = load_config_text(EXAMPLE, env=ENV)
    cheap, relay = config.routes["cheap"], config.providers["relay"]
    settings = config.settings_for(cheap, relay)
    assert (settings.gate_s, settings.retries, settings.cooldown_s) == (60.0, 0, 5.0)
    other = config.settings_for(config.routes["claude-sonnet-4-6"], config.providers["claude-sub"])
    assert (other.retries, other.cooldown_s) == (2, 15.0)


def test_routes_resolve_by_task_name_alias_and_pattern() -> None:
    config = load_config_text(EXAMPLE, env=ENV)
    assert resolve_route(config, "claude-sonnet-4-6") is config.routes["claude-sonnet-4-6"]
    assert resolve_route(config, "claude-haiku-4-5") is config.routes["cheap"]
    assert resolve_route(config, "claude-sonnet-4-6", task="title") is config.routes["cheap"]
    pattern = resolve_route(config, "claude-opus-4-1")
    assert pattern is config.routes["claude-*"]
    assert target_model(pattern.targets[0], "claude-opus-4-1") == "claude-opus-4-1"
    assert resolve_route(config, "gpt-4o") is None


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            "providers: {a: {kind: openai, base_url: 'https://x/v1', api_key: sk-live}}\nroutes: {m: [a/m]}",
            "api_key is written in clear",
            "environment variable",
        ),
        (
            "providers: {a: {kind: openai, base_url: 'https://x/v1/chat/completions'}}\nroutes: {m: [a/m]}",
            "ends in /chat/completions",
            "https://x/v1",
        ),
        (
            "providers: {a: {kind: openai, base_url: 'https://x/v1', api_key: '${NOPE_KEY}'}}\nroutes: {m: [a/m]}",
            "NOPE_KEY is not set",
            "export NOPE_KEY",
        ),
        (
            "providers: {a: {kind: opneai, base_url: 'https://x/v1'}}\nroutes: {m: [a/m]}",
            "kind is 'opneai'",
            "anthropic, azure, bedrock, gemini, mock, openai, vertex",
        ),
        (
            "providers: {a: {kind: openai, base_url: 'https://x/v1', retires: 2}}\nroutes: {m: [a/m]}",
            "unknown key 'retires'",
            "did you mean 'retries'",
        ),
        (
            "providers: {a: {kind: openai, base_url: 'https://x/v1'}}\nroutes: {m: [b/m]}",
            "no provider named 'b'",
            "configured providers: a",
        ),
        (
            "providers: {a: {kind: openai, base_url: 'https://x/v1'}}\nroutes: {m: [a/m]}\naliases: {x: nope}",
            "no route named 'nope'",
            None,
        ),
        ("providers: {}\nroutes: {}", "no routes", "provider/model"),
        ("providers: [1, 2", "not valid YAML", None),
    ],
)
def test_mistakes_are_refused_with_a_fix(text: str, message: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "my.yaml", env={})
    assert message in str(caught.value)
    assert re.match(r"my\.yaml:\d+: ", str(caught.value))
    if hint is not None:
        assert caught.value.hint is not None
        assert hint in caught.value.hint


def test_embedded_default_routes_what_the_environment_offers() -> None:
    config = embedded_default(
        {"ANTHROPIC_API_KEY": "k1", "DEEPSEEK_API_KEY": "k2"}, probe_local=False
    )
    assert [t.path for t in config.routes["claude-*"].targets] == ["anthropic/*", "deepseek/*"]
    assert [t.path for t in config.routes["deepseek-*"].targets] == ["deepseek/*", "anthropic/*"]
    assert embedded_default({}, probe_local=False).routes == {}


def test_demo_has_a_gated_path_then_a_healthy_one() -> None:
    route = demo_config().routes["*"]
    assert [t.provider for t in route.targets] == ["claude-sub", "backup"]


def test_config_is_found_by_flag_then_environment(tmp_path: pytest.TempPathFactory) -> None:
    assert str(find_config("a.yaml", {"TURNOUT_CONFIG": "b.yaml"})) == "a.yaml"
    assert str(find_config(None, {"TURNOUT_CONFIG": "b.yaml"})) == "b.yaml"


def test_every_mistake_is_reported_at_once_with_its_line() -> None:
    text = """providers:
  relay:
    kind: openai
    base_url: https://api.openai.com
    api_key: ${MISSING_KEY}
  relay:
    kind: anthropic
    base_url: https://api.anthropic.com
routes:
  m:
    - relay/gpt-4o
    - nowhere/gpt-4o
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "team.yaml", env={})
    lines = str(caught.value).splitlines()
    assert "team.yaml:6: providers: duplicate name 'relay'" in lines
    assert any(
        line.startswith("team.yaml:12: routes.m[1]: no provider named 'nowhere'") for line in lines
    )


def test_a_provider_with_two_mistakes_is_told_both() -> None:
    text = """providers:
  relay:
    kind: openai
    base_url: https://api.openai.com
    api_key: ${MISSING_KEY}
    retires: 1
routes:
  m: [relay/gpt-4o]
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "team.yaml", env={})
    assert str(caught.value).splitlines() == [
        "team.yaml:6: providers.relay: unknown key 'retires'",
        "team.yaml:4: providers.relay.base_url 'https://api.openai.com' has no API version path",
        "team.yaml:5: providers.relay.api_key: environment variable MISSING_KEY is not set",
    ]


BACKUP_WITHOUT_KEY = """providers:
  main:
    kind: openai
    base_url: https://relay.example/v1
    api_key: ${MAIN_KEY}
  spare:
    kind: anthropic
    base_url: https://api.anthropic.com
    api_key: ${SPARE_KEY}
routes:
  m: [main/gpt-4o, spare/claude-sonnet-4-6]
  other: [main/gpt-4o]
"""


def test_an_unset_key_on_a_backup_path_leaves_the_route_serving_without_it() -> None:
    config = load_config_text(BACKUP_WITHOUT_KEY, "team.yaml", env={"MAIN_KEY": "sk-main"})
    assert [t.path for t in config.routes["m"].targets] == ["main/gpt-4o"]
    assert list(config.providers) == ["main"]
    assert config.unavailable == {
        "spare": (
            "team.yaml:9: providers.spare.api_key: environment variable SPARE_KEY is not set",
        )
    }


def test_an_unset_key_on_every_path_of_a_route_is_still_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BACKUP_WITHOUT_KEY, "team.yaml", env={"SPARE_KEY": "sk-spare"})
    assert str(caught.value) == (
        "team.yaml:5: providers.main.api_key: environment variable MAIN_KEY is not set"
    )
