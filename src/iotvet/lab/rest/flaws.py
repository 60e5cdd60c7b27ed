"""The REST plane's flaws and traps, with the cells each opens or guards in a given shape.

Cells name operations by the spec's path template (relative to the spec's server URL) and a
relation class. Lifecycle flaws (stale tokens, bind, unbind, revoked shares) name the
lifecycle operation whose guarantee breaks. Token flaws (none, weak key, unverified) name the
profile read, the operation a forged token is first tried on. The plaintext listener names the
login and the profile read with relation ``self`` (an identity's own credentials and data cross
the wire in clear), as the MQTT half does for its plaintext listener.
"""

from __future__ import annotations

from collections.abc import Iterable

from iotvet.lab.flaws import Flaw, GroundCell, Trap, flaw, trap
from iotvet.lab.shapes import Shape
from iotvet.lab.world import SHARED_CREDENTIAL_FLAW

BOLA_XBRAND = "bola-read-cross-brand"
BOLA_XCUSTOMER = "bola-read-cross-customer"
BOLA_COMMAND = "bola-command-foreign-vehicle"
UNAUTH_LOCATION = "unauth-location"
HIDDEN_ROUTE = "hidden-debug-route"
BFLA = "bfla-admin-functions"
XTENANT_ADMIN = "cross-brand-admin"
MASS_ASSIGN = "mass-assignment"
BRAND_HEADER = "brand-from-header"
JWT_NONE = "jwt-alg-none"
JWT_WEAK = "jwt-weak-secret"
JWT_UNVERIFIED = "jwt-signature-unchecked"
STALE_TOKEN = "stale-sessions"
ENUM_IDS = "ownership-revealing-ids"
USER_ENUM = "login-user-enumeration"
NO_THROTTLE = "login-no-throttle"
BIND_HIJACK = "bind-by-vin"
UNBIND_ANY = "unbind-any-vehicle"
SHARE_REVOKE = "share-revoke-ignored"
SHARE_ROLE = "guest-owner-actions"
SHARED_CRED = SHARED_CREDENTIAL_FLAW
INPUT_CRASH = "trips-date-crash"
PLAINTEXT = "plaintext-http"

FOREIGN = ("same-tenant", "other-tenant")
_OBJECT_READS = ("vehicle.get", "vehicle.location", "vehicle.trips", "vehicle.commands.list")


def _cells(shape: Shape, ops: Iterable[str], relations: Iterable[str]) -> list[GroundCell]:
    rels = tuple(relations)
    out: list[GroundCell] = []
    for name in ops:
        op = shape.op(name)
        out.extend(GroundCell(relation=r, method=op.method, path=op.path) for r in rels)
    return out


def _rest(id_: str, check: str, description: str, ops: tuple[str, ...], relations: tuple[str, ...],
          masked_by: tuple[str, ...] = ()) -> Flaw:
    return flaw(Flaw(id_, check, "http", description, lambda s: _cells(s, ops, relations), masked_by))


_rest(BOLA_XBRAND, "api-bola-read",
      "Vehicle reads look the VIN up in the platform-wide table and skip the brand check: any signed-in "
      "user of one brand reads another brand's vehicles, positions, trips and command history.",
      _OBJECT_READS, ("other-tenant", "other-tenant-admin"))
_rest(BOLA_XCUSTOMER, "api-bola-read",
      "Inside a brand, vehicle reads check the brand but not the customer account: a driver of one fleet "
      "reads vehicles of every other fleet and household of the same brand.",
      _OBJECT_READS, ("same-tenant",))
_rest(BOLA_COMMAND, "api-bola-write",
      "The command endpoint queues a remote command (unlock, climate, ...) for any vehicle id without "
      "checking who asks; the backend then publishes it to the vehicle.",
      ("vehicle.commands.send",), (*FOREIGN, "other-tenant-admin"))
_rest(UNAUTH_LOCATION, "api-unauth",
      "The position endpoint answers requests that carry no credentials at all.",
      ("vehicle.location",), ("anonymous",))
flaw(Flaw(HIDDEN_ROUTE, "api-hidden-route", "http",
          "An internal diagnostics route, absent from the OpenAPI document, dumps vehicles with their "
          "owners, positions and bind codes to anyone.",
          lambda s: [GroundCell(relation="anonymous", method="GET", path=s.hidden_route)]))
_rest(BFLA, "api-bfla",
      "Customer-admin and brand-admin functions check only that the caller is signed in and belongs to "
      "the customer or brand, not the caller's role: a driver lists every user of its fleet and brand.",
      ("customer.users", "brand.customers", "brand.users"), ("lower-role",))
_rest(XTENANT_ADMIN, "api-xtenant-admin",
      "Brand-admin functions check the admin role but not that the brand in the path is the admin's own.",
      ("customer.users", "brand.customers", "brand.users"), ("other-tenant-admin",))
_rest(MASS_ASSIGN, "api-mass-assign",
      "Profile and vehicle updates copy every field of the request body onto the record, so a user can "
      "set its own role, brand and customer, or a vehicle's owner and customer.",
      ("profile.update", "vehicle.update"), ("self",))
_rest(BRAND_HEADER, "api-xbrand-token",
      "When the app's brand header names another brand, vehicle reads switch to that brand's support "
      "view and skip the customer check: the brand comes from the request, not from the token.",
      ("vehicle.get", "vehicle.location", "vehicle.trips"), ("other-tenant",),
      masked_by=(BOLA_XBRAND,))  # with cross-brand reads open, the header changes nothing visible
