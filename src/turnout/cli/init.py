"""`turnout init`: write a commented config for the provider paths a user has, then say how to
point agents at it.

With `--yes`, or when stdin is not a terminal, the paths come from the environment and from
local servers that answer; otherwise each path is asked about with `input()`, detected values
as defaults. Only the *names* of the variables holding keys are asked for and written.

Two hidden flags exist for tests: `--interactive` asks even when stdin is a pipe (answers are
read line by line; end of input takes the default), and `--no-probe` skips the local ports.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from turnout.config.default import ENV_PROVIDERS, LOCAL_SERVERS, user_config_path
from turnout.config.load import ConfigError
from turnout.config.model import GatewayConfig, ServerConfig
from turnout.config.template import ProviderPath, render_config
from turnout.runtime.configs import load_config_text

HELP = "write a config for the provider paths you have and print how to point agents at it"

#: Subscription logins hand out tokens with this prefix; API keys look different.
OAUTH_PREFIX = "sk-ant-oat"
#: Default base URL per key variable, as the embedded default knows them.
BASE_URLS = {key_var: url for _, key_var, _, _, url in ENV_PROVIDERS}
ANTHROPIC_URL = BASE_URLS["ANTHROPIC_API_KEY"]
OPENAI_URL = BASE_URLS["OPENAI_API_KEY"]
GEMINI_URL = "https://generativelanguage.googleapis.com"
#: Paths found only from the environment and files, which the interactive mode confirms.
DETECTED_ONLY = {
    "bedrock": "Amazon Bedrock",
    "vertex": "Google Vertex AI",
    "azure": "Azure OpenAI",
    "gemini": "the Gemini API",
}
#: A model to send a local server that did not list any; the config says to change it.
LOCAL_DEFAULT_MODELS = {"ollama": "llama3.2", "lmstudio": "local-model"}
LOCAL_LABELS = {"ollama": "a local Ollama", "lmstudio": "a local LM Studio"}
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Ask = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class KeyedQuestion:
    """One keyed path as the interactive mode asks about it."""

    name: str  # the PATH_KINDS name; "relay" also covers OpenAI itself
    what: str
    key_var: str  # the usual variable, offered as the default
    base_url: str
    asks_url: bool = False  # OpenAI-compatible: the base URL decides OpenAI or a relay


#: The keyed paths, in the order they are asked about.
KEYED_QUESTIONS = (
    KeyedQuestion("anthropic", "an Anthropic API key", "ANTHROPIC_API_KEY", ANTHROPIC_URL),
    KeyedQuestion(
        "claude-sub",
        "a Claude subscription OAuth token (sk-ant-oat...)",
        "CLAUDE_CODE_OAUTH_TOKEN",
        ANTHROPIC_URL,
    ),
    KeyedQuestion(
        "relay", "OpenAI or an OpenAI-compatible relay", "OPENAI_API_KEY", OPENAI_URL, True
    ),
    KeyedQuestion(
        "openrouter", "an OpenRouter key", "OPENROUTER_API_KEY", BASE_URLS["OPENROUTER_API_KEY"]
    ),
    KeyedQuestion("deepseek", "a DeepSeek key", "DEEPSEEK_API_KEY", BASE_URLS["DEEPSEEK_API_KEY"]),
)


@dataclass(slots=True)
class Detected:
    """What the environment offers, and what was seen but left out (with why)."""

    paths: list[ProviderPath] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-y", "--yes", action="store_true", help="ask nothing: use what the environment has"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="where to write (default: --config, else the user config path)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("--interactive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-probe", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from turnout.cli.main import CommandError

    destination = Path(args.output or args.config or user_config_path()).expanduser().absolute()
    if destination.exists() and not args.force:
        raise CommandError(f"{destination} already exists", _OVERWRITE_HINT)
    local = {} if args.no_probe else probe_local(LOCAL_SERVERS)
    detected = detect_paths(os.environ, local)
    for note in detected.notes:
        print(f"note: {note}")
    interactive = args.interactive or (not args.yes and sys.stdin.isatty())
    paths = ask_paths(input, detected, local) if interactive else detected.paths
    if not paths:
        return _nothing_found(interactive)
    text = render_config(paths, config_path=shlex.quote(str(destination)))
    config = _validated(text, str(destination), paths)
    _write(destination, text, args.force)
    print(summary(config, destination, paths, os.environ))
    return 0


_OVERWRITE_HINT = "pass --force to replace it, or --output FILE to write somewhere else"


def _nothing_found(interactive: bool) -> int:
    """Nothing to route to is not an error of the command line: exit 1, write nothing."""
    if interactive:
        message = "no provider path chosen"
    else:
        clouds = {"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS"}
        clouds |= {"AZURE_OPENAI_ENDPOINT", "GEMINI_API_KEY", "GOOGLE_API_KEY"}
        variables = ", ".join(
            sorted({q.key_var for q in KEYED_QUESTIONS} | {"OPENAI_BASE_URL"} | clouds)
        )
        ports = ", ".join(f"{name} (127.0.0.1:{port})" for name, port in LOCAL_SERVERS)
        message = f"no provider path found; looked for {variables} and for {ports}"
    print(f"turnout init: {message}", file=sys.stderr)
    print(
        "hint: export a key and run turnout init again; to see a failover without any, "
        "run: turnout serve --demo",
        file=sys.stderr,
    )
    return 1


def probe_local(servers: Sequence[tuple[str, int]], timeout: float = 0.5) -> dict[str, list[str]]:
    """The local servers that answer HTTP on their port, with the model ids they list."""
    found: dict[str, list[str]] = {}
    for name, port in servers:
        models = _listed_models(f"http://127.0.0.1:{port}/v1/models", timeout)
        if models is not None:
            found[name] = models
    return found


def _listed_models(url: str, timeout: float) -> list[str] | None:
    """None when nothing answers; an HTTP error still means a server is there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        return []
    except (OSError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    return [str(m["id"]) for m in data or [] if isinstance(m, dict) and m.get("id")]


def detect_paths(env: Mapping[str, str], local: Mapping[str, list[str]]) -> Detected:
    """The paths the environment offers, in preference order; keys stay in the environment."""
    found = Detected()
    api_key = env.get("ANTHROPIC_API_KEY", "")
    has_claude = bool(api_key or env.get("CLAUDE_CODE_OAUTH_TOKEN"))
    anthropic_url = _anthropic_url(env, found) if has_claude else ANTHROPIC_URL
    if env.get("CLAUDE_CODE_OAUTH_TOKEN"):
        found.paths.append(ProviderPath("claude-sub", anthropic_url, "CLAUDE_CODE_OAUTH_TOKEN"))
    elif api_key.startswith(OAUTH_PREFIX):
        found.paths.append(ProviderPath("claude-sub", anthropic_url, "ANTHROPIC_API_KEY"))
    if api_key and not api_key.startswith(OAUTH_PREFIX):
        found.paths.append(ProviderPath("anthropic", anthropic_url, "ANTHROPIC_API_KEY"))
    if env.get("OPENAI_API_KEY"):
        url = base_url(env.get("OPENAI_BASE_URL") or OPENAI_URL)
        if is_gateway(url):
            found.notes.append(f"left out OPENAI_BASE_URL={url}: that is turnout itself")
        else:
            found.paths.append(ProviderPath(openai_name(url), url, "OPENAI_API_KEY"))
    for name, key_var in (("openrouter", "OPENROUTER_API_KEY"), ("deepseek", "DEEPSEEK_API_KEY")):
        if env.get(key_var):
            found.paths.append(ProviderPath(name, BASE_URLS[key_var], key_var))
    for detect in (_bedrock, _vertex, _azure, _gemini):
        path = detect(env, found)
        if path is not None:
            found.paths.append(path)
    for name, port in LOCAL_SERVERS:
        if name in local:
            model = (local[name] or [LOCAL_DEFAULT_MODELS[name]])[0]
            found.paths.append(ProviderPath(name, f"http://127.0.0.1:{port}/v1", model=model))
    return found


#: Placeholder deployment names for an Azure path; the config says to replace them.
AZURE_MODELS = ("gpt-4.1", "gpt-4.1-mini")
#: Where gcloud keeps Application Default Credentials, under its config directory.
ADC_FILE = "application_default_credentials.json"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def _missing_extra(module: str, extra: str, what: str, found: Detected) -> bool:
    """True (and said) when the kind's optional library is not installed."""
    try:
        importlib.import_module(module)
    except ImportError:
        found.notes.append(f"left out {what}: it needs {module}: pip install 'turnout[{extra}]'")
        return True
    return False


def _bedrock(env: Mapping[str, str], found: Detected) -> ProviderPath | None:
    """AWS credentials as botocore's chain finds them (keys, a profile, the shared file)."""
    shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or _home(env) / ".aws" / "credentials")
    if not (env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE") or shared.is_file()):
        return None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        found.notes.append(
            "left out Amazon Bedrock: AWS credentials are there but no region; "
            "export AWS_REGION (e.g. us-east-1) and run turnout init again"
        )
        return None
    if _missing_extra("botocore", "aws", "Amazon Bedrock", found):
        return None
    geography = region.split("-", 1)[0]
    profile = geography if geography in ("us", "eu") else "global"
    return ProviderPath("bedrock", "", options=(("region", region),), profile=profile)


def _vertex(env: Mapping[str, str], found: Detected) -> ProviderPath | None:
    """Application Default Credentials and a project, as Claude Code's Vertex mode reads them."""
    gcloud = Path(env.get("CLOUDSDK_CONFIG") or _home(env) / ".config" / "gcloud")
    adc = env.get("GOOGLE_APPLICATION_CREDENTIALS") or ""
    if not (adc and Path(adc).is_file()) and not (gcloud / ADC_FILE).is_file():
        return None
    project = env.get("ANTHROPIC_VERTEX_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        found.notes.append(
            "left out Google Vertex AI: credentials are there but no project; "
            "export GOOGLE_CLOUD_PROJECT and run turnout init again"
        )
        return None
    if _missing_extra("google.auth", "gcp", "Google Vertex AI", found):
        return None
    region = env.get("CLOUD_ML_REGION") or "global"
    return ProviderPath("vertex", "", options=(("project", project), ("region", region)))


def _azure(env: Mapping[str, str], found: Detected) -> ProviderPath | None:
    endpoint = env.get("AZURE_OPENAI_ENDPOINT", "").strip().rstrip("/")
    if not (endpoint and env.get("AZURE_OPENAI_API_KEY")):
        return None
    endpoint = endpoint.split("/openai", 1)[0]
    found.notes.append(
        "Azure OpenAI: fill in providers.azure.deployments with your deployment names "
        "before starting (the FILL-IN-... values are placeholders)"
    )
    deployments = {model: f"FILL-IN-{model}-deployment" for model in AZURE_MODELS}
    return ProviderPath(
        "azure", endpoint, "AZURE_OPENAI_API_KEY", options=(("deployments", deployments),)
    )


def _gemini(env: Mapping[str, str], found: Detected) -> ProviderPath | None:
    """GEMINI_API_KEY, else GOOGLE_API_KEY, as the Gemini SDKs read them."""
    key_var = next((v for v in ("GEMINI_API_KEY", "GOOGLE_API_KEY") if env.get(v)), None)
    if key_var is None:
        return None
    url = env.get("GOOGLE_GEMINI_BASE_URL", "")
    if url and is_gateway(base_url(url)):
        # Gemini CLI pointed at the gateway holds the gateway's key, not Google's.
        found.notes.append(f"left out GOOGLE_GEMINI_BASE_URL={url}: that is turnout itself")
        return None
    return ProviderPath("gemini", GEMINI_URL, key_var)


def _anthropic_url(env: Mapping[str, str], found: Detected) -> str:
    """`ANTHROPIC_BASE_URL` as Claude Code and the Anthropic SDK read it, unless it is turnout
    itself (what a Claude Code user pointed at the gateway has): routing there would loop."""
    url = base_url(env.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL)
    if is_gateway(url):
        found.notes.append(f"left out ANTHROPIC_BASE_URL={url}: that is turnout itself")
        return ANTHROPIC_URL
    return url


def base_url(url: str) -> str:
    """A base URL as the loader wants it: no trailing slash, no endpoint path."""
    url = url.strip().rstrip("/")
    return url.removesuffix("/chat/completions").rstrip("/")


def openai_name(url: str) -> str:
    """OpenAI itself only serves its own models; any other base URL is a relay."""
    return "openai" if url == OPENAI_URL else "relay"


def is_gateway(url: str) -> bool:
    """True for a URL at turnout's own default address: routing there would loop."""
    parts = urlsplit(url)
    default = ServerConfig()
    local_hosts = {default.host, "localhost", "::1"}
    return parts.hostname in local_hosts and parts.port == default.port


def ask_paths(ask: Ask, detected: Detected, local: Mapping[str, list[str]]) -> list[ProviderPath]:
    """Ask about each path, offering what was detected as the default answer."""
    print("turnout init: answer each question, or press Enter for the [default].")
    # One question covers OpenAI itself and relays, so a detected "openai" answers "relay".
    known = {("relay" if p.name == "openai" else p.name): p for p in detected.paths}
    paths: list[ProviderPath] = []
    for question in KEYED_QUESTIONS:
        path = _ask_keyed(ask, question, known.get(question.name))
        if path is not None:
            paths.append(path)
    for path in detected.paths:
        if path.name in DETECTED_ONLY:
            where = ", ".join(f"{k} {v}" for k, v in path.options if isinstance(v, str))
            what = DETECTED_ONLY[path.name] + (f" ({where})" if where else "")
            if confirm(ask, f"Use {what}, found in this environment?", True):
                paths.append(path)
    for name, port in LOCAL_SERVERS:
        path = _ask_local(ask, name, port, local.get(name))
        if path is not None:
            paths.append(path)
    return paths


def _ask_keyed(
    ask: Ask, question: KeyedQuestion, found: ProviderPath | None
) -> ProviderPath | None:
    if not confirm(ask, f"Do you have {question.what}?", found is not None):
        return None
    default_var = found.key_var if found and found.key_var else question.key_var
    key_var = ask_text(ask, "  Name of the environment variable holding it", default_var, check_var)
    url = found.base_url if found else question.base_url
    if not question.asks_url:
        return ProviderPath(question.name, url, key_var)
    url = base_url(ask_text(ask, "  Base URL", url, check_url))
    return ProviderPath(openai_name(url), url, key_var)


def _ask_local(ask: Ask, name: str, port: int, models: list[str] | None) -> ProviderPath | None:
    state = "it answers now" if models is not None else "it does not answer now"
    question = f"Use {LOCAL_LABELS[name]} at 127.0.0.1:{port} ({state})?"
    if not confirm(ask, question, models is not None):
        return None
    default = (models or [LOCAL_DEFAULT_MODELS[name]])[0]
    model = ask_text(ask, "  Model to send it", default, check_model)
    return ProviderPath(name, f"http://127.0.0.1:{port}/v1", model=model)


def _reply(ask: Ask, prompt: str) -> str | None:
    """The trimmed answer, or None at end of input (which takes the default)."""
    try:
        return ask(prompt).strip()
    except EOFError:
        print()
        return None


def confirm(ask: Ask, question: str, default: bool) -> bool:
    choices = "Y/n" if default else "y/N"
    while True:
        reply = _reply(ask, f"{question} [{choices}] ")
        if not reply:
            return default
        if reply.lower() in ("y", "yes", "n", "no"):
            return reply.lower().startswith("y")
        print("  please answer y or n")


def ask_text(ask: Ask, question: str, default: str, check: Callable[[str], str | None]) -> str:
    """Ask until the answer passes `check` (which returns a problem, or None)."""
    from turnout.cli.main import CommandError

    while True:
        reply = _reply(ask, f"{question} [{default}]: ")
        value = reply or default
        problem = check(value)
        if problem is None:
            return value
        print(f"  {problem}")
        if reply is None:
            raise CommandError(f"no usable answer to {question.strip()!r}: {problem}")


def check_var(value: str) -> str | None:
    if _VAR_NAME.fullmatch(value):
        return None
    return "give the NAME of the variable (like OPENROUTER_API_KEY), never the key itself"


def check_url(value: str) -> str | None:
    url = base_url(value)
    if not re.match(r"^https?://[^/\s]+", url):
        return "give an http(s) base URL, like https://relay.example/v1"
    if is_gateway(url):
        return "that is turnout's own address; give the relay's URL"
    return None


def check_model(value: str) -> str | None:
    return None if value and not re.search(r"\s", value) else "give a model name without spaces"


def _validated(text: str, source: str, paths: Sequence[ProviderPath]) -> GatewayConfig:
    """Load the text as `turnout serve` will, with stand-in keys: nothing invalid is written."""
    from turnout.cli.main import CommandError

    stand_ins = {path.key_var: "stand-in" for path in paths if path.key_var}
    try:
        return load_config_text(text, source, env=stand_ins)
    except ConfigError as exc:
        raise CommandError(f"the config would not load: {exc}", exc.hint) from exc


def _write(destination: Path, text: str, force: bool) -> None:
    """Create the file; without --force an existing file is never replaced, even by a race."""
    from turnout.cli.main import CommandError

    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("w" if force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError as exc:
        raise CommandError(f"{destination} already exists", _OVERWRITE_HINT) from exc
    except OSError as exc:
        raise CommandError(f"cannot write {destination}: {exc.strerror}") from exc


def summary(
    config: GatewayConfig, destination: Path, paths: Sequence[ProviderPath], env: Mapping[str, str]
) -> str:
    """What was written, what is still missing, how to start, and how to point agents at it."""
    lines = [f"Wrote {destination}"]
    lines += [
        f"  route {name}: " + " -> ".join(t.path for t in route.targets)
        for name, route in config.routes.items()
    ]
    unset = sorted({p.key_var for p in paths if p.key_var and not env.get(p.key_var)})
    if unset:
        lines.append(f"Before starting, export {', '.join(unset)} (not set in this shell).")
    lines += ["", "Start it:", f"  turnout serve --config {shlex.quote(str(destination))}", ""]
    lines += client_settings(config.server.host, config.server.port, bool(config.server.keys))
    return "\n".join(lines)


def client_settings(host: str, port: int, keyed: bool) -> list[str]:
    """The exact settings for each client, for a gateway listening at host:port."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # a wildcard address is where turnout listens, not where to connect
    root = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    key = "<a gateway key from server.keys>" if keyed else "turnout"
    note = "a gateway key" if keyed else "any non-empty key"
    return [
        f"Point your agents at it ({note} as the API key):",
        f"  Hermes Agent, custom OpenAI-compatible endpoint: base URL {root}/v1",
        f"  Hermes Agent, Anthropic provider: base URL {root}/anthropic"
        "  (it must end in /anthropic)",
        f"  Claude Code:    export ANTHROPIC_BASE_URL={root}",
        f"                  export ANTHROPIC_AUTH_TOKEN={key}",
        f'  OpenAI SDK:     OpenAI(base_url="{root}/v1", api_key="{key}")'
        "  (never ending in /chat/completions)",
        f'  Anthropic SDK:  Anthropic(base_url="{root}", api_key="{key}")',
    ]
