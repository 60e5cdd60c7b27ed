"""The plan: what to test, with whom, and within which limits.

Every key here is public: CI pipelines and lab-written plans depend on them. Later issues add
keys; none is renamed without a documented migration. Each model forbids unknown keys so a
typo is an error (with a suggestion), never a silently ignored setting.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from iotvet.core.records import Relation

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
TOPIC_PLACEHOLDERS = frozenset({"tenant", "group", "device", "user"})
KNOWN_ROLES = ("device", "user", "admin", "operator")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"30s"``, ``"10m"``, ``"1h"`` or ``"250ms"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[float, Field(description="seconds; YAML may say 30s, 10m, 1h")]


class StrictModel(BaseModel):
    """Base of every plan section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise ValueError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"bad port in URL: {exc}") from None
    return value


class RequestSpec(StrictModel):
    """One HTTP request the plan describes (a login, a flow step, a verification)."""

    method: str = "GET"
    path: str = Field(description="path appended to target.base_url, or an absolute URL")
    json_body: Any = Field(default=None, alias="json")
    form: dict[str, str] | None = None
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]+", v):
            raise ValueError("expected an HTTP method such as GET or POST")
        return v.upper()

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not (v.startswith("/") or v.startswith("http://") or v.startswith("https://")):
            raise ValueError("expected a path starting with / or an absolute http(s) URL")
        return v

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.json_body is not None and self.form is not None:
            raise ValueError("give either json or form, not both")
        return self


class TokenUse(StrictModel):
    """Where a token goes on each request: a header (with prefix), a cookie or a query parameter."""

    header: str | None = None
    prefix: str = "Bearer "
    cookie: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> TokenUse:
        if sum(x is not None for x in (self.header, self.cookie, self.query)) > 1:
            raise ValueError("a token goes in one place: header, cookie or query")
        return self


class VerifySpec(RequestSpec):
    """A request that succeeds only with a live credential, and the status it must return."""

    status: int = 200


class BearerAuth(StrictModel):
    """A static token sent as ``Authorization: Bearer`` (or where ``use`` says)."""

    type: Literal["bearer"]
    token: SecretStr
    use: TokenUse = Field(default_factory=TokenUse)


class ApiKeyAuth(StrictModel):
    """A static API key in a header or query parameter."""

    type: Literal["apikey"]
    key: SecretStr
    name: str = "X-API-Key"
    in_: Literal["header", "query"] = Field(default="header", alias="in")


class BasicAuth(StrictModel):
    """HTTP Basic credentials."""

    type: Literal["basic"]
    username: str
    password: SecretStr


class CookieAuth(StrictModel):
    """Static session cookies."""

    type: Literal["cookie"]
    cookies: dict[str, SecretStr]


class LoginAuth(StrictModel):
    """A login request whose answer carries the token.

    ``token`` says where: a JSONPath into the JSON body (``$.access_token``), ``header:NAME`` or
    ``cookie:NAME`` (``cookie:*`` keeps every cookie the login sets). ``expires_in`` optionally
    names the JSONPath of a lifetime in seconds; a JWT's
    ``exp`` claim is used otherwise. The login is repeated when the token expires or a 401 says so.
    """

    type: Literal["login"]
    request: RequestSpec
    token: str = "$.access_token"
    expires_in: str | None = None
    use: TokenUse = Field(default_factory=TokenUse)

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        if not (v.startswith("$") or v.startswith("header:") or v.startswith("cookie:")):
            raise ValueError("expected a JSONPath ($.field), header:NAME or cookie:NAME")
        return v

    @model_validator(mode="after")
    def _every_cookie(self) -> LoginAuth:
        if (self.token == "cookie:*") != (self.use.cookie == "*"):
            raise ValueError('token: "cookie:*" goes with use: {cookie: "*"} (send every login cookie back)')
        return self


