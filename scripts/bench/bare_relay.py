"""The floor of a relay on turnout's stack, for `bench_relay.py` to measure beside the gateway.

    python scripts/bench/bare_relay.py UPSTREAM_PORT PORT

uvicorn (uvloop, httptools) with one aiohttp session and orjson: read the body, set the
model, forward it, return the answer whole. No routing, ledger, logging, limits or streaming:
what any gateway on these libraries pays before doing anything of its own.
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import orjson
import uvicorn


def app_for(upstream: str) -> Any:
    session: aiohttp.ClientSession | None = None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal session
        if scope["type"] != "http":
            return
        if session is None:
            session = aiohttp.ClientSession()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        data = orjson.loads(body)
        data["model"] = "bench-model"
        headers = {"content-type": "application/json"}
        async with session.post(upstream, data=orjson.dumps(data), headers=headers) as answer:
            payload = await answer.read()
        start = {"type": "http.response.start", "status": answer.status}
        start["headers"] = [(b"content-type", b"application/json")]
        await send(start)
        await send({"type": "http.response.body", "body": payload})

    return app


def main() -> None:
    upstream = f"http://127.0.0.1:{sys.argv[1]}/v1/chat/completions"
    uvicorn.run(
        app_for(upstream), host="127.0.0.1", port=int(sys.argv[2]), access_log=False,
        log_level="warning", loop="uvloop", http="httptools",
    )  # fmt: skip


if __name__ == "__main__":
    main()