_rest(JWT_NONE, "jwt-none",
      "Tokens whose header says alg=none are accepted without a signature.",
      ("profile.get",), ("anonymous",))
_rest(JWT_WEAK, "jwt-weak-key",
      "Access tokens are signed with HS256 and a key from every JWT secret wordlist, so anyone can mint "
      "a token for any user.",
      ("profile.get",), ("anonymous",))
_rest(JWT_UNVERIFIED, "jwt-unverified",
      "HS256 tokens are decoded without checking the signature: any claims with any signature pass.",
      ("profile.get",), ("anonymous",))
_rest(STALE_TOKEN, "auth-stale-token",
      "Logout and password change do not revoke issued access tokens.",
      ("logout", "password.change"), ("self",))
flaw(Flaw(ENUM_IDS, "id-enumerable", "http",
          "A foreign vehicle id answers 403 naming the account that owns it, a missing one answers 404, so "
          "guessing ids maps the whole fleet.",
          lambda s: _cells(s, ("vehicle.get",), FOREIGN)))
_rest(USER_ENUM, "auth-user-enum",
      "Login says 'no such user' for unknown usernames and 'wrong password' for known ones.",
      ("login",), ("anonymous",))
_rest(NO_THROTTLE, "auth-no-throttle",
      "Failed logins are never rate-limited or locked out.",
      ("login",), ("anonymous",))
_rest(BIND_HIJACK, "bd-bind-hijack",
      "Binding takes a VIN alone: the bind code is ignored and a vehicle already bound to another "
      "account (of any brand) moves to the caller.",
      ("vehicles.bind",), FOREIGN)
_rest(UNBIND_ANY, "bd-unbind-unauth",
      "Any signed-in user can release any vehicle from its account by VIN.",
      ("vehicles.unbind",), FOREIGN)
_rest(SHARE_REVOKE, "bd-share-revoke",
      "Revoking a share marks it revoked, but the access check still honours revoked shares.",
      ("vehicle.shares.revoke",), ("same-tenant",))
_rest(SHARE_ROLE, "bd-share-role",
      "Guest shares are limited in the app only: through the API a guest unlocks the vehicle and re-shares "
      "it.",
      ("vehicle.commands.send", "vehicle.shares.create"), ("lower-role",))
flaw(Flaw(SHARED_CRED, "id-shared-cred", "mqtt",
          "Every device of one model gets the same broker password, so one extracted credential logs in as "
          "any other device of that model (username = the device id).",
          lambda s: [GroundCell(relation="device", topic="{tenant}/{device}/telemetry"),
                     GroundCell(relation="device", topic="{tenant}/{device}/cmd")]))
_rest(INPUT_CRASH, "api-input-validation",
      "The trips endpoint parses its 'since' and 'limit' query parameters without validation; a malformed "
      "value raises inside the handler and answers 500.",
      ("vehicle.trips",), ("self",))
_rest(PLAINTEXT, "api-plaintext",
      "The whole API, login included, is also served over plaintext HTTP.",
      ("login", "profile.get"), ("self",))


def _soft_deny_cells(shape: Shape) -> list[GroundCell]:
    cells = _cells(shape, ("vehicle.shares.list",), FOREIGN)
    if shape.deny == "soft":
        cells += _cells(shape, (*_OBJECT_READS, "vehicle.commands.send"), FOREIGN)
    return cells


trap(Trap("soft-deny",
          "Foreign vehicles' share lists (and, in soft-deny shapes, every foreign object) answer 200 with an "
          "empty list or object and act on nothing.", _soft_deny_cells))
trap(Trap("public-by-design",
          "The firmware catalogue and the status endpoint are public and identical for every caller.",
          lambda s: _cells(s, ("firmware.catalogue", "status"), ("anonymous", "other-tenant"))))
trap(Trap("caller-scoped-204",
          "Muting notifications for any vehicle id answers 204 but only changes the caller's own "
          "notification settings.",
          lambda s: _cells(s, ("vehicle.notifications.mute",), FOREIGN)))
trap(Trap("shared-within-customer",
          "Every member of a fleet or household sees and commands the customer's vehicles by design (plan "
          "policy: same-group).",
          lambda s: _cells(s, (*_OBJECT_READS, "vehicle.commands.send"), ("same-group",))))
trap(Trap("deny-mix",
          "Role denials answer 403 while foreign and missing objects answer the shape's deny; the mix is "
          "consistent and reveals nothing.",
          lambda s: _cells(s, ("customer.users",), ("lower-role",)) + _cells(s, ("vehicle.get",), FOREIGN)))
trap(Trap("brand-admin-own-brand",
          "A brand admin lists its own brand's customers and users.",
          lambda s: _cells(s, ("brand.customers", "brand.users"), ("same-tenant",))))

REST_FLAWS = (BOLA_XBRAND, BOLA_XCUSTOMER, BOLA_COMMAND, UNAUTH_LOCATION, HIDDEN_ROUTE, BFLA, XTENANT_ADMIN,
              MASS_ASSIGN, BRAND_HEADER, JWT_NONE, JWT_WEAK, JWT_UNVERIFIED, STALE_TOKEN, ENUM_IDS, USER_ENUM,
              NO_THROTTLE, BIND_HIJACK, UNBIND_ANY, SHARE_REVOKE, SHARE_ROLE, SHARED_CRED, INPUT_CRASH, PLAINTEXT)
