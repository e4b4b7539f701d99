"""The commented YAML config `turnout init` writes, built from the provider paths a user has.

Pure: no environment, no files, no network. `config_data` is the config as data and
`render_config` the same config as commented YAML text; `yaml.safe_load(render_config(p))`
equals `config_data(p)`. Keys appear only as `${ENV_VAR}` references, never as values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PathKind:
    """What every path of one name has in common: how it talks and how it names models."""

    family: str  # the column of ROUTES that names this path's models
    kind: str  # provider kind for the loader: "anthropic" | "openai"
    comment: str


@dataclass(frozen=True, slots=True)
class ProviderPath:
    """One way to reach models that the user has: a `PATH_KINDS` name and where its key lives."""

    name: str
    base_url: str
    key_var: str | None = None  # the environment variable holding the key; None: no key
    model: str | None = None  # local servers only: the model to send for every route
    #: The kind's own keys to write (region, project, deployments...), in order.
    options: tuple[tuple[str, str | dict[str, str]], ...] = ()
    #: Bedrock only: the inference-profile prefix its Claude ids take (us, eu, global...).
    profile: str = "global"


#: Provider names `turnout init` knows, in the order they are written.
PATH_KINDS: dict[str, PathKind] = {
    "claude-sub": PathKind(
        "anthropic",
        "anthropic",
        "Claude subscription (an sk-ant-oat... OAuth token); when its usage runs out, "
        "the next path serves.",
    ),
    "anthropic": PathKind("anthropic", "anthropic", "Anthropic API key: paid per token."),
    "openai": PathKind("openai", "openai", "OpenAI API."),
    "relay": PathKind(
        "relay",
        "openai",
        "An OpenAI-compatible relay; it is asked for the model names clients use.",
    ),
    "openrouter": PathKind(
        "openrouter",
        "openai",
        "OpenRouter: model names are vendor/model, e.g. anthropic/claude-sonnet-4.5.",
    ),
    "bedrock": PathKind(
        "bedrock",
        "bedrock",
        "Amazon Bedrock: your AWS credentials (keys, AWS_PROFILE or ~/.aws) sign each request; "
        "Claude by its cross-region inference profile id. Needs pip install 'turnout[aws]'.",
    ),
    "vertex": PathKind(
        "vertex",
        "vertex",
        "Google Vertex AI: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or "
        "gcloud auth application-default login) give the tokens; Claude and Gemini models. "
        "Needs pip install 'turnout[gcp]'.",
    ),
    "azure": PathKind(
        "azure",
        "azure",
        "Azure OpenAI. FILL IN deployments: each model name -> the name of the deployment you "
        "created for it (Azure AI Foundry > Deployments); until then its paths fail with "
        "DeploymentNotFound.",
    ),
    "gemini": PathKind("gemini", "gemini", "Google's Gemini API (an AI Studio key)."),
    "deepseek": PathKind("deepseek", "openai", "DeepSeek API."),
    "ollama": PathKind(
        "local", "openai", "A local Ollama: no key; change the model to one you have."
    ),
    "lmstudio": PathKind(
        "local", "openai", "A local LM Studio server: no key; change the model to one you have."
    ),
}

#: Stands for a local path's own model in the ROUTES table.
LOCAL_MODEL = "<local>"

#: Route name -> (comment, (family, model) in preference order). `*` as a model means the name
#: the client asked for. A route is written only if the user has a path of one of its families.
ROUTES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "claude-sonnet-4-6": (
        "Claude Sonnet: the Anthropic paths first, then the others with their closest model.",
        (
            ("anthropic", "claude-sonnet-4-6"),
            ("bedrock", "{profile}.anthropic.claude-sonnet-4-6"),
            ("vertex", "claude-sonnet-4-6"),
            ("relay", "claude-sonnet-4-6"),
            ("openrouter", "anthropic/claude-sonnet-4.5"),
            ("openai", "gpt-4.1"),
            ("azure", "gpt-4.1"),
            ("gemini", "gemini-2.5-pro"),
            ("deepseek", "deepseek-chat"),
            ("local", LOCAL_MODEL),
        ),
    ),
    "cheap": (
        "Small, cheap models for chores: titles, compression, and the aliases below.",
        (
            ("deepseek", "deepseek-chat"),
            ("anthropic", "claude-haiku-4-5"),
            ("bedrock", "{profile}.anthropic.claude-haiku-4-5-20251001-v1:0"),
            ("vertex", "claude-haiku-4-5@20251001"),
            ("gemini", "gemini-2.5-flash-lite"),
            ("openrouter", "anthropic/claude-haiku-4.5"),
            ("openai", "gpt-4.1-mini"),
            ("azure", "gpt-4.1-mini"),
            ("relay", "claude-haiku-4-5"),
            ("local", LOCAL_MODEL),
        ),
    ),
    "claude-*": (
        "Any other Claude model: the name asked for where it exists, a Sonnet elsewhere.",
        (
            ("anthropic", "*"),
            ("bedrock", "{profile}.anthropic.claude-sonnet-4-6"),
            ("vertex", "claude-sonnet-4-6"),
            ("relay", "*"),
            ("openrouter", "anthropic/claude-sonnet-4.5"),
            ("openai", "gpt-4.1"),
            ("azure", "gpt-4.1"),
            ("gemini", "gemini-2.5-pro"),
            ("deepseek", "deepseek-chat"),
            ("local", LOCAL_MODEL),
        ),
    ),
    "gpt-*": (
        "GPT models: OpenAI-compatible paths first, then a comparable model elsewhere.",
        (
            ("openai", "*"),
            ("azure", "*"),
            ("relay", "*"),
            ("openrouter", "openai/gpt-4.1"),
            ("anthropic", "claude-sonnet-4-6"),
            ("deepseek", "deepseek-chat"),
            ("local", LOCAL_MODEL),
        ),
    ),
    "gemini-*": (
        "Gemini models, under their own names, on Google's paths.",
        (("gemini", "*"), ("vertex", "*"), ("relay", "*"), ("openrouter", "*")),
    ),
    "deepseek-*": (
        "DeepSeek models, under the name each path that serves them knows them by.",
        (
            ("deepseek", "*"),
            ("openrouter", "deepseek/deepseek-chat"),
            ("relay", "*"),
            ("local", LOCAL_MODEL),
        ),
    ),
    "*": (
        "Everything else: the name as asked, along every path in turn.",
        (
            ("anthropic", "*"),
            ("openai", "*"),
            ("azure", "*"),
            ("gemini", "*"),
            ("vertex", "*"),
            ("bedrock", "*"),
            ("relay", "*"),
            ("openrouter", "*"),
            ("deepseek", "*"),
            ("local", "*"),
        ),
    ),
}

#: Routes written only when a path of one of these families exists. Without one, the route
#: would hand a name the client chose on purpose to another vendor's model, or name a vendor
#: the user has no path to; the `*` route already sends such names on as asked.
ROUTE_NEEDS: dict[str, frozenset[str]] = {
    "gpt-*": frozenset({"openai", "azure", "relay", "openrouter"}),
    "gemini-*": frozenset({"gemini", "vertex"}),
    "deepseek-*": frozenset({"deepseek", "openrouter"}),
}
#: Small-model names clients send for chores, and the families the cheap route's first path
#: must belong to for the alias to be written. Claude Code asks for a Haiku on its own, so any
#: cheap path may serve that name; a GPT name is the user's choice, served only by a GPT.
CHEAP_ALIASES: dict[str, frozenset[str] | None] = {
    "claude-haiku-4-5": None,
    "claude-haiku-4-5-20251001": None,
    "claude-3-5-haiku-latest": None,
    "gpt-4o-mini": frozenset({"openai", "azure"}),
    "gpt-4.1-mini": frozenset({"openai", "azure"}),
}
#: Task kinds (`x-turnout-task: title`) and the route that serves them.
TASKS = {"title": "cheap", "compress": "cheap"}

_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./:-]*")
_YAML_WORDS = frozenset({"yes", "no", "on", "off", "true", "false", "null", "y", "n", "~"})


def route_targets(route: str, paths: Sequence[ProviderPath]) -> list[str]:
    """The `provider/model` targets of one route for these paths, most preferred first."""
    targets: list[str] = []
    for family, model in ROUTES[route][1]:
        for path in paths:
            if PATH_KINDS[path.name].family != family:
                continue
            sent = (path.model or "*") if model == LOCAL_MODEL else model
            sent = sent.replace("{profile}", path.profile)
            targets.append(f"{path.name}/{sent}")
    return targets


def _provider_data(path: ProviderPath) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": PATH_KINDS[path.name].kind}
    if path.base_url:  # a cloud kind's default base URL follows from its region
        data["base_url"] = path.base_url
    if path.key_var:
        data["api_key"] = "${" + path.key_var + "}"
    data.update(path.options)
    return data


def config_data(
    paths: Sequence[ProviderPath], host: str = "127.0.0.1", port: int = 8787
) -> dict[str, Any]:
    """The config as data; raises ValueError for no paths or an unknown or repeated name."""
    ordered = _checked(paths)
    families = {PATH_KINDS[path.name].family for path in ordered}
    routes = {
        name: route_targets(name, ordered)
        for name in ROUTES
        if families & ROUTE_NEEDS.get(name, families)
    }
    return {
        "providers": {path.name: _provider_data(path) for path in ordered},
        "routes": {name: targets for name, targets in routes.items() if targets},
        "aliases": _cheap_aliases(ordered),
        "tasks": dict(TASKS),
        "server": {"host": host, "port": port},
    }


def _cheap_aliases(paths: Sequence[ProviderPath]) -> dict[str, str]:
    """The chore names the cheap route's first path may fairly serve."""
    first = next(
        (path for family, _ in ROUTES["cheap"][1] for path in paths
         if PATH_KINDS[path.name].family == family),
        None,
    )  # fmt: skip
    family = PATH_KINDS[first.name].family if first is not None else None
    return {
        name: "cheap" for name, needs in CHEAP_ALIASES.items() if needs is None or family in needs
    }