class OAuth2Auth(StrictModel):
    """OAuth2 client credentials grant; the token is refreshed before it expires."""

    type: Literal["oauth2"]
    token_url: str
    client_id: str
    client_secret: SecretStr
    scope: str | None = None
    audience: str | None = None
    use: TokenUse = Field(default_factory=TokenUse)

    @field_validator("token_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("http", "https"))


class MtlsAuth(StrictModel):
    """A TLS client certificate (PEM files)."""

    type: Literal["mtls"]
    cert: str
    key: str
    key_password: SecretStr | None = None


class HeadersAuth(StrictModel):
    """Fixed headers that carry the credential (what a WFC ``fixedHeaders`` entry imports as)."""

    type: Literal["headers"]
    headers: dict[str, SecretStr]


class WfcAuth(StrictModel):
    """One user of a Web Fuzzing Commons auth file (as read by Schemathesis and EvoMaster)."""

    type: Literal["wfc"]
    file: str
    user: str


Auth = Annotated[
    BearerAuth
    | ApiKeyAuth
    | BasicAuth
    | CookieAuth
    | HeadersAuth
    | LoginAuth
    | OAuth2Auth
    | MtlsAuth
    | WfcAuth,
    Field(discriminator="type"),
]
AUTH_TYPES = ("bearer", "apikey", "basic", "cookie", "headers", "login", "oauth2", "mtls", "wfc")


class MqttCredentials(StrictModel):
    """How an identity connects to the broker: username/password and/or a client certificate."""

    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    cert: str | None = None
    key: str | None = None


class Identity(StrictModel):
    """A test account (or device) the manufacturer owns, with its place in the provider's tenancy."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$")
    tenant: str
    group: str | None = None
    role: str = "user"
    devices: list[str] = Field(default_factory=list)
    device: str | None = None
    sacrificial: bool = False
    auth: Auth | None = None
    mqtt: MqttCredentials | None = None
    verify: VerifySpec | None = None

    @model_validator(mode="after")
    def _device_role(self) -> Identity:
        if self.role == "device" and self.device is None:
            raise ValueError("an identity with role: device names the device it is (device: ID)")
        if self.auth is None and self.mqtt is None:
            raise ValueError("an identity needs auth (HTTP) or mqtt credentials, or both")
        return self


class Target(StrictModel):
    """The provider's REST API and where its description comes from."""

    base_url: str
    openapi: str | None = None
    har: str | None = None
    postman: str | None = None
    ca: str | None = None
    proxy: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    tenant_hosts: dict[str, str] = Field(default_factory=dict)
    """tenant -> the Host header that selects it, for providers that tell brands apart by virtual host."""

    @field_validator("tenant_hosts")
    @classmethod
    def _tenant_hosts(cls, v: dict[str, str]) -> dict[str, str]:
        for tenant, host in v.items():
            if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?", host):
                raise ValueError(f"tenant {tenant!r}: {host!r} is not host or host:port")
        return v

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str) -> str:
        return _check_url(v, ("http", "https")).rstrip("/")

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, v: str | None) -> str | None:
        return None if v is None else _check_url(v, ("http",))

    @model_validator(mode="after")
    def _one_source(self) -> Target:
        if sum(x is not None for x in (self.openapi, self.har, self.postman)) > 1:
            raise ValueError("give one API description: openapi, har or postman")
        return self


class MqttRevoke(StrictModel):
    """A plan flow that takes an identity's access to its topics away (``mq-stale-authz``), and its inverse."""

    identity: str = Field(description="the identity whose access the flow revokes")
    flow: str = Field(description="name under flows: of the revocation")
    restore: str | None = Field(default=None, description="name under flows: that grants the access back")
    by: str | None = Field(default=None, description="identity whose HTTP credential runs both flows")
    device: str | None = Field(default=None, description="the device whose topics the identity loses")
    topics: list[str] = Field(min_length=1, description="mqtt.topics names whose topics the identity loses")
    wait: Duration = 2.0

    @field_validator("wait", mode="before")
    @classmethod
    def _wait(cls, v: Any) -> float:
        return parse_duration(v)


REVOKE_PLACEHOLDERS = frozenset({"device", "tenant", "user"})
"""What mqtt.revoke fills in its flows: the entry's device, the identity's tenant and broker username."""


