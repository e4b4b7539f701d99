"""Vertex AI's Claude endpoints (rawPredict, streamRawPredict), its Gemini endpoints
(generateContent, streamGenerateContent?alt=sse, which check the body as the Gemini API does)
and a Google OAuth token endpoint, all on 127.0.0.1: the token endpoint takes a service
account's signed JWT and issues tokens that expire on the test's clock; Vertex refuses a token
that has expired. Gemini's answers follow `script` (one `Reply` each, the last repeating)."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import anthropic_wire, gemini_wire
from tests.fakes.app_server import AppServer
from tests.fakes.bedrock_wire import claude_events
from tests.fakes.steps import Reply

TOKEN_LIFETIME_S = 3600
PROJECT = "demo-project-42"
EMAIL = "gateway@demo-project-42.iam.gserviceaccount.com"
#: A service account's JWT names Google's token endpoint as its audience, wherever it is sent.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def _jwt_claims(assertion: str) -> dict[str, Any]:
    payload = assertion.split(".")[1]
    return dict(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def service_account_file(folder: Path, token_uri: str) -> Path:
    """A service-account key file (a fresh RSA key) whose tokens come from `token_uri`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = folder / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": EMAIL,
                "client_id": "1234567890",
                "token_uri": token_uri,
            }
        )
    )
    return path


class FakeVertex(AppServer):
    def __init__(self, clock: Callable[[], float], client_email: str) -> None:
        self.clock = clock
        self.client_email = client_email
        self.issued: dict[str, float] = {}  # token -> when it was issued (test clock)
        self.token_requests = 0
        self._numbers = itertools.count(1)
        self._replies: list[Reply] = []
        self._claude_replies: list[Reply] = []
        super().__init__()

    def script(self, *replies: Reply) -> None:
        """What the Gemini models answer next, in order (the last one repeats)."""
        self._replies = list(replies)

    def script_claude(self, *replies: Reply) -> None:
        """What the Claude models answer next, in order (unscripted: a greeting naming the
        model), in the Messages wire rawPredict speaks."""
        self._claude_replies = list(replies)

    def _next_reply(self, model: str) -> Reply:
        if not self._replies:
            return Reply(text=f"hello from vertex {model}")
        return self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{call}",
            self._predict,
        )
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/google/models/{call}",
            self._generate,
        )

    def _unauthenticated(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        issued = self.issued.get(token)
        if issued is not None and self.clock() <= issued + TOKEN_LIFETIME_S:
            return None
        return web.json_response(
            gemini_wire.google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            ),
            status=401,
        )

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        refused = self._unauthenticated(request)
        if refused is not None:
            return refused
        model, _, method = request.match_info["call"].partition(":")
        if request.match_info["project"] != PROJECT:
            return web.json_response(
                gemini_wire.google_error(403, "PERMISSION_DENIED", "Permission denied."),
                status=403,
            )
        data = orjson.loads(await request.read())
        refusal = gemini_wire.body_refusal(request.query, method, data)
        if refusal is not None:
            return web.json_response(refusal[1], status=refusal[0])
        reply = self._next_reply(model)
        if method == "generateContent":
            return web.json_response(gemini_wire.body(reply, {"model": model}))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in gemini_wire.events(reply, {"model": model}):
            await response.write(event)
        await response.write_eof()
        return response

    async def _scripted_claude(
        self, request: web.Request, model: str, method: str
    ) -> web.StreamResponse:
        replies = self._claude_replies
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if method == "rawPredict":
            return web.json_response(anthropic_wire.body(reply, {"model": model}))
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in anthropic_wire.events(reply, {"model": model}):
            await response.write(event)
        await response.write_eof()
        return response

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        claims = _jwt_claims(str(form.get("assertion")))
        if claims.get("iss") != self.client_email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT"}, status=400
            )
        token = f"ya29.fake-token-{next(self._numbers)}-0123456789"
        self.issued[token] = self.clock()
        return web.json_response(
            {"access_token": token, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        )

    async def _predict(self, request: web.Request) -> web.StreamResponse:
        refused = self._unauthenticated(request)
        if refused is not None:
            return refused
        model, _, method = request.match_info["call"].partition(":")
        data = orjson.loads(await request.read())
        if (
            request.match_info["project"] != PROJECT
            or "model" in data
            or data.get("anthropic_version") != "vertex-2023-10-16"
        ):
            return web.json_response(
                {
                    "error": {
                        "code": 400,
                        "message": "Invalid request",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                status=400,
            )
        if self._claude_replies:
            return await self._scripted_claude(request, model, method)
        text = f"hello from vertex {model}"
        if method == "rawPredict":
            return web.json_response(
                {
                    "id": "msg_vrtx_01",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                }
            )
        if method != "streamRawPredict" or not data.get("stream"):
            return web.json_response(
                {
                    "error": {
                        "code": 400,
                        "message": "Invalid request",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                status=400,
            )
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in claude_events(text):
            await response.write(
                b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
            )
        await response.write_eof()
        return response