def _checked(paths: Sequence[ProviderPath]) -> list[ProviderPath]:
    """The paths in PATH_KINDS order, so the same choices always give the same file."""
    if not paths:
        raise ValueError("no provider paths to write a config for")
    names = [path.name for path in paths]
    unknown = sorted(set(names) - set(PATH_KINDS))
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"provider names must be distinct names of PATH_KINDS: {names}")
    order = list(PATH_KINDS)
    return sorted(paths, key=lambda path: order.index(path.name))


def scalar(value: str | int) -> str:
    """A YAML scalar that reads back as `value`: plain when unambiguous, JSON-quoted otherwise."""
    if isinstance(value, int):
        return str(value)
    if _ENV_REFERENCE.fullmatch(value):
        return value
    plain = _PLAIN.fullmatch(value) and not value.endswith(":")
    if plain and value.lower() not in _YAML_WORDS and not re.fullmatch(r"[0-9._:-]+", value):
        return value
    return json.dumps(value)


HEADER = """\
# turnout config, written by `turnout init`.
# Start the gateway with: turnout serve --config {path}
#
# Keys are never written here: each `api_key: ${{VAR}}` is read from the environment when
# turnout starts, so export those variables in the shell (or service) that runs it.
"""

_DEFAULTS_COMMENT = """\
# Retry, cooldown and timeout settings; these are the defaults. Uncomment to change one,
# or set it on a single provider or route.
# defaults:
#   retries: 2             # extra tries of the same path on a transient failure
#   cooldown_s: 15         # a path that kept failing transiently is skipped this long
#   gate_s: 30             # a gated path (quota, auth, ...) without a known reset time
#   read_timeout_s: 120
"""


