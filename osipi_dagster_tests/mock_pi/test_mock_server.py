"""Errors, auth, limits, fault injection and admin endpoints of the mock (docs/pi-web-api.md#errors,
#server-limits, #authentication), plus the mock as a real ``python -m mock_pi`` process."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from mock_pi.app import create_app
from mock_pi.config import MockConfig
from mock_pi.http import parse_query
from mock_pi.process import running_mock

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CSRF = {"X-Requested-With": "test"}


def make(**kw):
    return TestClient(create_app(MockConfig(tags=200, now=NOW, **kw)))


@pytest.mark.parametrize(
    "query",
    [
        "",
        "a",
        "a=",
        "=",
        "=x",
        "&&a=1&&",
        "a=1&A=2&a=3",
        "a=b=c",
        "%41=%42&b=%zz&c=%",
        "a+b=c+d&e=%2B",
        "x=ä;y=1",
        "webId=I1DPabc-_&startTime=2026-11-20T10%3A00%3A00Z",
        urlencode([("webId", "I1DP-_x"), ("selectedFields", "Items.WebId;Items.Items.Value"), ("n", "a b&c")]),
    ],
)
def test_query_parser_agrees_with_parse_qsl(query):
    """The mock's query parser (plain fields split without decoding) gives what ``parse_qsl`` gives."""
    assert parse_query(query) == parse_qsl(query, keep_blank_values=True)


def test_errors_are_pi_shaped_never_fastapi_detail():
    c = make()
    answers = [
        (c.get("/piwebapi/nowhere"), 404),  # unknown path
        (c.get("/piwebapi/points/F1DPxx"), 400),  # a WebID that does not decode
        (c.post("/piwebapi/system", headers=CSRF), 405),
    ]  # a method the resource does not support
    for response, status in answers:
        assert response.status_code == status and "Errors" in response.json() and "detail" not in response.json()


def test_basic_and_bearer_auth():
    c = make(username="pi", password="secret", bearer_token="tok")
    denied = c.get("/piwebapi")
    assert denied.status_code == 401
    assert denied.json() == {"Message": "Authorization has been denied for this request."}
    assert denied.headers["WWW-Authenticate"].startswith("Basic")
    assert c.get("/piwebapi", auth=("pi", "secret")).status_code == 200
    assert c.get("/piwebapi", auth=("pi", "wrong")).status_code == 401
    assert c.get("/piwebapi", headers={"Authorization": "Bearer tok"}).status_code == 200
    bearer_only = make(bearer_token="tok").get("/piwebapi")
    assert bearer_only.status_code == 401 and bearer_only.headers["WWW-Authenticate"].startswith("Bearer")


def test_request_size_limit_gives_413():
    c = make(max_request_content_length=1000)
    response = c.post("/piwebapi/batch", content=b"{" + b" " * 2000 + b"}", headers=CSRF)
    assert response.status_code == 413 and response.json()["Errors"]


def test_rate_limit_gives_429():
    c = make(rate_limit_per_second=5)
    responses = [c.get("/piwebapi") for _ in range(30)]  # the 1-second window may roll over once
    statuses = [r.status_code for r in responses]
    assert statuses[0] == 200 and statuses.count(200) <= 10
    limited = next(r for r in responses if r.status_code == 429)
    assert "Rate limit was reached" in limited.json()["Errors"][0] and limited.headers["Retry-After"]


