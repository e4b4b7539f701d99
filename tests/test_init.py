"""`turnout init` as a user runs it (a real process, a controlled environment), and its template.

Every run gets HOME and XDG_CONFIG_HOME inside tmp_path and `--no-probe`, so no test reads the
real user config directory or depends on an Ollama or LM Studio running on this machine. The
interactive mode is driven by `--interactive` (a hidden flag) with answers piped on stdin.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from turnout.cli.init import probe_local
from turnout.config import GatewayConfig
from turnout.config.template import ProviderPath, config_data, render_config, scalar
from turnout.routing.resolve import resolve_route
from turnout.runtime.configs import load_config, load_config_text

SECRETS = {
    "api": "sk-ant-api03-SECRET-api-key",
    "oat": "sk-ant-oat01-SECRET-oauth-token",
    "openrouter": "sk-or-v1-SECRET-openrouter",
    "deepseek": "sk-SECRET-deepseek",
    "relay": "sk-SECRET-relay",
}


def run_init(
    tmp_path: Path, keys: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "TURNOUT_CONFIG": "",
        **keys,
    }
    return subprocess.run(
        [sys.executable, "-m", "turnout", "init", "--no-probe", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def written(path: Path, keys: dict[str, str]) -> GatewayConfig:
    """Load the file as `turnout serve` would, after checking that no key value is in it."""
    text = path.read_text(encoding="utf-8")
    for secret in SECRETS.values():
        assert secret not in text
    return load_config(path, env=keys)


def paths_of(config: GatewayConfig, route: str) -> list[str]:
    return [target.path for target in config.routes[route].targets]


def assert_client_settings(out: str, path: Path) -> None:
    assert "http://127.0.0.1:8787/anthropic" in out
    assert 'base_url="http://127.0.0.1:8787/v1"' in out
    assert 'base_url="http://127.0.0.1:8787"' in out
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:8787\n" in out
    assert f"turnout serve --config {path}" in out


def test_an_anthropic_key_alone(tmp_path: Path) -> None:
    keys = {"ANTHROPIC_API_KEY": SECRETS["api"]}
    out_file = tmp_path / "turnout.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    config = written(out_file, keys)
    assert list(config.providers) == ["anthropic"]
    assert config.providers["anthropic"].api_key is not None
    assert config.providers["anthropic"].api_key.value == SECRETS["api"]
    assert paths_of(config, "claude-sonnet-4-6") == ["anthropic/claude-sonnet-4-6"]
    assert paths_of(config, "cheap") == ["anthropic/claude-haiku-4-5"]
    assert paths_of(config, "*") == ["anthropic/*"]
    assert "deepseek-*" not in config.routes  # no path can serve it
    assert config.tasks == {"title": "cheap", "compress": "cheap"}
    assert config.aliases["claude-haiku-4-5"] == "cheap"
    # A GPT name is the client's own choice: never quietly served by a Claude model.
    assert "gpt-4o-mini" not in config.aliases
    assert "gpt-*" not in config.routes
    assert_client_settings(result.stdout, out_file)


def test_gpt_chore_names_are_aliased_when_a_gpt_serves_the_cheap_route(tmp_path: Path) -> None:
    keys = {"OPENAI_API_KEY": SECRETS["relay"]}
    out_file = tmp_path / "c.yaml"
    assert run_init(tmp_path, keys, "--yes", "--output", str(out_file)).returncode == 0
    config = written(out_file, keys)
    assert paths_of(config, "cheap") == ["openai/gpt-4.1-mini"]
    assert config.aliases["gpt-4o-mini"] == "cheap"


def test_a_relay_alone_gets_no_word_about_deepseek(tmp_path: Path) -> None:
    keys = {"OPENAI_API_KEY": SECRETS["relay"], "OPENAI_BASE_URL": "https://relay.example/v1"}
    out_file = tmp_path / "c.yaml"
    assert run_init(tmp_path, keys, "--yes", "--output", str(out_file)).returncode == 0
    assert "deepseek" not in out_file.read_text(encoding="utf-8").lower()
    assert "deepseek-*" not in written(out_file, keys).routes


def test_anthropic_base_url_is_honoured(tmp_path: Path) -> None:
    keys = {
        "ANTHROPIC_API_KEY": SECRETS["api"],
        "ANTHROPIC_BASE_URL": "https://claude-relay.example/",
    }
    out_file = tmp_path / "c.yaml"
    assert run_init(tmp_path, keys, "--yes", "--output", str(out_file)).returncode == 0
    assert written(out_file, keys).providers["anthropic"].base_url == (
        "https://claude-relay.example"
    )


def test_anthropic_base_url_at_turnout_itself_is_left_out(tmp_path: Path) -> None:
    """Claude Code pointed at the gateway has ANTHROPIC_BASE_URL=turnout: routing there loops."""
    keys = {"ANTHROPIC_API_KEY": SECRETS["api"], "ANTHROPIC_BASE_URL": "http://127.0.0.1:8787"}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "left out ANTHROPIC_BASE_URL=http://127.0.0.1:8787: that is turnout itself" in (
        result.stdout
    )
    assert written(out_file, keys).providers["anthropic"].base_url == "https://api.anthropic.com"


def test_subscription_token_openrouter_and_deepseek(tmp_path: Path) -> None:
    keys = {
        "ANTHROPIC_API_KEY": SECRETS["oat"],
        "OPENROUTER_API_KEY": SECRETS["openrouter"],
        "DEEPSEEK_API_KEY": SECRETS["deepseek"],
    }
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    config = written(out_file, keys)
    assert list(config.providers) == ["claude-sub", "openrouter", "deepseek"]
    assert paths_of(config, "claude-sonnet-4-6") == [
        "claude-sub/claude-sonnet-4-6",
        "openrouter/anthropic/claude-sonnet-4.5",
        "deepseek/deepseek-chat",
    ]
    sonnet_via_openrouter = config.routes["claude-sonnet-4-6"].targets[1]
    assert (sonnet_via_openrouter.provider, sonnet_via_openrouter.model) == (
        "openrouter",
        "anthropic/claude-sonnet-4.5",
    )
    assert paths_of(config, "deepseek-*")[0] == "deepseek/*"
    cheap = resolve_route(config, "claude-haiku-4-5")
    assert cheap is not None
    assert cheap.name == "cheap"
    assert cheap.targets[0].path == "deepseek/deepseek-chat"
    titled = resolve_route(config, "claude-sonnet-4-6", task="title")
    assert titled is not None
    assert titled.name == "cheap"
    assert_client_settings(result.stdout, out_file)


def test_an_oauth_token_variable_comes_before_an_api_key(tmp_path: Path) -> None:
    keys = {"CLAUDE_CODE_OAUTH_TOKEN": SECRETS["oat"], "ANTHROPIC_API_KEY": SECRETS["api"]}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    config = written(out_file, keys)
    assert paths_of(config, "claude-*") == ["claude-sub/*", "anthropic/*"]
    assert "${CLAUDE_CODE_OAUTH_TOKEN}" in out_file.read_text(encoding="utf-8")


def test_a_relay_from_openai_base_url(tmp_path: Path) -> None:
    keys = {"OPENAI_API_KEY": SECRETS["relay"], "OPENAI_BASE_URL": "https://relay.example/v1/"}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    config = written(out_file, keys)
    assert config.providers["relay"].base_url == "https://relay.example/v1"
    assert paths_of(config, "gpt-*") == ["relay/*"]
    assert paths_of(config, "claude-sonnet-4-6") == ["relay/claude-sonnet-4-6"]


def test_a_base_url_pointing_at_turnout_itself_is_left_out(tmp_path: Path) -> None:
    keys = {
        "OPENAI_API_KEY": SECRETS["relay"],
        "OPENAI_BASE_URL": "http://127.0.0.1:8787/v1",
        "DEEPSEEK_API_KEY": SECRETS["deepseek"],
    }
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "that is turnout itself" in result.stdout
    assert list(written(out_file, keys).providers) == ["deepseek"]


def test_nothing_detected_writes_nothing_and_offers_the_demo(tmp_path: Path) -> None:
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, {}, "--yes", "--output", str(out_file))
    assert result.returncode == 1
    assert not out_file.exists()
    assert "ANTHROPIC_API_KEY" in result.stderr
    assert "127.0.0.1:11434" in result.stderr
    assert "turnout serve --demo" in result.stderr


def test_an_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    keys = {"DEEPSEEK_API_KEY": SECRETS["deepseek"]}
    out_file = tmp_path / "c.yaml"
    out_file.write_text("keep me\n", encoding="utf-8")
    refused = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert refused.returncode == 2
    assert "already exists" in refused.stderr
    assert "--force" in refused.stderr
    assert out_file.read_text(encoding="utf-8") == "keep me\n"
    forced = run_init(tmp_path, keys, "--yes", "--force", "--output", str(out_file))
    assert forced.returncode == 0, forced.stderr
    assert list(written(out_file, keys).providers) == ["deepseek"]


def test_without_output_it_writes_the_user_config_path(tmp_path: Path) -> None:
    keys = {"OPENROUTER_API_KEY": SECRETS["openrouter"]}
    result = run_init(tmp_path, keys, "--yes")
    assert result.returncode == 0, result.stderr
    expected = tmp_path / "xdg" / "turnout" / "config.yaml"
    assert list(written(expected, keys).providers) == ["openrouter"]
    assert_client_settings(result.stdout, expected)


def test_piped_stdin_without_yes_detects_instead_of_asking(tmp_path: Path) -> None:
    keys = {"DEEPSEEK_API_KEY": SECRETS["deepseek"]}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--output", str(out_file), stdin="n\n")
    assert result.returncode == 0, result.stderr
    assert "[Y/n]" not in result.stdout
    assert list(written(out_file, keys).providers) == ["deepseek"]


#: Answers in question order: Anthropic key, subscription (+ variable, a pasted key first),
#: OpenAI/relay (+ variable, base URL), OpenRouter (detected: default yes, + variable),
#: DeepSeek, Ollama (+ model), LM Studio (default no).
INTERACTIVE_ANSWERS = [
    "n",
    "y",
    SECRETS["oat"],
    "MY_CLAUDE_TOKEN",
    "yes",
    "",
    "https://relay.example/v1/chat/completions",
    "",
    "",
    "n",
    "y",
    "qwen3:8b",
    "",
]


def test_interactive_answers_choose_paths_and_variable_names(tmp_path: Path) -> None:
    keys = {"OPENROUTER_API_KEY": SECRETS["openrouter"]}
    out_file = tmp_path / "c.yaml"
    stdin = "\n".join(INTERACTIVE_ANSWERS) + "\n"
    result = run_init(tmp_path, keys, "--interactive", "--output", str(out_file), stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert "never the key itself" in result.stdout  # the pasted key was refused
    assert "export MY_CLAUDE_TOKEN, OPENAI_API_KEY" in result.stdout
    env = {**keys, "MY_CLAUDE_TOKEN": SECRETS["oat"], "OPENAI_API_KEY": SECRETS["relay"]}
    config = written(out_file, env)
    assert list(config.providers) == ["claude-sub", "relay", "openrouter", "ollama"]
    assert config.providers["relay"].base_url == "https://relay.example/v1"
    assert config.providers["ollama"].api_key is None
    assert paths_of(config, "claude-sonnet-4-6") == [
        "claude-sub/claude-sonnet-4-6",
        "relay/claude-sonnet-4-6",
        "openrouter/anthropic/claude-sonnet-4.5",
        "ollama/qwen3:8b",
    ]
    assert_client_settings(result.stdout, out_file)


def test_interactive_end_of_input_takes_the_detected_defaults(tmp_path: Path) -> None:
    keys = {"DEEPSEEK_API_KEY": SECRETS["deepseek"]}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--interactive", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "Do you have a DeepSeek key? [Y/n]" in result.stdout
    assert list(written(out_file, keys).providers) == ["deepseek"]


def test_interactive_declining_everything_writes_nothing(tmp_path: Path) -> None:
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, {}, "--interactive", "--output", str(out_file), stdin="n\n" * 7)
    assert result.returncode == 1
    assert "no provider path chosen" in result.stderr
    assert not out_file.exists()


# The template on its own.

ALL_PATHS = [
    ProviderPath("lmstudio", "http://127.0.0.1:1234/v1", model="local-model"),
    ProviderPath("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    ProviderPath("claude-sub", "https://api.anthropic.com", "CLAUDE_CODE_OAUTH_TOKEN"),
    ProviderPath("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    ProviderPath("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    ProviderPath("relay", "https://relay.example/v1", "RELAY_KEY"),
    ProviderPath("ollama", "http://127.0.0.1:11434/v1", model="llama3.2"),
]
ALL_KEYS = {p.key_var: "x" for p in ALL_PATHS if p.key_var}


def test_the_rendered_text_is_the_data_with_comments() -> None:
    text = render_config(ALL_PATHS, config_path="/tmp/c.yaml")
    assert yaml.safe_load(text) == config_data(ALL_PATHS)
    assert "turnout serve --config /tmp/c.yaml" in text
    assert text.count("\n  # ") >= len(ALL_PATHS) + 6  # a comment per provider and route


def test_every_path_together_loads_in_preference_order() -> None:
    config = load_config_text(render_config(ALL_PATHS), "<template>", ALL_KEYS)
    assert list(config.providers) == [
        "claude-sub",
        "anthropic",
        "relay",
        "openrouter",
        "deepseek",
        "ollama",
        "lmstudio",
    ]
    assert paths_of(config, "claude-sonnet-4-6") == [
        "claude-sub/claude-sonnet-4-6",
        "anthropic/claude-sonnet-4-6",
        "relay/claude-sonnet-4-6",
        "openrouter/anthropic/claude-sonnet-4.5",
        "deepseek/deepseek-chat",
        "ollama/llama3.2",
        "lmstudio/local-model",
    ]
    assert paths_of(config, "gpt-*")[:2] == ["relay/*", "openrouter/openai/gpt-4.1"]
    assert list(config.routes)[-1] == "*"  # the catch-all is the last pattern tried
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8787)


def test_server_address_is_written() -> None:
    paths = [ProviderPath("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY")]
    text = render_config(paths, host="0.0.0.0", port=9000)
    server = yaml.safe_load(text)["server"]
    assert server == {"host": "0.0.0.0", "port": 9000}


@pytest.mark.parametrize(
    "paths",
    [
        [],
        [ProviderPath("nope", "https://x.example")],
        [ProviderPath("deepseek", "https://a"), ProviderPath("deepseek", "https://b")],
    ],
)
def test_the_template_refuses_paths_it_cannot_write(paths: list[ProviderPath]) -> None:
    with pytest.raises(ValueError, match="provider"):
        config_data(paths)


@pytest.mark.parametrize(
    "value", ["*", "claude-*", "yes", "No", "null", "127.0.0.1", "8787", "a: b", "x:", "#c", ""]
)
def test_scalars_read_back_as_written(value: str) -> None:
    assert yaml.safe_load(f"k: {scalar(value)}") == {"k": value}


# Local-server detection, against a fake server on a free port.


class ModelsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": [{"id": "qwen3:8b"}, {"id": "llama3.2"}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def models_server() -> Iterator[int]:
    with ThreadingHTTPServer(("127.0.0.1", 0), ModelsHandler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.server_address[1]
        server.shutdown()
        thread.join()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probe_finds_a_server_that_answers_and_its_models(models_server: int) -> None:
    found = probe_local([("ollama", models_server), ("lmstudio", closed_port())])
    assert found == {"ollama": ["qwen3:8b", "llama3.2"]}


def test_the_commented_gateway_keys_line_loads_once_uncommented() -> None:
    text = render_config(
        [ProviderPath("deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY")]
    )
    opened = text.replace("  # keys: ", "  keys: ")
    assert opened != text
    config = load_config_text(
        opened, "c.yaml", {"DEEPSEEK_API_KEY": "k", "TURNOUT_GATEWAY_KEY": "g"}
    )
    assert [key.value for key in config.server.keys] == ["g"]


# Cloud paths, detected from the environment and files under the private HOME only.

AWS = {"AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE0001", "AWS_SECRET_ACCESS_KEY": "SECRET-aws-key"}
NO_METADATA = {"AWS_EC2_METADATA_DISABLED": "true"}


@pytest.mark.parametrize(
    ("region", "profile"),
    [("us-east-1", "us"), ("eu-central-1", "eu"), ("ap-southeast-2", "global")],
)
def test_aws_keys_and_a_region_give_a_bedrock_path(
    tmp_path: Path, region: str, profile: str
) -> None:
    keys = {**AWS, **NO_METADATA, "AWS_REGION": region}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    text = out_file.read_text(encoding="utf-8")
    assert "SECRET-aws-key" not in text
    config = load_config(out_file, env=keys)
    provider = config.providers["bedrock"]
    assert (provider.kind, provider.options["region"]) == ("bedrock", region)
    assert provider.base_url == f"https://bedrock-runtime.{region}.amazonaws.com"
    sonnet = f"bedrock/{profile}.anthropic.claude-sonnet-4-6"
    assert paths_of(config, "claude-sonnet-4-6") == [sonnet]
    assert paths_of(config, "cheap") == [
        f"bedrock/{profile}.anthropic.claude-haiku-4-5-20251001-v1:0"
    ]
    assert paths_of(config, "claude-*") == [sonnet]
    assert "turnout[aws]" in text  # the comment names the extra


def test_a_shared_credentials_file_and_default_region_give_a_bedrock_path(tmp_path: Path) -> None:
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text("[default]\naws_access_key_id = AKIAFAKE\n")
    keys = {**NO_METADATA, "AWS_DEFAULT_REGION": "us-west-2"}
    out_file = tmp_path / "c.yaml"
    assert run_init(tmp_path, keys, "--yes", "--output", str(out_file)).returncode == 0
    assert load_config(out_file, env=keys).providers["bedrock"].options["region"] == "us-west-2"


def test_aws_credentials_without_a_region_are_left_out_and_said(tmp_path: Path) -> None:
    keys = {**AWS, **NO_METADATA, "DEEPSEEK_API_KEY": SECRETS["deepseek"]}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "left out Amazon Bedrock: AWS credentials are there but no region" in result.stdout
    assert list(written(out_file, keys).providers) == ["deepseek"]


def adc_file(tmp_path: Path) -> Path:
    gcloud = tmp_path / "home" / ".config" / "gcloud"
    gcloud.mkdir(parents=True)
    path = gcloud / "application_default_credentials.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "x", "refresh_token": "y"}))
    return path


def test_application_default_credentials_and_a_project_give_a_vertex_path(tmp_path: Path) -> None:
    adc_file(tmp_path)
    keys = {"ANTHROPIC_VERTEX_PROJECT_ID": "my-project-42", "CLOUD_ML_REGION": "us-east5"}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    config = load_config(out_file, env=keys)
    options = config.providers["vertex"].options
    assert (options["project"], options["region"]) == ("my-project-42", "us-east5")
    assert paths_of(config, "claude-sonnet-4-6") == ["vertex/claude-sonnet-4-6"]
    assert paths_of(config, "cheap") == ["vertex/claude-haiku-4-5@20251001"]
    assert paths_of(config, "gemini-*") == ["vertex/*"]


def test_google_credentials_without_a_project_are_left_out_and_said(tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text("{}")
    keys = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "GEMINI_API_KEY": "AIza-SECRET"}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "left out Google Vertex AI: credentials are there but no project" in result.stdout
    assert list(written(out_file, keys).providers) == ["gemini"]


def test_an_azure_endpoint_and_key_give_a_path_whose_deployments_must_be_filled_in(
    tmp_path: Path,
) -> None:
    keys = {
        "AZURE_OPENAI_ENDPOINT": "https://contoso.openai.azure.com/",
        "AZURE_OPENAI_API_KEY": "SECRET-azure-key",
    }
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "fill in providers.azure.deployments" in result.stdout
    text = out_file.read_text(encoding="utf-8")
    assert "SECRET-azure-key" not in text
    assert "FILL IN deployments" in text
    config = load_config(out_file, env=keys)
    provider = config.providers["azure"]
    assert provider.base_url == "https://contoso.openai.azure.com"
    assert provider.options["deployments"] == {
        "gpt-4.1": "FILL-IN-gpt-4.1-deployment",
        "gpt-4.1-mini": "FILL-IN-gpt-4.1-mini-deployment",
    }
    assert paths_of(config, "gpt-*") == ["azure/*"]
    assert paths_of(config, "cheap") == ["azure/gpt-4.1-mini"]


@pytest.mark.parametrize("key_var", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_a_gemini_key_gives_a_gemini_path(tmp_path: Path, key_var: str) -> None:
    keys = {key_var: "AIza-SECRET-gemini"}
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "${" + key_var + "}" in out_file.read_text(encoding="utf-8")
    config = load_config(out_file, env=keys)
    assert config.providers["gemini"].base_url == "https://generativelanguage.googleapis.com"
    assert paths_of(config, "gemini-*") == ["gemini/*"]
    assert paths_of(config, "cheap") == ["gemini/gemini-2.5-flash-lite"]


def test_gemini_cli_pointed_at_turnout_is_left_out(tmp_path: Path) -> None:
    keys = {
        "GEMINI_API_KEY": "gateway-key",
        "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:8787",
        "DEEPSEEK_API_KEY": SECRETS["deepseek"],
    }
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert "left out GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8787" in result.stdout
    assert list(written(out_file, keys).providers) == ["deepseek"]


def test_a_cloud_path_without_its_extra_is_left_out_with_the_install_command(
    tmp_path: Path,
) -> None:
    shims = tmp_path / "shims" / "botocore"
    shims.mkdir(parents=True)
    (shims / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'botocore'\")\n"
    )
    keys = {
        **AWS,
        "AWS_REGION": "us-east-1",
        "GEMINI_API_KEY": "AIza-SECRET",
        "PYTHONPATH": str(tmp_path / "shims"),
    }
    out_file = tmp_path / "c.yaml"
    result = run_init(tmp_path, keys, "--yes", "--output", str(out_file))
    assert result.returncode == 0, result.stderr
    assert "left out Amazon Bedrock: it needs botocore: pip install 'turnout[aws]'" in result.stdout
    assert list(written(out_file, keys).providers) == ["gemini"]


def test_interactive_mode_confirms_each_detected_cloud_path(tmp_path: Path) -> None:
    keys = {**AWS, **NO_METADATA, "AWS_REGION": "us-east-1", "GEMINI_API_KEY": "AIza-SECRET"}
    out_file = tmp_path / "c.yaml"
    # Five keyed questions (no), Bedrock (yes), Gemini (no), the two local servers (no).
    stdin = "n\n" * 5 + "y\nn\n" + "n\n" * 2
    result = run_init(tmp_path, keys, "--interactive", "--output", str(out_file), stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert "Use Amazon Bedrock (region us-east-1), found in this environment? [Y/n]" in (
        result.stdout
    )
    assert "Use the Gemini API, found in this environment? [Y/n]" in result.stdout
    assert list(load_config(out_file, env=keys).providers) == ["bedrock"]


def test_every_cloud_path_together_loads() -> None:
    paths = [
        ProviderPath("gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"),
        ProviderPath(
            "azure",
            "https://r.openai.azure.com",
            "AZ",
            options=(("deployments", {"gpt-4.1": "d"}),),
        ),
        ProviderPath("vertex", "", options=(("project", "my-project-42"),)),
        ProviderPath("bedrock", "", options=(("region", "eu-west-1"),), profile="eu"),
        ProviderPath("anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    ]
    text = render_config(paths)
    assert yaml.safe_load(text) == config_data(paths)
    config = load_config_text(
        text, "<template>", {"GEMINI_API_KEY": "k", "AZ": "k", "ANTHROPIC_API_KEY": "k"}
    )
    assert paths_of(config, "claude-sonnet-4-6") == [
        "anthropic/claude-sonnet-4-6",
        "bedrock/eu.anthropic.claude-sonnet-4-6",
        "vertex/claude-sonnet-4-6",
        "azure/gpt-4.1",
        "gemini/gemini-2.5-pro",
    ]
    assert paths_of(config, "gemini-*") == ["gemini/*", "vertex/*"]
