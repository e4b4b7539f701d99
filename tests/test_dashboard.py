"""The dashboard: who may open it, its event stream, and the real page in headless Chromium."""

from __future__ import annotations

import asyncio
import contextvars
import http.client
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.clients import Clients
from tests.fakes import Fail, Reply, RunningUpstream
from tests.gateway import RunningGateway, gateway_over, request, running_gateway
from tests.serving import GatewayProcess
from tests.waiting import READY_WITHIN_S, wait_until
from turnout.diagnosis.messages import advice_for
from turnout.diagnosis.taxonomy import Category
from turnout.edge.app import Request
from turnout.edge.dashboard import _admit, _cookie_token
from turnout.errors import ClientRequestError
from turnout.ledger.record import RequestRecord
from turnout.ledger.store import Database, LedgerStore, Row, migrate, open_database
from turnout.runtime.configs import load_config_text
from turnout.runtime.gateway import Gateway
from turnout.telemetry.snapshot import usage_tables

ADMIN_KEY = "admin-planted-7a1e44c0"
GATEWAY_KEY = "gw-planted-0b9d2f61"
ENV = {"P_KEY": "sk-planted-p-1111111111", "B_KEY": "sk-planted-b-2222222222"}
QUOTA = '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}'
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


# --- who may open it -----------------------------------------------------------------------


def fake_request(
    config_yaml: str, client: str, headers: dict[str, str], query: str = ""
) -> tuple[Request, Gateway]:
    config = load_config_text(config_yaml, "<test>", {"ADMIN": ADMIN_KEY, "GW": GATEWAY_KEY})
    gateway = Gateway.build(config)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/dashboard",
        "query_string": query.encode(),
        "client": (client, 50000),
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }

    async def never(*_: Any) -> Any:
        raise AssertionError

    # In its own context, as each request's task has: the request id it sets stays there.
    made = contextvars.copy_context().run(Request, scope, never, never, "/dashboard", gateway)
    return made, gateway


OPEN = "providers: {p: {kind: mock}}\nroutes: {m: [p/x]}\n"
KEYED = OPEN + "server: {keys: ['${GW}'], admin_key: '${ADMIN}'}\n"
KEYED_NO_ADMIN = OPEN + "server: {keys: ['${GW}']}\n"


def refusal(config: str, client: str = "127.0.0.1", query: str = "", **headers: str) -> int | None:
    req, gateway = fake_request(config, client, headers, query)
    try:
        _admit(req, gateway)
    except ClientRequestError as exc:
        return exc.status
    return None


def test_without_keys_only_loopback_may_look() -> None:
    assert refusal(OPEN, "127.0.0.1") is None
    assert refusal(OPEN, "::1") is None
    assert refusal(OPEN, "192.0.2.7") == 403


def test_with_keys_the_admin_key_is_needed_in_any_of_its_forms() -> None:
    assert refusal(KEYED, "192.0.2.7") == 401
    assert refusal(KEYED, "127.0.0.1") == 401  # loopback is no exemption once keys exist
    assert refusal(KEYED, **{"x-api-key": GATEWAY_KEY}) == 401  # a client key is not enough
    assert refusal(KEYED, "192.0.2.7", **{"authorization": f"Bearer {ADMIN_KEY}"}) is None
    assert refusal(KEYED, "192.0.2.7", **{"x-api-key": ADMIN_KEY}) is None
    assert refusal(KEYED, "192.0.2.7", query=f"key={ADMIN_KEY}") is None
    cookie = f"other=1; turnout_admin={_cookie_token(ADMIN_KEY)}"
    assert refusal(KEYED, "192.0.2.7", cookie=cookie) is None
    assert refusal(KEYED, "192.0.2.7", cookie=f"turnout_admin={ADMIN_KEY}") == 401


def test_without_an_admin_key_loopback_may_look_even_once_gateway_keys_exist() -> None:
    """The operator at the machine keeps a view, also after revoking every gateway key."""
    assert refusal(KEYED_NO_ADMIN, "127.0.0.1") is None
    assert refusal(KEYED_NO_ADMIN, "::1") is None
    assert refusal(KEYED_NO_ADMIN, "192.0.2.7") == 403
    assert refusal(KEYED_NO_ADMIN, "192.0.2.7", **{"x-api-key": GATEWAY_KEY}) == 403


# --- a gateway with a failover -------------------------------------------------------------


