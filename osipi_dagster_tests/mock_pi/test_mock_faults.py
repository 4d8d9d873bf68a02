"""Contract tests of the mock's fault knobs and opt-in tags (issue 9): WebException / Errors inside stream-set
items and batch sub-responses, per-endpoint server limits, hangs that end with their client, PI-shaped 401s,
awkward and dense tags, and the per-value latency model. Expected answers come from the fault-free mock and
from ``mock_pi.signals`` (the oracle), never from hard-coded numbers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from mock_pi import render, signals, webid
from mock_pi.__main__ import build_parser, config_from_args
from mock_pi.app import create_app
from mock_pi.config import MockConfig
from mock_pi.process import running_mock
from mock_pi.universe import LONG_NAME_LENGTH
from osipi_dagster.pi.errors import _ANNOUNCED_LIMIT

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_S = NOW.timestamp()
CSRF = {"X-Requested-With": "test"}
HOUR = {"startTime": "2026-11-20T09:00:00Z", "endTime": "2026-11-20T10:00:00Z"}


def make(**kw) -> TestClient:
    return TestClient(create_app(MockConfig(tags=kw.pop("tags", 200), now=NOW, **kw)))


def set_faults(client: TestClient, **settings) -> None:
    assert client.post("/admin/faults", content=orjson.dumps(settings)).status_code == 200


def counters(client: TestClient) -> dict:
    return client.get("/admin/faults").json()["Counters"]


def recorded_batch(tags, query: str = "startTime=*-2h&maxCount=1000") -> dict:
    return {
        f"r{i}": {"Method": "GET", "Resource": f"http://h/piwebapi/streams/{t.webid}/recorded?{query}"}
        for i, t in enumerate(tags)
    }


def post_batch(client: TestClient, body: dict) -> dict:
    response = client.post("/piwebapi/batch", content=orjson.dumps(body), headers=CSRF)
    assert response.status_code == 207
    return response.json()


def analog_tags(client: TestClient, n: int) -> list:
    return [t for t in client.app.state.mock.universe.tags if t.sensor.kind == "analog"][:n]


# -- A.1 WebException / Errors inside items -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["item_webexception", "item_errors"])
def test_batch_recorded_sub_responses_carry_the_fault_next_to_the_first_half(kind):
    """Runs of recorded sub-requests take the vectorised prefetch path: the fault must reach it too."""
    c = make()
    tags = analog_tags(c, 6)
    clean = post_batch(c, recorded_batch(tags))
    set_faults(c, **{f"{kind}_rate": 1.0})
    hit = post_batch(c, recorded_batch(tags))
    for rid, response in hit.items():
        full = clean[rid]["Content"]["Items"]
        assert response["Status"] == 200 and len(full) >= 2
        assert response["Content"]["Items"] == full[: len(full) // 2]
        if kind == "item_webexception":
            assert response["Content"]["WebException"]["StatusCode"] == 500
            assert response["Content"]["WebException"]["Errors"]
        else:
            assert response["Content"]["Errors"] and "WebException" not in response["Content"]
    assert counters(c)[kind] == len(tags)


def test_item_fault_on_a_non_prefetched_sub_response_respects_path_regex_and_limit():
    c = make()
    ds = c.app.state.mock.universe.data_server_webid
    tags = analog_tags(c, 4)
    body = {
        "points": {"Method": "GET", "Resource": f"http://h/piwebapi/dataservers/{ds}/points?maxCount=50"},
        **recorded_batch(tags),
    }
    clean = post_batch(c, body)
    set_faults(c, item_webexception_rate=1.0, path_regex="/points$")
    hit = post_batch(c, body)
    assert hit["points"]["Content"]["Items"] == clean["points"]["Content"]["Items"][:25]
    assert "WebException" in hit["points"]["Content"]
    assert all(hit[rid] == clean[rid] for rid in body if rid != "points")  # recorded paths do not match
    set_faults(c, item_webexception_rate=1.0, limit=2)
    limited = post_batch(c, recorded_batch(tags))
    assert sum("WebException" in r["Content"] for r in limited.values()) == 2
    assert counters(c)["item_webexception"] == 2


@pytest.mark.parametrize("operation", ["recorded", "summary"])
def test_streamset_items_carry_the_fault_and_the_outer_status_stays_200(operation):
    c = make()
    tags = analog_tags(c, 5)
    params = [("webId", t.webid) for t in tags] + [("startTime", "*-3h")]
    clean = c.get(f"/piwebapi/streamsets/{operation}", params=params).json()["Items"]
    set_faults(c, item_webexception_rate=0.5)
    response = c.get(f"/piwebapi/streamsets/{operation}", params=params)
    assert response.status_code == 200 and "WebException" not in response.json()
    damaged = 0
    for item, full in zip(response.json()["Items"], clean):
        assert item["WebId"] == full["WebId"]
        if "WebException" in item:
            damaged += 1
            assert item["Items"] == full["Items"][: len(full["Items"]) // 2]
            assert item["WebException"]["StatusCode"] == 500
        else:
            assert item == full
    assert 0 < damaged == counters(c)["item_webexception"]


def test_streamset_inside_a_batch_gets_item_faults():
    c = make()
    tags = analog_tags(c, 3)
    resource = "http://h/piwebapi/streamsets/recorded?" + "&".join(f"webId={t.webid}" for t in tags)
    set_faults(c, item_errors_rate=1.0, path_regex="streamsets")
    content = post_batch(c, {"s": {"Method": "GET", "Resource": resource}})["s"]["Content"]
    assert all("Errors" in item for item in content["Items"])


# -- A.2 per-endpoint server limits -------------------------------------------------------------------


def announced(response_errors: list[str]) -> int:
    match = _ANNOUNCED_LIMIT.search(" ".join(response_errors))  # the client's own parser
    assert match, response_errors
    return int(match.group(1))


def test_points_limited_to_20_while_recorded_allows_5000():
    c = make(max_returned_items_per_call=5000, max_returned_items_for=(("/points$", 20),))
    ds = c.app.state.mock.universe.data_server_webid
    tag = analog_tags(c, 1)[0]
    assert len(c.get(f"/piwebapi/dataservers/{ds}/points", params={"maxCount": 20}).json()["Items"]) == 20
    too_many = c.get(f"/piwebapi/dataservers/{ds}/points", params={"maxCount": 21})
    assert too_many.status_code == 400
    assert too_many.json() == {"Errors": ["Parameter 'maxCount' is greater than the maximum allowed (20)."]}
    assert c.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"maxCount": 5000}).status_code == 200
    over = c.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"maxCount": 5001})
    assert over.status_code == 400 and announced(over.json()["Errors"]) == 5000


def test_limit_inside_a_batch_is_the_sub_response_status():
    c = make(max_returned_items_for=(("/recorded$", 1000),))
    tags = analog_tags(c, 3)
    ds = c.app.state.mock.universe.data_server_webid
    body = {
        **recorded_batch(tags, "startTime=*-2h&maxCount=1001"),  # prefetched run
        "one": {"Method": "GET", "Resource": f"http://h/piwebapi/streams/{tags[0].webid}/recorded?maxCount=1001"},
        "points": {"Method": "GET", "Resource": f"http://h/piwebapi/dataservers/{ds}/points?maxCount=1001"},
    }
    out = post_batch(c, body)
    for rid in body:
        if rid == "points":
            assert out[rid]["Status"] == 200
        else:
            assert out[rid]["Status"] == 400 and announced(out[rid]["Content"]["Errors"]) == 1000


def test_limits_change_at_run_time_and_exceeding_them_is_counted():
    c = make()
    tag = analog_tags(c, 1)[0]
    ds = c.app.state.mock.universe.data_server_webid
    limits = {"MaxReturnedItemsPerCall": 1000, "MaxReturnedItemsFor": {"/points$": 20}}
    assert c.post("/admin/limits", content=orjson.dumps(limits)).json() == limits
    assert c.get("/admin/limits").json() == limits
    assert announced(c.get(f"/piwebapi/dataservers/{ds}/points", params={"maxCount": 50}).json()["Errors"]) == 20
    over = c.get(f"/piwebapi/streams/{tag.webid}/recorded", params={"maxCount": 1001})
    assert announced(over.json()["Errors"]) == 1000 and counters(c)["limit_exceeded"] == 2
    assert c.post("/admin/limits", content=b'{"MaxReturnedItemsFor": {"(": 5}}').status_code == 400
    assert c.post("/admin/limits", content=b'{"MaxReturnedItemsPerCall": 0}').status_code == 400
    assert c.post("/admin/limits", content=b"{}").json() == {
        "MaxReturnedItemsPerCall": 150_000,
        "MaxReturnedItemsFor": {},
    }
    assert c.get(f"/piwebapi/dataservers/{ds}/points", params={"maxCount": 50}).status_code == 200


def test_streamsets_check_max_count_and_stream_count_separately():
    """Documented behaviour: maxCount and the number of webIds are each checked against the limit."""
    c = make(max_returned_items_per_call=100)
    tags = c.app.state.mock.universe.tags
    params = [("webId", t.webid) for t in tags[:5]]
    # 5 streams x 100 values = 500 > 100: the product is not checked
    assert c.get("/piwebapi/streamsets/recorded", params=params + [("maxCount", 100)]).status_code == 200
    over = c.get("/piwebapi/streamsets/recorded", params=params + [("maxCount", 101)])
    assert over.status_code == 400 and "'maxCount'" in over.json()["Errors"][0]
    too_many = c.get("/piwebapi/streamsets/recorded", params=[("webId", t.webid) for t in tags[:101]])
    assert too_many.status_code == 400 and "'webId'" in too_many.json()["Errors"][0]
    assert announced(too_many.json()["Errors"]) == 100


def test_cli_flags_reach_the_config():
    args = build_parser().parse_args(
        [
            "--max-returned-items-for",
            "/points$=20",
            "--max-returned-items-for",
            "streamsets=1000",
            "--awkward-tags",
            "7",
            "--dense-tags",
            "2",
            "--item-webexception-rate",
            "0.1",
            "--item-errors-rate",
            "0.2",
            "--latency-us-per-value",
            "3",
        ]
    )
    config = config_from_args(args)
    assert config.max_returned_items_for == (("/points$", 20), ("streamsets", 1000))
    assert (config.awkward_tags, config.dense_tags) == (7, 2)
    assert config.faults == {"item_webexception_rate": 0.1, "item_errors_rate": 0.2, "latency_us_per_value": 3.0}
    assert MockConfig.from_json(config.to_json()) == config
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--max-returned-items-for", "no-limit"])


@pytest.mark.parametrize(("text", "value"), [("true", True), ("ON", True), ("0", False), ("off", False)])
def test_boolean_flags_are_strict(text, value):
    assert build_parser().parse_args(["--batch-fail-one", text]).fault_batch_fail_one is value
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--batch-fail-one", "flase"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--now", "yesterday-ish"])


# -- A.3 hangs ----------------------------------------------------------------------------------------


def test_hang_is_limited_to_a_path_and_a_count():
    async def status(app, path, timeout):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return (await asyncio.wait_for(client.get(path), timeout)).status_code

    app = create_app(
        MockConfig(
            tags=50, now=NOW, faults={"hang_rate": 1.0, "hang_seconds": 60, "limit": 1, "path_regex": "/dataservers$"}
        )
    )
    assert asyncio.run(status(app, "/piwebapi", 5)) == 200  # not matched by path_regex
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(status(app, "/piwebapi/dataservers", 0.3))
    assert asyncio.run(status(app, "/piwebapi/dataservers", 5)) == 200  # limit reached
    assert app.state.mock.faults.snapshot()["Counters"]["hang"] == 1


@pytest.mark.integration
def test_hung_request_ends_when_its_client_disconnects():
    with running_mock(
        "--tags",
        "50",
        "--now",
        NOW.isoformat(),
        "--hang-rate",
        "1",
        "--hang-seconds",
        "600",
        "--fault-path-regex",
        "/dataservers$",
    ) as server:
        admin = server.url.removesuffix("/piwebapi") + "/admin/faults"
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(server.url + "/dataservers", timeout=httpx.Timeout(5, read=0.5))
        deadline = time.monotonic() + 10
        while httpx.get(admin).json()["Counters"]["hang_abandoned"] < 1:
            assert time.monotonic() < deadline, "the hung request outlived its client"
            time.sleep(0.1)
        assert httpx.get(admin).json()["Counters"]["hang"] == 1


# -- A.4 authentication -------------------------------------------------------------------------------


def test_401_is_pi_shaped_with_one_challenge_per_scheme():
    both = make(username="pi", password="secret", bearer_token="tok").get("/piwebapi/dataservers", auth=("pi", "wrong"))
    assert both.status_code == 401
    assert both.json() == {"Message": "Authorization has been denied for this request."}
    assert both.headers.get_list("www-authenticate") == ['Basic realm="testserver"', "Bearer"]
    basic = make(username="pi", password="secret").get("/piwebapi", headers={"Authorization": "Bearer tok"})
    assert basic.headers.get_list("www-authenticate") == ['Basic realm="testserver"']


# -- A.5 awkward tags ---------------------------------------------------------------------------------

FORBIDDEN_IN_NAMES = set("*'?;{}[]|\\`\"")


@pytest.fixture(scope="module")
def awkward():
    client = make(tags=100, awkward_tags=26)
    return client, [t for t in client.app.state.mock.universe.tags if t.element is None]


def test_awkward_names_obey_pi_rules_and_reach_the_limits(awkward):
    _, tags = awkward
    assert len(tags) == 26
    for tag in tags:
        assert (tag.name[0].isalnum() or tag.name[0] in "_%") and tag.name == tag.name.strip()
        assert not FORBIDDEN_IN_NAMES & set(tag.name) and all(ch.isprintable() for ch in tag.name)
        assert len(tag.name) <= 1023
    names = "".join(t.name for t in tags)
    assert set("é µ温%#&+/=🚀") <= set(names) and max(len(t.name) for t in tags) == LONG_NAME_LENGTH
    descriptors = "".join(t.descriptor for t in tags)
    assert set('"\\\n\r\t温é') <= set(descriptors)


def test_awkward_points_round_trip_by_webid_path_and_name_filter(awkward):
    client, tags = awkward
    ds = client.app.state.mock.universe.data_server_webid
    for tag in tags:
        assert webid.decode(tag.webid).path == tag.path.lstrip("\\").upper()
        point = client.get(f"/piwebapi/points/{tag.webid}").json()
        assert (point["Name"], point["Descriptor"], point["Path"]) == (tag.name, tag.descriptor, tag.path)
        assert client.get("/piwebapi/points", params={"path": tag.path}).json()["WebId"] == tag.webid
        found = client.get(f"/piwebapi/dataservers/{ds}/points", params={"nameFilter": tag.name}).json()["Items"]
        assert [p["WebId"] for p in found] == [tag.webid]
        path_only = webid.point_webid(
            client.app.state.mock.universe.data_server_guid, tag.point_id, tag.path, "PathOnly"
        )
        assert client.get(f"/piwebapi/points/{path_only}").json()["Name"] == tag.name


def test_awkward_tags_serve_what_the_oracle_computes(awkward):
    client, tags = awkward
    params = [("webId", t.webid) for t in tags] + [("startTime", "*-6h"), ("maxCount", 150_000)]
    items = client.get("/piwebapi/streamsets/recorded", params=params).json()["Items"]
    for tag, item in zip(tags, items):
        events = signals.recorded(tag, NOW_S - 6 * 3600, NOW_S, NOW_S, 42)
        assert item["Name"] == tag.name and item["Items"] == render.timed_values(tag, events)


def test_awkward_tags_leave_the_other_tags_unchanged(awkward):
    client, _ = awkward
    plain = make(tags=100).app.state.mock.universe
    assert client.app.state.mock.universe.tags[:100] == plain.tags
    assert len(client.app.state.mock.universe.elements) == len(plain.elements)


# -- A.6 dense tags -----------------------------------------------------------------------------------


def test_dense_tags_exceed_150000_values_per_hour_with_many_events_per_timestamp():
    c = make(tags=50, dense_tags=2)
    tags = [t for t in c.app.state.mock.universe.tags if t.sensor.dense]
    start = datetime.fromisoformat(HOUR["startTime"]).timestamp()
    expected = {}
    for tag in tags:
        events = signals.recorded(tag, start, start + 3600, NOW_S, 42)
        _, per_timestamp = np.unique(events.ts, return_counts=True)
        assert len(events) > 150_000 and per_timestamp.min() >= 3
        expected[tag.webid] = render.timed_values(tag, events)[:150_000]  # PI truncates at maxCount silently
    query = {**HOUR, "maxCount": 150_000}
    for tag in tags:
        single = c.get(f"/piwebapi/streams/{tag.webid}/recorded", params=query).json()["Items"]
        assert single == expected[tag.webid]
    params = [("webId", t.webid) for t in tags] + list(query.items())
    streamset = c.get("/piwebapi/streamsets/recorded", params=params).json()["Items"]
    assert [i["Items"] for i in streamset] == [expected[t.webid] for t in tags]
    batch = post_batch(c, recorded_batch(tags, "&".join(f"{k}={v}" for k, v in query.items())))
    assert [batch[f"r{i}"]["Content"]["Items"] for i in range(len(tags))] == [expected[t.webid] for t in tags]


def test_dense_tags_do_not_change_the_other_tags():
    assert make(tags=50, dense_tags=2).app.state.mock.universe.tags[:50] == make(tags=50).app.state.mock.universe.tags


# -- A.7 latency per value ----------------------------------------------------------------------------


def test_latency_per_value_is_proportional_to_the_values_returned():
    async def timed(app, path, params):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            started = time.perf_counter()
            response = await client.get(path, params=params)
            return time.perf_counter() - started, response

    app = create_app(MockConfig(tags=50, now=NOW, faults={"latency_us_per_value": 50}))
    tag = next(t for t in app.state.mock.universe.tags if t.sensor.period_s == 10)
    elapsed, response = asyncio.run(
        timed(app, f"/piwebapi/streams/{tag.webid}/recorded", {"startTime": "*-6h", "maxCount": 5000})
    )
    values = len(response.json()["Items"])
    assert values > 1000 and elapsed >= values * 50e-6
    assert app.state.mock.faults.snapshot()["Counters"]["value_latency"] == 1
