"""Producers: objects identities create for themselves, so operations on ids no listing shows get tested.

An operation such as ``GET /things/{thing_id}/notes/{note_id}`` is untestable while no identity
was ever shown a note id. Where the mode allows writes and the API has a create operation on the
parent collection (``POST /things/{thing_id}/notes``) whose body can carry a canary without side
effects, each identity creates one such object on its own parent object. The new id comes from the
answer's ``Location`` header (matched against the consumer's path template) or from the created
record's id field, and joins that identity's inventory: its own object, holding its own canary.

Nothing of another identity is touched: the parent ids come from the creator's own inventory.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from iotvet.api.model import ApiOperation
from iotvet.checks.canary import canary_body
from iotvet.checks.oracle import new_canary
from iotvet.checks.rest_context import RestContext, View, norm
from iotvet.probes.rest.discovery import unwrap

KEEP_NOTE = "a canary object the identity created for itself stays; nothing of another identity changed"


def _template_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    pattern = "".join(f"(?P<p{i}>[^/]+)" if p.startswith("{") else re.escape(p) for i, p in enumerate(parts))
    return re.compile(pattern + "/?$")


def ids_from_location(base_url: str, location: str, consumer: ApiOperation) -> dict[str, str]:
    """Parameter values a ``Location`` header gives for the consumer's path template ({} if it doesn't match)."""
    path = urlsplit(location).path
    prefix = urlsplit(base_url).path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix):]
    found = _template_regex(consumer.path).search(path)
    if found is None:
        return {}
    names = consumer.path_params
    return {name: unquote(value) for name, value in zip(names, found.groups(), strict=True)}


def id_from_body(view: View, consumer: ApiOperation) -> str | None:
    """The created record's id: the field named like the consumer's last parameter, or ``id``."""
    record = unwrap(view.json) if view.ok else None
    if not isinstance(record, dict):
        return None
    last = norm(consumer.path_params[-1])
    wanted = (last, last[:-2] if last.endswith("id") else last, "id", f"{norm(consumer.resource).rstrip('s')}id")
    fields = {norm(k): v for k, v in record.items() if isinstance(v, str | int) and not isinstance(v, bool)}
    return next((str(fields[name]) for name in wanted if name in fields), None)


def _creator_params(ctx: RestContext, who: str, create: ApiOperation) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for param in create.path_params:
        alias = ctx.model.aliases(create).get(param)
        values, _ = ctx.inventory.candidates(who, param, create.param_resource(param), alias)
        if not values:
            return None
        params[param] = values[0]
    return params


async def produce(ctx: RestContext, untested: list[ApiOperation]) -> int:
    """Create one canary object per identity for each consumer no listing feeds; returns objects made."""
    if ctx.mode == "read-only":
        return 0
    made = 0
    for consumer in untested:
        head, _, last = consumer.path.rpartition("/")
        create = ctx.model.find("POST", head) if re.fullmatch(r"\{[^}]+\}", last) else None
        if create is None or canary_body(create, new_canary()) is None:
            continue
        for who in sorted(ctx.identities):
            params = _creator_params(ctx, who, create)
            if params is None:
                continue
            canary = new_canary()
            body, _ = canary_body(create, canary) or ({}, [])
            view, seq = await ctx.write(who, create, params, body=body, owner=who, original=None, purpose="produce")
            ctx.settle(seq, KEEP_NOTE)
            if not view.ok:
                continue
            location = view.exchange.response.header("Location") if view.exchange.response else None
            learned = ids_from_location(ctx.sessions[who].base_url, location, consumer) if location else {}
            last_param = consumer.path_params[-1]
            if last_param not in learned:
                created = id_from_body(view, consumer)
                if created is not None:
                    learned[last_param] = created
            if last_param in learned:
                made += 1
                objects = ctx.inventory.objects.setdefault(who, {})
                for name, value in learned.items():
                    objects.setdefault(norm(name), set()).add(value)
                ctx.inventory.seen.setdefault(who, set()).update(learned.values())
    return made