@contextmanager
def failover_gateway() -> Iterator[tuple[RunningGateway, RunningUpstream, RunningUpstream]]:
    """Route `m`: a primary that answers quota, then a backup; keys for clients and admin."""
    with gateway_over(
        "openai", "openai", route="m", names=["primary", "backup"],
        models=["gpt-4o", "gpt-4o-mini"], defaults={"gate_s": 600},
        per_path=[{"api_key": "${P_KEY}"}, {"api_key": "${B_KEY}"}],
        extra={"server": {"keys": ["${GW}"], "admin_key": "${ADMIN}"}},
        env={**ENV, "GW": GATEWAY_KEY, "ADMIN": ADMIN_KEY},
    ) as (gateway, [primary, backup]):  # fmt: skip
        primary.script(Fail(429, QUOTA))
        backup.script(Reply(text="from backup"))
        yield gateway, primary, backup


def ask(clients: Clients, url: str) -> None:
    client = clients.openai(url, key=GATEWAY_KEY)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_the_page_and_its_state_need_the_admin_key_and_carry_a_request_id() -> None:
    with failover_gateway() as (gw, _, _):
        refused = request(gw.url, "GET", "/dashboard")
        assert refused.status == 401
        assert refused.headers["x-request-id"]
        assert json.loads(refused.body)["error"]["code"] == "invalid_admin_key"
        opened = request(gw.url, "GET", f"/dashboard?key={ADMIN_KEY}")
        assert opened.status == 303
        assert opened.headers["location"] == "/dashboard"
        cookie = opened.headers["set-cookie"].split(";")[0]
        assert ADMIN_KEY not in cookie
        page = request(gw.url, "GET", "/dashboard", headers={"cookie": cookie})
        assert page.status == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-request-id"]
        for asset in ("/dashboard/app.js", "/dashboard/app.css"):
            assert request(gw.url, "GET", asset, headers={"cookie": cookie}).status == 200


def read_event(stream: Any) -> tuple[str, dict[str, Any]]:
    """The next named event of a server-sent event stream."""
    name, data = "", ""
    while True:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif not line and name:
            return name, json.loads(data)


def test_the_event_stream_sends_a_snapshot_when_a_request_is_recorded(clients: Clients) -> None:
    with failover_gateway() as (gw, _, _):
        host, port = gw.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", "/dashboard/events", headers={"x-api-key": ADMIN_KEY})
            response = connection.getresponse()
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-request-id"]
            name, first = read_event(response)
            assert (name, first["totals"]["requests"]) == ("snapshot", 0)
            ask(clients, gw.url)
            name, second = read_event(response)
            assert (name, second["totals"]["requests"]) == ("snapshot", 1)
            primary = second["routes"][0]["paths"][0]
            assert (primary["path"], primary["state"]) == ("primary/gpt-4o", "gated")
            assert (
                primary["title"]["zh"]
                == advice_for("insufficient_quota", Category.QUOTA, "zh").title
            )
            assert second["failures"][0]["served_by"] == "backup/gpt-4o-mini"
            state = request(gw.url, "GET", "/dashboard/state", headers={"x-api-key": ADMIN_KEY})
            assert json.loads(state.body)["totals"] == second["totals"]
        finally:
            connection.close()


def test_a_closed_stream_stops_listening() -> None:
    """A browser tab that closes must not leave a listener behind on the telemetry."""
    with failover_gateway() as (gw, _, _):
        telemetry = gw.gateway.shared.telemetry
        host, port = gw.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/dashboard/events", headers={"x-api-key": ADMIN_KEY})
        read_event(connection.getresponse())
        assert len(telemetry._listeners) == 1
        connection.close()
        wait_until(lambda: not telemetry._listeners, what="the listener gone")


