"""MCP round trips against the REST calls that do the same work, in one
process, alternating: `cargo bench -p jobhost --bench front_ends` runs it.

Usage: bench.py API_BASE TOKEN ROUNDS
Prints one JSON object of per-round milliseconds (medians and p90s).
"""

import asyncio
import json
import statistics
import sys
import time

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

CONFIG = {"text": "It was the best of times, it was the worst of times.", "top_n": 3}


def summary(samples):
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 3),
        "rounds": len(ordered),
    }


async def rest_run(http, api):
    job = (await http.post(api + "/jobs", json={"job_type": "text_stats", "config": CONFIG})).json()
    run = (await http.post(api + "/job-runs", json={"job_id": job["uuid"]})).json()
    # Follow the run's event stream until it ends (it ends after the terminal status).
    async with http.stream("GET", api + "/job-runs/" + run["uuid"] + "/events") as events:
        async for _ in events.aiter_lines():
            pass
    done = (await http.get(api + "/job-runs/" + run["uuid"])).json()
    assert done["status"] == "completed", done


async def main():
    api, token, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    base = api.removesuffix("/api/v1")
    headers = {"Authorization": f"Bearer {token}"}
    times = {"rest_schemas": [], "mcp_list_tools": [], "rest_create_run_follow": [], "mcp_call_tool": []}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        mcp_http = httpx2.AsyncClient(headers=headers, timeout=60)
        async with Client(streamable_http_client(base + "/mcp", http_client=mcp_http), cache=None) as c:
            # Warm up both paths.
            for _ in range(3):
                await rest_run(http, api)
                await c.call_tool("text_stats", CONFIG)
            for _ in range(rounds):
                t = time.perf_counter()
                (await http.get(api + "/jobs/schemas")).raise_for_status()
                times["rest_schemas"].append(time.perf_counter() - t)
                t = time.perf_counter()
                await c.list_tools()
                times["mcp_list_tools"].append(time.perf_counter() - t)
                t = time.perf_counter()
                await rest_run(http, api)
                times["rest_create_run_follow"].append(time.perf_counter() - t)
                t = time.perf_counter()
                r = await c.call_tool("text_stats", CONFIG)
                times["mcp_call_tool"].append(time.perf_counter() - t)
                assert not r.is_error and r.structured_content["status"] == "completed", r
            protocol = c.protocol_version
    print(json.dumps({"protocol_version": protocol, **{k: summary(v) for k, v in times.items()}}))


asyncio.run(main())
