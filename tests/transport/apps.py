"""Target behaviours for transport tests: fast, slow, huge, resetting, redirecting, rate-limiting."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.servers import Recorder


def target_app(recorder: Recorder, *, sink_url: str = "") -> web.Application:
    """An app whose routes misbehave in the ways a hostile or broken target does."""
    routes = web.RouteTableDef()
    state = {"limited": 0}

    @routes.get("/ok")
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    @routes.post("/login")
    async def login(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok-" + (await request.text())[:8]})

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.query.get("ms", "100")) / 1000)
        return web.json_response({"slow": True})

    @routes.get("/huge")
    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        chunk = b"A" * 65536
        try:
            for _ in range(200):  # 12.5 MiB unless the client hangs up
                await resp.write(chunk)
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    @routes.get("/drip")
    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            for _ in range(100):
                await resp.write(b"x")
                await asyncio.sleep(0.2)
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    @routes.get("/reset")
    async def reset(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.abort()
        return web.Response(text="never")

    @routes.get("/error")
    async def error(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    @routes.get("/limited")
    async def limited(request: web.Request) -> web.Response:
        state["limited"] += 1
        if state["limited"] == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.json_response({"after": state["limited"]})

    @routes.get("/redirect")
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/ok"))

    @routes.get("/script")
    async def script(request: web.Request) -> web.Response:
        return web.Response(text="<script>alert(1)</script>\x1b[31m=cmd|' /C calc'!A0", content_type="text/html")

    app = web.Application()
    app.add_routes(routes)
    return app


def sink_app(recorder: Recorder) -> web.Application:
    """Answers everything; a test asserts it was never reached."""
    app = web.Application()

    async def anything(request: web.Request) -> web.Response:
        return web.Response(text="sink")

    app.router.add_route("*", "/{tail:.*}", anything)
    return app
