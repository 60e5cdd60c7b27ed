"""Fetching API descriptions and referenced documents through the transport (scope, budgets)."""

from __future__ import annotations

from iotvet.api.openapi import Fetcher
from iotvet.core.errors import Source, UserError
from iotvet.transport.http import HttpTransport, Request


def transport_fetcher(http: HttpTransport) -> Fetcher:
    """A fetcher for :func:`load_openapi` that refuses what the transport refuses."""

    async def fetch(url: str) -> bytes:
        exchange = await http.send(Request("GET", url, (("Accept", "application/json, application/yaml"),),
                                           purpose="spec"))
        if exchange.error is not None or exchange.response is None:
            raise UserError(f"cannot fetch the API description: {exchange.error}", Source(url))
        if exchange.response.status != 200:
            raise UserError(f"fetching the API description answered HTTP {exchange.response.status}", Source(url))
        return exchange.response.body

    return fetch