# --- the real page in a real browser -------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("no /usr/bin/chromium or /usr/bin/chromedriver: run `make browser`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="turnout-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--lang=en-US",
        "--window-size=1440,1100",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver: Any, check: Any, seconds: float = READY_WITHIN_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(check)


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.slow
def test_the_page_shows_a_gated_path_switches_language_and_updates_live(
    browser: Any, clients: Clients
) -> None:
    from selenium.webdriver.common.by import By

    english = advice_for("insufficient_quota", Category.QUOTA, "en").title
    chinese = advice_for("insufficient_quota", Category.QUOTA, "zh").title
    ARTIFACTS.mkdir(exist_ok=True)
    with failover_gateway() as (gw, _, _):
        ask(clients, gw.url)  # primary answers quota: gated, backup serves
        browser.get(f"{gw.url}/dashboard?key={ADMIN_KEY}")
        assert browser.current_url == f"{gw.url}/dashboard"  # the key left the address bar
        gated = '[data-path="primary/gpt-4o"][data-state="gated"]'
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, gated))
        assert english in text_of(browser, gated)
        assert re.search(r"probes it again in \d+:\d\d", text_of(browser, f"{gated} .countdown"))
        # The provider's reset is its own line (none was given here), and what a gate means
        # is said once, above the routes, not on each card.
        assert "the provider gave no reset time" in text_of(browser, f"{gated} .provider-reset")
        assert "does not lift it" in text_of(browser, "#gate-meaning")
        assert "does not lift it" not in text_of(browser, gated)
        assert text_of(browser, '[data-path="backup/gpt-4o-mini"] .badge') == "healthy"
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#traffic svg rect.err"))
        assert english in text_of(browser, "#failures")
        assert text_of(browser, "#total-requests") == "1"
        assert text_of(browser, "#totals-since").startswith("since ")  # this run's counters
        # The settled snapshot brings the ledger's usage tables, once the request is stored.
        stored = "from the ledger (with the gateway's earlier runs): 1 requests, 0 failed"
        wait_for(browser, lambda d: stored in d.find_element(By.ID, "usage-hint").text)
        browser.save_screenshot(str(ARTIFACTS / "dashboard-desktop.png"))
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        browser.save_screenshot(str(ARTIFACTS / "dashboard-desktop-bottom.png"))

        browser.find_element(By.ID, "lang").click()
        wait_for(browser, lambda d: chinese in d.find_element(By.CSS_SELECTOR, gated).text)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        browser.save_screenshot(str(ARTIFACTS / "dashboard-desktop-zh.png"))
        browser.find_element(By.ID, "lang").click()
        wait_for(browser, lambda d: english in d.find_element(By.CSS_SELECTOR, gated).text)

        browser.execute_script("window.__sameDocument = true;")
        ask(clients, gw.url)
        wait_for(browser, lambda d: d.find_element(By.ID, "total-requests").text == "2")
        assert browser.execute_script("return window.__sameDocument === true;")

        browser.set_window_size(390, 844)
        wait_for(browser, lambda d: d.execute_script("return window.innerWidth;") <= 400)
        width = browser.execute_script("return document.documentElement.scrollWidth;")
        assert width <= 400, "the phone layout scrolls sideways"
        browser.save_screenshot(str(ARTIFACTS / "dashboard-phone.png"))
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        browser.save_screenshot(str(ARTIFACTS / "dashboard-phone-bottom.png"))
        assert console_errors(browser) == []


def test_the_stream_survives_an_idle_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing happening, the stream sends heartbeats (here every 0.1 s)."""
    monkeypatch.setattr("turnout.edge.dashboard.HEARTBEAT_S", 0.1)
    with failover_gateway() as (gw, _, _):
        host, port = gw.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", "/dashboard/events", headers={"x-api-key": ADMIN_KEY})
            response = connection.getresponse()
            assert read_event(response)[0] == "snapshot"
            name, beat = read_event(response)
            assert name == "heartbeat"
            assert beat["ts"] == pytest.approx(time.time(), abs=5)
        finally:
            connection.close()


def test_until_first_cancels_the_rest() -> None:
    from turnout.edge.dashboard import _until_first

    finished: list[str] = []

    async def quick() -> None:
        finished.append("quick")

    async def slow() -> None:
        await asyncio.sleep(10)
        finished.append("slow")

    asyncio.run(asyncio.wait_for(_until_first(quick(), slow()), 2))
    assert finished == ["quick"]


def test_stopping_the_server_ends_open_event_streams_at_once() -> None:
    """`turnout serve` with a dashboard open ends its event streams as it stops, rather than
    holding them open through its 30 s graceful timeout and cutting them."""
    gateway = GatewayProcess(None, "--demo").wait_ready()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
    try:
        connection.request("GET", "/dashboard/events")
        response = connection.getresponse()
        assert read_event(response)[0] == "snapshot"
        gateway.proc.terminate()
        assert response.read() == b""  # the stream was ended (a cut raises IncompleteRead)
        # Only a stream held open until the graceful timeout (30 s) would take this long.
        gateway.proc.wait(timeout=25)
    finally:
        connection.close()
        gateway.stop()


class CountingDatabase:
    """A real database that counts the rows its queries return."""

    def __init__(self, db: Database) -> None:
        self.db, self.engine, self.rows = db, db.engine, 0

    def transaction(self) -> Any:
        return self.db.transaction()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows = self.db.query(sql, params)
        self.rows += len(rows)
        return rows

    def close(self) -> None:
        self.db.close()


def test_the_usage_tables_read_as_many_rows_for_a_thousand_requests_as_for_ten(
    tmp_path: Path,
) -> None:
    """An open page has its usage tables read about once a second: they are sums made by the
    database, so what one reading takes does not grow with the week's requests. (Fetched one
    by one, the gateway's memory grew with its ledger for as long as a dashboard was open.)"""
    db = CountingDatabase(open_database(str(tmp_path / "ledger.sqlite3")))
    migrate(db.db)
    now = time.time()

    def requests(numbers: range) -> list[RequestRecord]:
        return [
            RequestRecord(
                id=f"r{i}", ts=now - 3600 - (i % 8) * 900, model="m", route="m",
                client_dialect="openai", stream=False, status=200, outcome="ok",
                path=f"p/x{i % 2}", provider="p", key_id=f"k{i % 3}", cost_usd=0.001,
            )
            for i in numbers
        ]  # fmt: skip

    def rows_read(records: list[RequestRecord]) -> tuple[int, dict[str, Any]]:
        LedgerStore(db.db).store(records, "test", 0)
        before = db.rows
        tables = usage_tables(db, now)
        return db.rows - before, tables

    few, tables = rows_read(requests(range(10)))
    assert tables["totals"]["requests"] == 10
    many, tables = rows_read(requests(range(10, 1000)))
    assert tables["totals"]["requests"] == sum(g["requests"] for g in tables["by_day"]) == 1000
    assert {g["group"]: g["requests"] for g in tables["by_path"]} == {"p/x0": 500, "p/x1": 500}
    assert tables["totals"]["cost_usd"] == pytest.approx(1.0)
    assert many == few
    db.close()