def test_injected_503_then_recovery_and_counters():
    c = make(faults={"rate_503": 1.0, "retry_after_s": 7, "limit": 2})
    first, second, third = (c.get("/piwebapi") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.headers["Retry-After"] == "7"
    state = c.get("/admin/faults").json()
    assert state["Counters"]["unavailable"] == 2 and state["Requests"] == 3


def test_admin_faults_switches_faults_at_run_time():
    c = make()
    assert c.post("/admin/faults", content=orjson.dumps({"rate_429": 1.0, "path_regex": "streams"})).status_code == 200
    tag = c.app.state.mock.universe.tags[0]
    assert c.get("/piwebapi").status_code == 200  # not matched by path_regex
    limited = c.get(f"/piwebapi/streams/{tag.webid}/recorded")
    assert limited.status_code == 429 and "Rate limit was reached" in limited.json()["Errors"][0]
    assert c.post("/admin/faults", content=b'{"nonsense": 1}').status_code == 400
    c.post("/admin/faults", content=b"{}")
    assert c.get(f"/piwebapi/streams/{tag.webid}/recorded").status_code == 200


@pytest.mark.parametrize("kind", ["malformed_rate", "truncated_rate"])
def test_broken_bodies(kind):
    c = make(faults={kind: 1.0})
    response = c.get("/piwebapi/dataservers")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        orjson.loads(response.content)
    assert c.get("/admin/faults").json()["Counters"][kind.removesuffix("_rate")] == 1


def test_mid_body_webexception():
    c = make(faults={"webexception_rate": 1.0})
    tags = c.app.state.mock.universe.tags[:4]
    body = c.get("/piwebapi/streamsets/recorded", params=[("webId", t.webid) for t in tags]).json()
    assert body["WebException"]["StatusCode"] == 500 and len(body["Items"]) == 2


@pytest.mark.parametrize("resource", ["system", "streams/{webid}/recorded"])  # the second is prefetched
def test_one_batch_sub_request_fails(resource):
    c = make(faults={"batch_fail_one": True})
    tag = c.app.state.mock.universe.tags[0]
    body = {
        str(i): {"Method": "GET", "Resource": f"http://h/piwebapi/{resource.format(webid=tag.webid)}"} for i in range(5)
    }
    out = c.post("/piwebapi/batch", content=orjson.dumps(body), headers=CSRF).json()
    assert sorted(r["Status"] for r in out.values()) == [200, 200, 200, 200, 500]
    assert c.get("/admin/faults").json()["Counters"]["batch_item"] == 1


def test_latency_and_hang_are_applied():
    async def call(app, timeout):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.perf_counter()
            await asyncio.wait_for(client.get("/piwebapi"), timeout)
            return time.perf_counter() - started

    slow = create_app(MockConfig(tags=50, now=NOW, faults={"latency_ms": 200}))
    assert asyncio.run(call(slow, 5)) >= 0.2
    hung = create_app(MockConfig(tags=50, now=NOW, faults={"hang_rate": 1.0, "hang_seconds": 60}))
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(call(hung, 0.3))
    assert hung.state.mock.faults.snapshot()["Counters"]["hang"] == 1


def test_admin_clock():
    c = make()
    assert c.get("/admin/clock").json()["Now"] == "2026-11-20T12:00:00Z"
    assert c.post("/admin/clock", json={"now": "2026-11-21T00:00:00Z"}).json()["Now"] == "2026-11-21T00:00:00Z"
    assert c.post("/admin/clock", json={"advanceSeconds": 60}).json()["Now"] == "2026-11-21T00:01:00Z"
    assert c.get("/piwebapi/dataservers").json()["Items"][0]["ServerTime"] == "2026-11-21T00:01:00Z"


@pytest.mark.integration
def test_real_process_with_two_workers_serves_identical_data():
    with running_mock("--tags", "300", "--now", NOW.isoformat(), "--workers", "2") as server:
        with httpx.Client(base_url=server.url + "/", timeout=30) as http:
            ds = http.get("dataservers").json()["Items"][0]
            tags = http.get(ds["Links"]["Points"], params={"maxCount": 20}).json()["Items"]
        params = [("webId", t["WebId"]) for t in tags] + [("startTime", "*-2h")]
        admin = server.url.removesuffix("/piwebapi") + "/admin/process"
        bodies_by_pid: dict[int, set[bytes]] = {}
        for _ in range(200):
            # A new connection each time (the kernel spreads them over the workers); both requests share it,
            # so the worker that reported its PID is the one that served the values.
            with httpx.Client(base_url=server.url + "/", timeout=30) as http:
                pid = http.get(admin).json()["Pid"]
                bodies_by_pid.setdefault(pid, set()).add(http.get("streamsets/recorded", params=params).content)
            if len(bodies_by_pid) == 2:
                break
        assert len(bodies_by_pid) == 2, "only one worker process answered"
        bodies = set().union(*bodies_by_pid.values())
        assert len(bodies) == 1  # both workers serve the same bytes
        in_process = TestClient(create_app(MockConfig(tags=300, now=NOW)))
        assert orjson.loads(bodies.pop()) == orjson.loads(
            in_process.get("/piwebapi/streamsets/recorded", params=params).content.replace(
                b"http://testserver", server.url.removesuffix("/piwebapi").encode()
            )
        )
