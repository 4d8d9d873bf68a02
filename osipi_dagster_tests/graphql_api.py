"""Dagster's GraphQL API, the one the UI calls, for the integration tests that drive a real webserver."""

from __future__ import annotations

import httpx

# The code location as workspace.yaml names it, and the repository Dagster makes of a Definitions object.
REPOSITORY = {"repositoryLocationName": "osipi_dagster", "repositoryName": "__repository__"}

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""
SENSORS = """
query($repository: RepositorySelector!) { sensorsOrError(repositorySelector: $repository) {
  __typename ... on Sensors { results { id name sensorState { status } } } } }"""
STOP_SENSOR = "mutation($id: String) { stopSensor(id: $id) { __typename } }"
BACKFILL_RUNS = """
query($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
  ... on Runs { results { runId status } } } }"""
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def graphql(url: str, query: str, **variables) -> dict:
    """The ``data`` of a GraphQL answer; fails on an HTTP error or a GraphQL error (a wrong query)."""
    response = httpx.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def stop_sensors(url: str) -> set[str]:
    """Stop every sensor of the code location, as an operator would in the UI (they start RUNNING by default);
    returns their names."""
    sensors = graphql(url, SENSORS, repository=REPOSITORY)["sensorsOrError"]["results"]
    for sensor in sensors:
        if sensor["sensorState"]["status"] != "STOPPED":
            assert graphql(url, STOP_SENSOR, id=sensor["id"])["stopSensor"]["__typename"] == "StopSensorMutationResult"
    return {sensor["name"] for sensor in sensors}
