"""The lab broker's switchable flaws and the cells each one opens.

Every flaw below changes the generated Mosquitto configuration (see :mod:`iotvet.lab.mqtt.broker`)
and names the catalogue check that must find it. Ground truth is given per flaw as cells of
``(topic, relation)``:

* **Topics are templates**, not concrete topics: ``{tenant}/{device}/telemetry``,
  ``{tenant}/{device}/cmd`` and ``{tenant}/{device}/state``, as in :data:`topics.TEMPLATES`
  and a plan's ``mqtt.topics``. A cell means "some victim's topic of this kind"; the shape
  argument of ``cells`` is accepted and ignored, because the topic scheme does not vary.
* Connection-level flaws use two conventions. A client-id takeover (kick, stolen session) is
  recorded on the victim's command topic, the channel the victim loses to the attacker. The
  plaintext listener is recorded on the filter ``#`` with relation ``self``: an identity's own
  credentials and traffic are exposed.
* **Relations** say how the attacker stands to the victim vehicle: ``other-tenant`` (an app user
  of another brand), ``other-tenant-admin`` (another brand's administrator), ``same-tenant`` (an
  app user of the brand who does not own the vehicle), ``device`` (another vehicle's credential of
  the same brand) and ``anonymous`` (no credentials). Brand administrators hold ordinary app
  accounts on the broker (no vehicles of their own), so every flaw that opens a topic to other
  brands' app users opens it to other brands' administrators too; a probe that classifies
  attackers finely (iotvet does) reports those as ``other-tenant-admin``, which is why the cells
  list both.

A cell lists what the flaw opens whatever the check, because one broker misconfiguration opens
several attack classes at once (a read ACL that is missing serves wildcards and retained state too).
Four flaws need client ids that are not bound to usernames; Mosquitto cannot bind ids for
anonymous clients, so ``mqtt-anon`` opens client-id takeover as well and says so in its cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from iotvet.lab.flaws import Flaw, GroundCell, flaw
from iotvet.lab.mqtt.topics import TEMPLATES

ANON: Final = "mqtt-anon"
NO_ACL: Final = "mqtt-no-acl"
WILDCARD_GRANT: Final = "mqtt-wildcard-grant"
RETAINED_STATE: Final = "mqtt-retained-state"
XTENANT_CMD: Final = "mqtt-xtenant-cmd"
CLIENTID_ACL: Final = "mqtt-clientid-acl"
CLIENTID_KICK: Final = "mqtt-clientid-kick"
SESSION_STEAL: Final = "mqtt-session-steal"
PLAINTEXT: Final = "mqtt-plaintext"

UNBOUND_IDS: Final[frozenset[str]] = frozenset({ANON, CLIENTID_ACL, CLIENTID_KICK, SESSION_STEAL})
"""Flaws that need client ids the client chooses (no ``use_username_as_clientid``)."""

_TELEMETRY = TEMPLATES["telemetry"]
_COMMAND = TEMPLATES["command"]
_STATE = TEMPLATES["state"]
_STRANGERS = ("other-tenant", "other-tenant-admin", "same-tenant")
_AUTHENTICATED = (*_STRANGERS, "device")


def _cells(topics: Iterable[str], relations: Iterable[str]) -> list[GroundCell]:
    relations = tuple(relations)
    return [GroundCell(relation=r, topic=t) for t in topics for r in relations]


def _takeover(*extra: str) -> list[GroundCell]:
    return _cells([_COMMAND], (*_AUTHENTICATED, *extra))


def _anon_cells(_shape: Any) -> list[GroundCell]:
    return _cells([_TELEMETRY, _STATE], ["anonymous"]) + _takeover("anonymous")


def _no_acl_cells(_shape: Any) -> list[GroundCell]:
    return _cells([_TELEMETRY, _STATE, _COMMAND], _AUTHENTICATED)


def _wildcard_cells(_shape: Any) -> list[GroundCell]:
    return _cells([_TELEMETRY], _STRANGERS)


def _retained_cells(_shape: Any) -> list[GroundCell]:
    return _cells([_STATE], _STRANGERS)


def _xtenant_cmd_cells(_shape: Any) -> list[GroundCell]:
    return _cells([_COMMAND], _STRANGERS)


def _clientid_acl_cells(_shape: Any) -> list[GroundCell]:
    return _cells([_TELEMETRY, _STATE, _COMMAND], _AUTHENTICATED)


def _takeover_cells(_shape: Any) -> list[GroundCell]:
    return _takeover()


def _plaintext_cells(_shape: Any) -> list[GroundCell]:
    return [GroundCell(relation="self", topic="#")]


MQTT_FLAWS: Final[dict[str, Flaw]] = {
    f.id: flaw(f)
    for f in (
        Flaw(
            ANON,
            "mq-anon",
            "mqtt",
            "Anonymous clients are accepted and may read every brand's telemetry and retained state. "
            "Mosquitto cannot force client id = username without a username, so ids are unbound too.",
            _anon_cells,
        ),
        Flaw(
            NO_ACL,
            "mq-xtenant-read",
            "mqtt",
            "The read side of the topic ACL is missing: every app user and vehicle may subscribe to "
            "any topic of any brand (exact topics, wildcards and retained state alike).",
            _no_acl_cells,
        ),
        Flaw(
            WILDCARD_GRANT,
            "mq-wildcard-read",
            "mqtt",
            "App users hold a read grant on '+/+/telemetry', meant for their own brand's fleet view, "
            "so a wildcard subscription receives every brand's telemetry.",
            _wildcard_cells,
        ),
        Flaw(
            RETAINED_STATE,
            "mq-retained-leak",
            "mqtt",
            "App users hold a read grant on '+/+/state', so each vehicle's retained state is served "
            "to accounts of any brand the moment they subscribe.",
            _retained_cells,
        ),
        Flaw(
            XTENANT_CMD,
            "mq-xtenant-write",
            "mqtt",
            "App users hold a write grant on '+/+/cmd', so they can send remote commands to vehicles "
            "they do not own, including other brands' vehicles.",
            _xtenant_cmd_cells,
        ),
        Flaw(
            CLIENTID_ACL,
            "mq-idvar-inject",
            "mqtt",
            "Vehicle rights come from '%c' patterns ('{tenant}/%c/cmd' ...) and client ids are not "
            "bound to usernames: any account that connects with a vehicle's VIN as client id gets "
            "that vehicle's topics, and kicks the vehicle off.",
            _clientid_acl_cells,
        ),
        Flaw(
            CLIENTID_KICK,
            "mq-clientid-kick",
            "mqtt",
            "Client ids are not bound to usernames: any account connecting with a vehicle's client "
            "id disconnects the vehicle (its topics stay protected by the username ACL).",
            _takeover_cells,
        ),
        Flaw(
            SESSION_STEAL,
            "mq-session-steal",
            "mqtt",
            "Client ids are not bound to usernames and the command-topic grant follows the client id "
            "('{tenant}/%c/cmd'): a foreign login with a vehicle's id and a persistent session "
            "inherits the commands queued while the vehicle was offline.",
            _takeover_cells,
        ),
        Flaw(
            PLAINTEXT,
            "mq-plaintext",
            "mqtt",
            "A plaintext MQTT listener beside the TLS ones accepts the same credentials.",
            _plaintext_cells,
        ),
    )
}


def selected(ids: Iterable[str]) -> frozenset[str]:
    """The MQTT flaw ids among ``ids`` (ids of other planes are left to their owners)."""
    return frozenset(i for i in ids if i in MQTT_FLAWS)
