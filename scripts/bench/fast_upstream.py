"""A deliberately fast OpenAI-shaped upstream for the relay benchmark (asyncio + httptools).

    python scripts/bench/fast_upstream.py PORT

Non-streaming requests get a fixed ~600-byte completion; `"stream": true` gets 20 SSE chunks
and `data: [DONE]`. It does as little as possible so the gateway is what gets measured.
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import orjson

COMPLETION = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1718000000,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A fixed benchmark answer. " * 12},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 512, "completion_tokens": 64, "total_tokens": 576},
    }
)
WHOLE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    % len(COMPLETION)
) + COMPLETION
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _stream_chunks() -> list[bytes]:
    chunks = []
    for index in range(20):
        delta = {"content": f"tok{index} "}
        finish = "stop" if index == 19 else None
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1718000000,
            "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        chunks.append(_chunk(b"data: " + orjson.dumps(event) + b"\n\n"))
    chunks.append(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return chunks


STREAM_CHUNKS = _stream_chunks()


class Upstream(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.WriteTransport = transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if b'"stream":true' in body.replace(b" ", b""):
            self.transport.write(STREAM_HEAD)
            for chunk in STREAM_CHUNKS:
                self.transport.write(chunk)
        else:
            self.transport.write(WHOLE)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
