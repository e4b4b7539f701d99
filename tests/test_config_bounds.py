"""A config file is refused, quickly and by name, when it is too big, too deep or expands
through aliases; a reload of such a file keeps the running config and the event loop free."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from turnout.config import ConfigError
from turnout.edge.app import TurnoutApp
from turnout.runtime.configs import load_config, load_config_text
from turnout.runtime.gateway import Gateway

GOOD = "providers: {p: {kind: mock}}\nroutes: {m: [p/x]}\nledger: off\n"
LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)  # nine levels of nine: 387 million values once expanded


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (LAUGHS, "expands to more than 100000 values"),
        ("routes: " + "[" * 5000 + "]" * 5000, "nested more than 64 levels"),
        ("routes: &r [*r]\n", "refers to itself"),
        ("# " + "x" * (2 << 20) + "\n", "is not a config"),
    ],
)
def test_a_hostile_config_is_refused_by_name(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_config_text(text, "<test>", {})


def test_aliases_within_the_bounds_still_work() -> None:
    text = "providers: {p: {kind: mock}}\nroutes: {m: &paths [p/x], n: *paths}\n"
    config = load_config_text(text, "<test>", {})
    assert [t.path for t in config.routes["n"].targets] == ["p/x"]


def test_reloading_a_hostile_file_keeps_the_running_config(tmp_path: Path) -> None:
    path = tmp_path / "turnout.yaml"
    path.write_text(GOOD)
    app = TurnoutApp(Gateway.build(load_config(path)), path)
    reloader = app.reloader
    assert reloader is not None
    running = app.gateway

    async def scenario() -> None:
        path.write_text(LAUGHS)
        assert await reloader.reload("test") is False
        assert app.gateway is running
        path.write_text(GOOD.replace("{m: [p/x]}", "{m: [p/x], n: [p/y]}"))
        assert await reloader.reload("test") is True
        assert set(app.gateway.config.routes) == {"m", "n"}
        await reloader.stop()
        await app.gateway.aclose()

    asyncio.run(scenario())