def render_config(
    paths: Sequence[ProviderPath],
    host: str = "127.0.0.1",
    port: int = 8787,
    config_path: str = "FILE",
) -> str:
    """`config_data(paths, host, port)` as YAML, with a comment on every section and path."""
    data = config_data(paths, host, port)
    sections = [
        HEADER.format(path=config_path),
        _render_providers(data["providers"]),
        _render_routes(data["routes"]),
        _render_names("aliases", "Model names served by another route.", data["aliases"]),
        _render_names(
            "tasks",
            "Requests sent with `x-turnout-task: <kind>` take the route named here.",
            data["tasks"],
        ),
        _DEFAULTS_COMMENT,
        _render_server(host, port),
    ]
    return "\n".join(sections)


def _render_providers(providers: dict[str, Any]) -> str:
    lines = ["# Where requests can go: one entry per way you reach models."]
    lines.append("providers:")
    for name, table in providers.items():
        lines.append(f"  # {PATH_KINDS[name].comment}")
        lines.append(f"  {scalar(name)}:")
        lines += [f"    {key}: {_flow(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _flow(value: str | dict[str, str]) -> str:
    """A scalar, or a mapping of scalars on one line (`{gpt-4.1: my-deployment}`)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {scalar(v)}" for k, v in value.items()) + "}"
    return scalar(value)


def _render_routes(routes: dict[str, list[str]]) -> str:
    lines = [
        "# Which paths serve a model name, most preferred first. When a path fails in a way",
        "# retrying cannot fix (quota, auth, model missing, ...), the next one is tried.",
        "# `provider/*` sends the name the client asked for; patterns are tried last, in order.",
        "routes:",
    ]
    for name, targets in routes.items():
        lines.append(f"  # {ROUTES[name][0]}")
        lines.append(f"  {scalar(name)}:")
        lines += [f"    - {scalar(target)}" for target in targets]
    return "\n".join(lines) + "\n"


def _render_names(section: str, comment: str, names: dict[str, str]) -> str:
    lines = [f"# {comment}", f"{section}:"]
    lines += [f"  {scalar(key)}: {scalar(value)}" for key, value in names.items()]
    return "\n".join(lines) + "\n"


def _render_server(host: str, port: int) -> str:
    return (
        "# Where turnout listens. Off loopback, clients must send one of `keys`.\n"
        "server:\n"
        f"  host: {scalar(host)}\n"
        f"  port: {port}\n"
        '  # keys: ["${TURNOUT_GATEWAY_KEY}"]\n'
    )
