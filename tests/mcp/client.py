"""Drives jobhost's /mcp with the official Python MCP client (PyPI `mcp`).

Usage: client.py SCENARIO URL TOKEN [ARGS...]

Each scenario does what an agent would and prints one JSON object of what
it saw on stdout; the Rust integration tests (tests/integration/mcp.rs)
start the real server, run this, and assert on that object.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def connect(url, token=None, headers=None, mode="auto", seen=None, on_message=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    hooks = {}
    if seen is not None:

        async def record(response):
            await response.aread()
            seen.append({"status": response.status_code, "body": response.text[:2000]})

        hooks["response"] = [record]
    http = httpx2.AsyncClient(headers=h, timeout=120, event_hooks=hooks)
    return Client(
        streamable_http_client(url, http_client=http), mode=mode, message_handler=on_message
    )


def result(r):
    return {
        "is_error": bool(r.is_error),
        "structured": r.structured_content,
        "text": [c.text for c in r.content if getattr(c, "text", None) is not None],
    }


def tool_view(t):
    a = t.annotations
    return {
        "name": t.name,
        "title": t.title,
        "description": t.description,
        "input_schema": t.input_schema,
        "annotations": None
        if a is None
        else {
            "title": a.title,
            "read_only": a.read_only_hint,
            "destructive": a.destructive_hint,
            "idempotent": a.idempotent_hint,
            "open_world": a.open_world_hint,
        },
    }


async def tour(url, token, mode):
    """Lists tools, runs prime_sieve to completion with progress, breaks the
    schema, and reads the run back with the fixed tools."""
    out = {}
    async with connect(url, token, mode=mode) as c:
        out["protocol_version"] = c.protocol_version
        out["tools"] = [tool_view(t) for t in (await c.list_tools()).tools]
        progress = []

        async def on_progress(p, total, message):
            progress.append({"progress": p, "total": total, "message": message})

        done = await c.call_tool(
            "prime_sieve", {"limit": 200000}, progress_callback=on_progress
        )
        out["completed"] = result(done)
        out["invalid"] = result(
            await c.call_tool("prime_sieve", {"limit": "many", "segment_size": 5})
        )
        run_id = done.structured_content["job_run_id"]
        out["get_run"] = result(await c.call_tool("get_run", {"job_run_id": run_id}))
        out["get_run_logs"] = result(
            await c.call_tool("get_run_logs", {"job_run_id": run_id, "limit": 5})
        )
        out["list_runs"] = result(
            await c.call_tool("list_runs", {"job_types": ["prime_sieve"], "limit": 5})
        )
        out["list_job_types"] = result(
            await c.call_tool("list_job_types", {"creatable_by_agent": False})
        )
        out["bad_arguments"] = result(
            await c.call_tool("get_run", {"job_run_id": "not-a-uuid"})
        )
        try:
            await c.call_tool("no_such_tool", {})
            out["unknown_tool"] = "answered"
        except Exception as e:  # a protocol error, not a tool result
            out["unknown_tool"] = str(e)
    return out


async def long_run(url, token, mode):
    """A run longer than the server's wait: the call answers with the run's
    id while it runs, with progress on the way; cancel_run stops it."""
    out = {}
    async with connect(url, token, mode=mode) as c:
        progress = []

        async def on_progress(p, total, message):
            progress.append({"progress": p, "total": total, "message": message})

        r = await c.call_tool(
            "prime_sieve",
            {"limit": 5_000_000_000},
            progress_callback=on_progress,
        )
        out["call"] = result(r)
        out["progress"] = progress
        run_id = r.structured_content["job_run_id"]
        out["cancel"] = result(await c.call_tool("cancel_run", {"job_run_id": run_id}))
        out["after"] = result(await c.call_tool("get_run", {"job_run_id": run_id}))
    return out


async def agent(url, token, mode):
    """What an agent token sees and may call."""
    out = {}
    async with connect(url, token, mode=mode) as c:
        out["tools"] = [t.name for t in (await c.list_tools()).tools]
        out["forbidden"] = result(
            await c.call_tool("http_request", {"url": "https://example.com/"})
        )
        out["allowed"] = result(await c.call_tool("text_stats", {"text": "one two"}))
    return out


async def read_run(url, token, mode, run_id):
    """get_run and cancel_run of a given run id (another tenant's)."""
    async with connect(url, token, mode=mode) as c:
        return {
            "get_run": result(await c.call_tool("get_run", {"job_run_id": run_id})),
            "cancel_run": result(
                await c.call_tool("cancel_run", {"job_run_id": run_id})
            ),
        }


async def refused(url, token, mode, host=None):
    """Connects without a token, or with a foreign Host header."""
    headers = {"Host": host} if host else {}
    seen = []
    try:
        async with connect(url, token, headers=headers, mode=mode, seen=seen) as c:
            await c.list_tools()
        return {"connected": True, "responses": seen}
    except BaseException as e:  # noqa: BLE001 - report whatever the client raised
        return {"connected": False, "error": repr(e), "responses": seen}


async def list_changed(url, token, mode, yank_url, operator):
    """Waits for a tool list change (on a subscriptions/listen stream, or
    on the session's stream for older protocol versions), yanks a job type
    over REST, and checks the notification comes and the tool is gone."""
    out = {}
    changed = asyncio.Event()

    async def on_message(message):
        if type(message).__name__ == "ToolListChangedNotification" or "list_changed" in repr(
            message
        ):
            changed.set()

    async def yank():
        async with httpx2.AsyncClient() as http:
            r = await http.patch(
                yank_url,
                headers={"Authorization": f"Bearer {operator}"},
                json={"status": "yanked", "reason": "test"},
            )
            out["yank_status"] = r.status_code

    async with connect(url, token, mode=mode, on_message=on_message) as c:
        out["protocol_version"] = c.protocol_version
        out["before"] = [t.name for t in (await c.list_tools()).tools]
        if mode == "legacy":
            # The session's standalone stream opens in the background.
            await asyncio.sleep(1)
            await yank()
            await asyncio.wait_for(changed.wait(), timeout=20)
            out["events"] = ["ToolListChangedNotification"]
        else:
            async with c.listen(tools_list_changed=True) as sub:
                await yank()
                events = []

                async def first():
                    async for event in sub:
                        events.append(type(event).__name__)
                        return

                await asyncio.wait_for(first(), timeout=20)
                out["events"] = events
        out["after"] = [t.name for t in (await c.list_tools()).tools]
    return out


SCENARIOS = {
    "tour": tour,
    "long_run": long_run,
    "agent": agent,
    "read_run": read_run,
    "refused": refused,
    "list_changed": list_changed,
}


def main():
    scenario, url, token, *rest = sys.argv[1:]
    mode = "auto"
    if scenario.endswith("@legacy"):
        scenario, mode = scenario[: -len("@legacy")], "legacy"
    out = asyncio.run(SCENARIOS[scenario](url, token or None, mode, *rest))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