def test_the_counters_say_since_when_and_the_ledger_tables_cover_earlier_runs_too(
    tmp_path: Path,
) -> None:
    """The headline counters cover this run; the usage tables cover days of the ledger, an
    earlier run's requests too. Each says which, so the two never read as the same number."""
    ledger = tmp_path / "ledger.sqlite3"
    db = open_database(str(ledger))
    migrate(db)
    earlier = RequestRecord(
        id="earlier-run", ts=time.time() - 3600, model="m", route="m", client_dialect="openai",
        stream=False, status=200, outcome="ok", path="p/x", provider="p",
    )  # fmt: skip
    LedgerStore(db).store([earlier], "test", 0)
    db.close()
    config = {"ledger": str(ledger), "providers": {"p": {"kind": "mock"}}, "routes": {"m": ["p/x"]}}
    before = time.time()
    with running_gateway(yaml.safe_dump(config)) as gw:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        assert request(gw.url, "POST", "/v1/chat/completions", body).status == 200

        def state() -> dict[str, Any]:
            reply = request(gw.url, "GET", "/dashboard/state")
            assert reply.status == 200
            result: dict[str, Any] = reply.json()  # type: ignore[assignment]
            return result

        wait_until(lambda: state()["usage"]["totals"]["requests"] == 2, what="the ledger stored")
        totals = state()["totals"]
    assert totals["requests"] == 1
    assert before <= totals["since"] <= time.time()


def test_the_ledger_tables_catch_up_with_the_counters_without_another_request(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """However late the ledger stores a request, the page gets a snapshot whose tables
    include it: the counters and the tables end up agreeing with no further traffic."""
    release = threading.Event()
    store = LedgerStore.store

    def held_store(self: LedgerStore, records: list[RequestRecord], *args: Any) -> None:
        if records:
            release.wait(READY_WITHIN_S)  # stored only once the page has seen the counters
        store(self, records, *args)

    monkeypatch.setattr(LedgerStore, "store", held_store)
    config = {
        "ledger": str(tmp_path / "ledger.sqlite3"),
        "providers": {"p": {"kind": "mock"}},
        "routes": {"m": ["p/x"]},
    }
    with running_gateway(yaml.safe_dump(config)) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=READY_WITHIN_S)
        try:
            connection.request("GET", "/dashboard/events")
            events = connection.getresponse()
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            assert request(gw.url, "POST", "/v1/chat/completions", body).status == 200
            name, snapshot = read_event(events)
            while snapshot["totals"]["requests"] == 0:
                name, snapshot = read_event(events)
            assert snapshot["usage"]["totals"]["requests"] == 0  # not stored yet
            name, snapshot = read_event(events)  # the snapshot once things went quiet
            assert (name, snapshot["usage"]["totals"]["requests"]) == ("snapshot", 0)
            release.set()  # the ledger stores it only now, after the page has settled
            name, snapshot = read_event(events)
            assert name == "snapshot", "a heartbeat came, and no snapshot with the stored tables"
            while snapshot["usage"]["totals"]["requests"] == 0:
                name, snapshot = read_event(events)
                assert name == "snapshot"
            assert snapshot["usage"]["totals"]["requests"] == snapshot["totals"]["requests"] == 1
        finally:
            release.set()
            connection.close()
