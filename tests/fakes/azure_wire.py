"""Azure OpenAI as documented: deployments in the path, `api-version` in the query, the key in
an `api-key` header, Azure's error bodies (content filter included) and its stream, which
opens with a chunk of prompt filter results and no choices."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.app_server import AppServer

KNOWN_VERSIONS = frozenset({"2024-10-21", "2024-06-01", "2025-04-01-preview"})
#: A prompt with this word is refused by the content filter.
FILTERED_WORD = "forbidden-topic"
SAFE = {"filtered": False, "severity": "safe"}


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

    def __init__(self, key: str, deployments: dict[str, str]) -> None:
        self.key = key
        self.deployments = deployments
        super().__init__()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._classic)
        app.router.add_post("/openai/v1/chat/completions", self._v1)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)

    def _denied(self, request: web.Request) -> web.Response | None:
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
