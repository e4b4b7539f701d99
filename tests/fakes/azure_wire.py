"""Azure OpenAI as documented: deployments in the path, `api-version` in the query, the key in
an `api-key` header, Azure's error bodies (content filter included) and its stream, which
opens with a chunk of prompt filter results and no choices.

With an `EntraApp`, it also plays Entra ID's token endpoint (`/{tenant}/oauth2/v2.0/token`,
the client-credentials grant checked as Entra checks it) and accepts the bearer tokens it
issued until they expire on the test's clock."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.app_server import AppServer

KNOWN_VERSIONS = frozenset({"2024-10-21", "2024-06-01", "2025-04-01-preview"})
#: A prompt with this word is refused by the content filter.
FILTERED_WORD = "forbidden-topic"
SAFE = {"filtered": False, "severity": "safe"}


#: How long an issued token is valid, as Entra's `expires_in` says (about an hour).
TOKEN_LIFETIME_S = 3599
COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
EXPIRED_TOKEN = (
    "Unauthorized. Access token is missing, invalid, audience is incorrect "
    "(https://cognitiveservices.azure.com), or have expired."
)


@dataclass(frozen=True)
class EntraApp:
    """An app registration in a tenant, and the client secret it was given."""

    tenant: str
    client_id: str
    client_secret: str


def _entra_error(status: int, error: str, code: int, description: str) -> web.Response:
    trace = "6f6c4645-0202-4486-b625-fa957dfc4700"
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            "Correlation ID: 5fc87507-4086-4e77-b415-cee677eb232e\r\n"
            "Timestamp: 2025-05-06 06:03:00Z",
            "error_codes": [code],
            "timestamp": "2025-05-06 06:03:00Z",
            "trace_id": trace,
            "correlation_id": "5fc87507-4086-4e77-b415-cee677eb232e",
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status=status,
    )


def _error(http_status: int, code: str, message: str, **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=http_status)


def content_filter_error() -> web.Response:
    return _error(
        400,
        "content_filter",
        "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy. Please modify your prompt and retry. To learn more about our "
        "content filtering policies please read our documentation: "
        "https://go.microsoft.com/fwlink/?linkid=2198766",
        param="prompt",
        type=None,
        status=400,
        innererror={
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": SAFE,
                "self_harm": SAFE,
                "sexual": SAFE,
                "violence": {"filtered": True, "severity": "medium"},
            },
        },
    )


class FakeAzure(AppServer):
    """Deployments `deployments` (name -> model), key `key`; answers echo the deployment."""

    def __init__(
        self,
        key: str,
        deployments: dict[str, str],
        entra: EntraApp | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.deployments = deployments
        self.entra = entra
        self.clock = clock
        self.issued: dict[str, float] = {}  # token -> when it was issued (the clock's time)
        self.token_requests = 0
        self._numbers = itertools.count(1)
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._classic)
        app.router.add_post("/openai/v1/chat/completions", self._v1)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        app = self.entra
        if app is None or request.match_info["tenant"] != app.tenant:
            tenant = request.match_info["tenant"]
            return _entra_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant "
                "ID and are signing into the correct cloud.",
            )
        if request.content_type != "application/x-www-form-urlencoded":
            return _entra_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _entra_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != app.client_id:
            return _entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')!s}' was not found in the "
                f"directory '{app.tenant}'.",
            )
        if form.get("client_secret") != app.client_secret:
            return _entra_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )
        if form.get("scope") != COGNITIVE_SCOPE:
            return _entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope')!s} is not valid.",
            )
        token = f"eyJ0eXAiOiJKV1Qi.entra-token-{next(self._numbers)}-0123456789"
        self.issued[token] = self.clock()
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "ext_expires_in": TOKEN_LIFETIME_S,
                "access_token": token,
            }
        )

    def _denied(self, request: web.Request) -> web.Response | None:
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and self.entra is not None:
            issued = self.issued.get(bearer.removeprefix("Bearer "))
            if issued is None or self.clock() - issued >= TOKEN_LIFETIME_S:
                return _error(401, "401", EXPIRED_TOKEN)
            return None
        if request.headers.get("api-key") != self.key:
            return _error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make "
                "sure to provide a valid key for an active subscription and use a correct "
                "regional API endpoint for your resource.",
            )
        return None

    async def _classic(self, request: web.Request) -> web.StreamResponse:
        denied = self._denied(request)
        if denied is not None:
            return denied
        version = request.query.get("api-version")
        if version is None:
            return _error(
                404, "404", "Resource not found"
            )  # what Azure answers without api-version
        if version not in KNOWN_VERSIONS:
            return _error(400, "BadRequest", "API version not supported")
        return await self._answer(request, request.match_info["deployment"])

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        """The deployment's vectors, one per input, in OpenAI's embeddings shape."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        if request.query.get("api-version") not in KNOWN_VERSIONS:
            return _error(400, "BadRequest", "API version not supported")
        deployment = request.match_info["deployment"]
        if deployment not in self.deployments:
            return _error(404, "DeploymentNotFound", "The API deployment does not exist.")
        inputs = orjson.loads(await request.read())["input"]
        inputs = inputs if isinstance(inputs, list) else [inputs]
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.25, float(len(text))]}
                    for i, text in enumerate(inputs)
                ],
                "model": self.deployments[deployment],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        )

    async def _v1(self, request: web.Request) -> web.StreamResponse:
        denied = self._denied(request)
        if denied is not None:
            return denied
        if "api-version" in request.query and request.query["api-version"] not in ("preview",):
            return _error(400, "BadRequest", "API version not supported")
        data = orjson.loads(await request.read())
        return await self._answer(request, str(data.get("model")))

    async def _answer(self, request: web.Request, deployment: str) -> web.StreamResponse:
        if deployment not in self.deployments:
            return _error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist. If you created the "
                "deployment within the last 5 minutes, please wait a moment and try again.",
            )
        data = orjson.loads(await request.read())
        if FILTERED_WORD in orjson.dumps(data["messages"]).decode():
            return content_filter_error()
        model = self.deployments[deployment]
        text = f"hello from deployment {deployment}"
        if not data.get("stream"):
            return web.json_response(
                {
                    "id": "chatcmpl-az1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "prompt_filter_results": [
                        {"prompt_index": 0, "content_filter_results": {"hate": SAFE}}
                    ],
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                            "content_filter_results": {"hate": SAFE},
                        }
                    ],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
                }
            )
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        async def send(payload: dict[str, Any]) -> None:
            await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")

        base = {
            "id": "chatcmpl-az2",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
        }
        # Azure's first chunk: the prompt's filter results, no choices, an empty model.
        await send(
            {
                "id": "",
                "object": "",
                "created": 0,
                "model": "",
                "choices": [],
                "prompt_filter_results": [
                    {"prompt_index": 0, "content_filter_results": {"hate": SAFE}}
                ],
            }
        )
        await send(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            }
        )
        for word in text.split(" "):
            await send(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"content": word + " "},
                            "finish_reason": None,
                            "content_filter_results": {"hate": SAFE},
                        }
                    ],
                }
            )
        await send({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