def _check_revocations(plan: Plan) -> None:
    """Every mqtt.revoke entry names plan identities, flows, topics and devices that exist and fit."""
    mqtt = plan.mqtt
    names = {i.name: i for i in plan.identities}
    for n, entry in enumerate(mqtt.revoke if mqtt is not None else []):
        assert mqtt is not None
        where = f"mqtt.revoke[{n}]"
        who = names.get(entry.identity)
        if who is None or who.mqtt is None:
            raise ValueError(f"{where}.identity: {entry.identity!r} is not an identity with mqtt credentials")
        runner = entry.by or entry.identity
        if runner not in names or names[runner].auth is None:
            raise ValueError(f"{where}.by: {runner!r} must be an identity with auth (it runs the flows over HTTP)")
        for key, flow in (("flow", entry.flow), ("restore", entry.restore)):
            if flow is None:
                continue
            if flow not in plan.flows:
                raise ValueError(f"{where}.{key}: no flow named {flow!r} under flows")
            steps = plan.flows[flow]
            text = json.dumps([[s.path, s.json_body, s.form, s.query, s.headers]
                               for s in (steps if isinstance(steps, list) else [steps])], default=str)
            unknown = sorted(set(re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", text)) - REVOKE_PLACEHOLDERS)
            if unknown:
                raise ValueError(f"{where}.{key}: flow {flow!r} uses {{{unknown[0]}}}; mqtt.revoke fills only "
                                 f"{{device}}, {{tenant}} and {{user}}")
        for topic in entry.topics:
            if topic not in mqtt.topics:
                raise ValueError(f"{where}.topics: {topic!r} is not a name under mqtt.topics")
        owned = list(dict.fromkeys([*([who.device] if who.device else []), *who.devices]))
        if entry.device is not None and entry.device not in owned:
            raise ValueError(f"{where}.device: {entry.device!r} is not a device of {who.name}")
        if entry.device is None and len(owned) > 1 and any("{device}" in mqtt.topics[t] for t in entry.topics):
            raise ValueError(f"{where}.device: {who.name} has several devices; name the one the flow revokes")


class Mqtt(StrictModel):
    """The provider's broker: its listeners and the topic layout devices and apps use."""

    url: str
    also: list[str] = Field(default_factory=list)
    require_tls: bool = False
    ca: str | None = None
    topics: dict[str, str] = Field(default_factory=dict)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    revoke: list[MqttRevoke] = Field(default_factory=list)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, v: Any) -> Any:
        if isinstance(v, int | float | str) and not isinstance(v, bool):
            text = str(v).strip()
            return {"5.0": "5", "3.1.1": "3.1.1"}.get(text, text)
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v, ("mqtt", "mqtts", "ws", "wss"))

    @field_validator("also")
    @classmethod
    def _also(cls, v: list[str]) -> list[str]:
        return [_check_url(u, ("mqtt", "mqtts", "ws", "wss")) for u in v]

    @field_validator("topics")
    @classmethod
    def _topics(cls, v: dict[str, str]) -> dict[str, str]:
        for name, template in v.items():
            for placeholder in re.findall(r"\{([^}]*)\}", template):
                if placeholder not in TOPIC_PLACEHOLDERS:
                    allowed = ", ".join("{" + p + "}" for p in sorted(TOPIC_PLACEHOLDERS))
                    raise ValueError(f"topic {name!r}: unknown placeholder {{{placeholder}}}; use {allowed}")
            if "#" in template or "+" in template:
                raise ValueError(f"topic {name!r}: a template names topics, not filters (no + or #)")
        return v


class Scope(StrictModel):
    """The only hosts iotvet ever contacts; enforced in the transport, before anything is sent."""

    hosts: list[str] = Field(min_length=1)

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for entry in v:
            if not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9*._-]+)(:\d{1,5})?", entry):
                raise ValueError(f"{entry!r} is not host or host:port (IPv6 as [::1]:8000)")
        return v


class Safety(StrictModel):
    """What a run may do and how much of it."""

    mode: Literal["read-only", "safe-writes", "intrusive"] = "read-only"
    rate: float = Field(default=10.0, gt=0, description="requests and MQTT publishes per second")
    concurrency: int = Field(default=4, ge=1, le=256)
    max_requests: int = Field(default=5000, ge=1)
    max_duration: Duration = 1800.0
    request_timeout: Duration = 15.0
    max_body: int = Field(default=1_048_576, ge=1024, description="bytes kept of a response body")
    max_redirects: int = Field(default=0, ge=0, le=10)
    login_attempts: int = Field(default=20, ge=1, le=100,
                                description="failed logins auth-no-throttle may send (intrusive, sacrificial only)")
    discover_routes: bool = Field(default=False, description="guess undocumented routes outside intrusive mode")
    seed: int = Field(default=0, ge=0, description="seed of every generated input (random names, malformed values)")

    @field_validator("max_duration", "request_timeout", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class PolicyEntry(StrictModel):
    """Intended sharing beyond "owner only": a resource visible to a relation, or a public operation."""

    resource: str | None = None
    operation: str | None = None
    visible_to: list[Relation] = Field(default_factory=list)
    public: bool = False

    @field_validator("visible_to", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("operation")
    @classmethod
    def _operation(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z]+ /\S*", v):
            raise ValueError('expected "METHOD /path/template", e.g. "GET /firmware"')
        return v

    @model_validator(mode="after")
    def _one_subject(self) -> PolicyEntry:
        if (self.resource is None) == (self.operation is None):
            raise ValueError("a policy entry names either a resource or an operation")
        if not self.public and not self.visible_to:
            raise ValueError("a policy entry says visible_to: RELATION(S) or public: true")
        return self


class Plan(StrictModel):
    """The whole plan file."""

    target: Target | None = None
    mqtt: Mqtt | None = None
    scope: Scope
    safety: Safety = Field(default_factory=Safety)
    policy: list[PolicyEntry] = Field(default_factory=list)
    flows: dict[str, RequestSpec | list[RequestSpec]] = Field(default_factory=dict)
    identities: list[Identity] = Field(min_length=1)

    @model_validator(mode="after")
    def _coherent(self) -> Plan:
        if self.target is None and self.mqtt is None:
            raise ValueError("a plan needs target (REST) or mqtt, or both")
        names = [i.name for i in self.identities]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"identity names must be unique: {', '.join(dupes)}")
        _check_revocations(self)
        return self

    def identity(self, name: str) -> Identity:
        """The identity called ``name``."""
        for ident in self.identities:
            if ident.name == name:
                return ident
        raise KeyError(name)
