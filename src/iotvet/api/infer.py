"""Operations inferred from observed requests (HAR captures, Postman collections).

Both readers turn their input into :class:`Observation` records; this module turns the
observations into an :class:`ApiModel`, deterministically:

* only requests under the plan's ``target.base_url`` (origin and path prefix) are kept; the
  others are ignored, never contacted;
* id-like path segments (UUIDs, numbers, VIN-like codes, hex/base32 tokens, prefixed ids,
  e-mail addresses, dates) and segments that vary among literal siblings become ``{param}``s.
  A parameter is named after the response field that carried its observed values (the app got
  the id from somewhere), else after the preceding collection segment (``vehicles`` ->
  ``vehicle_id``);
* requests with the same method and template merge into one operation: JSON body schemas,
  query parameters and non-standard app headers (never credentials) are inferred from what was
  sent; ``secured`` says the requests carried credentials.

The secret helpers (:func:`credential_name`, :func:`json_secrets`, ...) are shared by the
readers' ``*_secrets`` functions, which hand every token, cookie and password of a capture to
the run's Redactor.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import quote, unquote, urlsplit

from iotvet.api.model import ApiModel, ApiOperation, Param
from iotvet.core.errors import Source, UserError
from iotvet.plan.yamlsource import Path_, YamlDocument, format_path, load_yaml, read_text_file

MAX_WALK = 200_000  # JSON values looked at per document (name inference, secrets)
MIN_MATCH = 3  # observed path values shorter than this are too common to match against response fields
MIN_HEURISTIC_SECRET = 8  # values found by name only (cookies, *token* fields) must be at least this long
STRING_MIN_LENGTH = 64
SKIPPED_METHODS = frozenset({"OPTIONS", "CONNECT", "TRACE"})
NO_OP_WORDS = ("ping", "noop", "no-op", "nop")
COMMAND_FIELDS = frozenset({"command", "cmd", "action"})
ALIASES = frozenset({"me", "self", "current", "mine", "my", "all", "new", "search", "count", "bulk", "batch",
                     "latest", "default", "public", "private", "export", "import"})
_LITERAL_SAFE = "!$&'()*+,;=:@-._~"  # a literal segment keeps these; "/", braces, "%" and spaces are encoded
_METHOD = re.compile(r"^[A-Za-z]{1,16}$")
_EXPLICIT = re.compile(r"^(?:\{\{([^{}]+)\}\}|\{([^{}/]+)\}|:([A-Za-z_][A-Za-z0-9_.-]*))$")
_EMBEDDED_VAR = re.compile(r"\{\{([^{}]+)\}\}")
_NAME_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_ID_PATTERNS = (
    re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),  # UUID
    re.compile(r"^-?\d+$"),  # number
    re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-HJ-NPR-Za-hj-npr-z0-9]{17}$"),  # VIN-like
    re.compile(r"^(?=.*\d)[0-9a-fA-F]{8,}$"),  # hex token
    re.compile(r"^(?=.*\d)(?:[A-Z2-7]{16,}|[a-z2-7]{16,})=*$"),  # base32 token
    re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$"),  # opaque token
    re.compile(r"^[A-Za-z]{1,12}[-_:](?=[0-9A-Za-z]*\d{2})[0-9A-Za-z]{3,}$"),  # prefixed id: veh-1001
    re.compile(r"^[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}$"),  # e-mail address
    re.compile(r"^\d{4}-\d{2}-\d{2}$"),  # date
)

# Headers every client sends, or that only describe the transport: never API parameters.
STANDARD_HEADERS = frozenset({
    "host", "accept", "accept-encoding", "accept-language", "accept-charset", "connection", "keep-alive",
    "user-agent", "content-length", "content-type", "content-encoding", "transfer-encoding", "te", "trailer",
    "upgrade", "expect", "origin", "referer", "cache-control", "pragma", "dnt", "range", "priority", "via",
    "upgrade-insecure-requests", "x-requested-with", "if-match", "if-none-match", "if-modified-since",
    "if-unmodified-since", "if-range", "forwarded", "traceparent", "tracestate", "baggage", "x-request-id",
    "x-correlation-id", "x-amzn-trace-id", "b3", "postman-token", "date", "sec-gpc", "purpose",
})
_STANDARD_PREFIXES = ("sec-", "x-forwarded-", "x-b3-", "proxy-", "access-control-", ":")
_CREDENTIAL_PARTS = frozenset({"key", "apikey", "token", "auth", "authorization", "session", "sessionid", "sid",
                               "secret", "password", "passwd", "pwd", "jwt", "csrf", "xsrf", "signature", "sig",
                               "cookie", "bearer", "credential", "credentials", "otp", "pin", "passcode",
                               "assertion"})
_CREDENTIAL_WORDS = ("token", "apikey", "password", "passwd", "secret", "authorization", "authkey", "sessionid",
                     "sessionkey", "cookie", "jwt", "credential", "signature", "privatekey")
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd", "pin", "passcode", "otp")


def norm(name: str) -> str:
    """Names compared loosely: ``X-Api-Key`` == ``x_api_key`` == ``xapikey``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def credential_name(name: str) -> bool:
    """True for header, query, cookie or field names that carry credentials (Authorization, X-Api-Key ...)."""
    parts = {p for p in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()) if p}
    flat = norm(name)
    return bool(parts & _CREDENTIAL_PARTS) or any(w in flat for w in _CREDENTIAL_WORDS)


def password_name(name: str) -> bool:
    """True for field names that hold a password or PIN (kept at any length)."""
    flat = norm(name)
    return any(w in flat for w in _PASSWORD_WORDS) and "hint" not in flat and "policy" not in flat


def standard_header(name: str) -> bool:
    """True for headers that describe the transport rather than the API call."""
    low = name.lower()
    return low in STANDARD_HEADERS or low.startswith(_STANDARD_PREFIXES)


def id_like(segment: str) -> bool:
    """True for path segments that look like an object id rather than a route word."""
    return any(p.match(segment) for p in _ID_PATTERNS)


def singular(word: str) -> str:
    """``vehicles`` -> ``vehicle``, ``categories`` -> ``category``, ``boxes`` -> ``box``."""
    low = word.lower()
    if low.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if low.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if low.endswith("s") and not low.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def media_type(value: str | None) -> str | None:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower() or None


def walk(doc: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every mapping entry in a JSON document, bounded by :data:`MAX_WALK`."""
    stack = [doc]
    seen = 0
    while stack and seen < MAX_WALK:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key), value
                if isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(reversed(node))


def json_secrets(doc: Any, label: str) -> list[tuple[str, str]]:
    """Values of credential-named fields (password, token, secret ...) anywhere in a JSON document."""
    out: list[tuple[str, str]] = []
    for key, value in walk(doc):
        if isinstance(value, str) and credential_name(key) and (
                password_name(key) or len(value) >= MIN_HEURISTIC_SECRET):
            out.append((f"{label}.{norm(key) or 'field'}", value))
    return out


def form_secrets(pairs: Iterable[tuple[str, str]], label: str) -> list[tuple[str, str]]:
    """Values of credential-named form or query fields."""
    return [(f"{label}.{norm(k) or 'field'}", v) for k, v in pairs
            if credential_name(k) and (password_name(k) or len(v) >= MIN_HEURISTIC_SECRET)]


def cookie_pairs(header: str) -> list[tuple[str, str]]:
    """``a=1; b=2`` -> [("a", "1"), ("b", "2")]; also the first pair of a Set-Cookie value."""
    out = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            out.append((name.strip(), value.strip().strip('"')))
    return out


def header_secrets(name: str, value: str, label: str) -> list[tuple[str, str]]:
    """The secrets one request or response header carries."""
    low = name.lower()
    out: list[tuple[str, str]] = []
    if low in ("authorization", "proxy-authorization"):
        out.append((f"{label}.authorization", value))
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if credential:
            out.append((f"{label}.{norm(scheme) or 'authorization'}", credential))
            if scheme.lower() == "basic":
                import base64
                import binascii

                try:
                    user_pass = base64.b64decode(credential, validate=True).decode("utf-8")
                except (binascii.Error, ValueError):
                    user_pass = ""
                if ":" in user_pass:
                    out.append((f"{label}.basic-password", user_pass.split(":", 1)[1]))
    elif low == "cookie":
        out += [(f"{label}.cookie.{norm(k) or 'value'}", v) for k, v in cookie_pairs(value)
                if len(v) >= MIN_HEURISTIC_SECRET]
    elif low == "set-cookie":
        out += [(f"{label}.cookie.{norm(k) or 'value'}", v) for k, v in cookie_pairs(value)[:1]
                if len(v) >= MIN_HEURISTIC_SECRET]
    elif credential_name(name) and not standard_header(name) and len(value) >= MIN_HEURISTIC_SECRET:
        out.append((f"{label}.{norm(name)}", value))
    return out


def dedupe(secrets: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each value once (first label wins), empty values dropped."""
    seen: set[str] = set()
    out = []
    for label, value in secrets:
        if value and value not in seen:
            seen.add(value)
            out.append((label, value))
    return out


@dataclass
class Observation:
    """One observed request (and, when known, its answer), as a reader found it."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] | None = None  # None: take the URL's query string
    body: Any = None  # parsed JSON body
    form: list[tuple[str, str]] | None = None  # urlencoded or multipart text fields
    body_media: str | None = None
    status: int | None = None
    response: Any = None  # parsed JSON answer
    response_media: str | None = None
    credentials: bool = False  # the reader saw credentials outside the headers (Postman auth block)


@dataclass(frozen=True)
class _Base:
    scheme: str
    host: str
    port: int | None
    prefix: str


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme)


def parse_base(base_url: str) -> _Base:
    """The origin and path prefix requests must fall under."""
    try:
        parts = urlsplit(base_url)
        port = parts.port
    except ValueError:
        raise UserError(f"target.base_url {base_url!r} is not a URL") from None
    if not parts.scheme or not parts.hostname:
        raise UserError(f"target.base_url {base_url!r} is not an absolute URL")
    scheme = parts.scheme.lower()
    return _Base(scheme, parts.hostname.lower(), _port(scheme, port), unquote(parts.path).rstrip("/"))


def relative_path(url: str, base: _Base) -> tuple[list[str], str] | None:
    """(decoded path segments under the base, query string) when ``url`` is under ``base``; else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme != base.scheme or host != base.host or _port(scheme, port) != base.port:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    prefix = [s for s in base.prefix.split("/") if s]
    if segments[:len(prefix)] != prefix:
        return None
    return segments[len(prefix):], parts.query


# -- reading JSON inputs ------------------------------------------------------------------------

MAX_FILE_BYTES = 512 << 20
MAX_INNER_JSON = 8 << 20  # bodies larger than this are not parsed for schemas or names


class JsonSource:
    """A JSON input file, its data, and (computed only when an error needs them) the line of every value."""

    def __init__(self, file: str, text: str, data: Any) -> None:
        self.file = file
        self.text = text
        self.data = data
        self._lines: YamlDocument | None = None

    def source(self, where: Path_) -> Source:
        """File, line and field of ``where`` (JSON is YAML, so the YAML reader gives the line)."""
        if self._lines is None:
            try:
                # Raw tabs are never inside valid JSON strings, but YAML refuses some as whitespace.
                self._lines = load_yaml(self.text.replace("\t", " "), self.file)
            except (UserError, RecursionError, MemoryError):
                self._lines = YamlDocument(self.file, None, {})
        return Source(self.file, self._lines.line_of(where), format_path(where) or None)

    def fail(self, where: Path_, message: str) -> NoReturn:
        """Raise the UserError for ``where``."""
        raise UserError(message, self.source(where))

    def get(self, node: dict[str, Any], where: Path_, key: str, kind: type | tuple[type, ...], what: str, *,
            required: bool = False) -> Any:
        """``node[key]`` checked against ``kind`` (None when absent or null and not required)."""
        value = node.get(key)
        if value is None:
            if required:
                self.fail(where if key not in node else (*where, key), f"missing {key} ({what})")
            return None
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            self.fail((*where, key), f"{key} must be {what}")
        return value


def parse_json_text(text: str, file: str) -> JsonSource:
    """Parse a JSON document; a syntax error is a UserError with its line."""
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"not valid JSON: {exc.msg}", Source(file, exc.lineno)) from None
    except RecursionError:
        raise UserError("the document nests too deeply", Source(file)) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise UserError(f"not valid JSON: {str(exc).splitlines()[0] if str(exc) else 'unreadable value'}",
                        Source(file)) from None
    return JsonSource(file, text, data)


def read_json_file(path: str) -> JsonSource:
    """Read and parse a JSON input file; unreadable files are UserErrors too."""
    text = read_text_file(path, MAX_FILE_BYTES)
    return parse_json_text(text, path)


def inner_json(text: str | None) -> Any:
    """A body that parses as JSON (object or array), else None; never raises."""
    if not text or len(text) > MAX_INNER_JSON or not text.lstrip().startswith(("{", "[")):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# -- path templates -----------------------------------------------------------------------------


@dataclass
class _Request:
    obs: Observation
    method: str
    segments: list[str]
    query: list[tuple[str, str]]
    tokens: list[tuple[str, str]] = field(default_factory=list)  # ("lit", value) | ("val", value) | ("var", name)


def _classify(segment: str) -> tuple[str, str]:
    m = _EXPLICIT.match(segment)
    if m:
        return "var", next(g for g in m.groups() if g is not None).strip()
    embedded = _EMBEDDED_VAR.search(segment)
    if embedded:
        return "var", embedded.group(1).strip()
    if id_like(segment):
        return "val", segment
    return "lit", segment


def _shape(tokens: list[tuple[str, str]]) -> tuple[str, ...]:
    """Tokens with every parameter as ``*``: the key of a tree position."""
    return tuple(v if kind == "lit" else "*" for kind, v in tokens)


def _response_values(requests: list[_Request]) -> dict[str, Counter[str]]:
    """Observed response values -> how often each field name carried them."""
    index: dict[str, Counter[str]] = {}
    for req in requests:
        if req.obs.response is None:
            continue
        for key, value in walk(req.obs.response):
            if isinstance(value, bool) or not isinstance(value, str | int):
                continue
            text = str(value)
            if len(text) >= MIN_MATCH and _NAME_OK.match(key):
                index.setdefault(text, Counter())[key] += 1
    return index


def _promote_varying(requests: list[_Request], index: dict[str, Counter[str]]) -> None:
    """Literal segments that vary among siblings and are ids in disguise become parameters.

    A literal child of a literal parent is promoted when the parent has other children and the
    value came back in some answer under an id-like field name or under the same field as a
    sibling (usernames the app listed), or when it shares a further route with a sibling
    (``/users/alice/devices`` and ``/users/bob/devices``). Route words such as ``me`` or
    ``search`` never are; a word that merely appears as some value (``/users/admin`` next to a
    ``role: admin``) is not enough.
    """
    depth = max((len(r.tokens) for r in requests), default=0)
    for i in range(depth):
        groups: dict[tuple[str, ...], list[_Request]] = {}
        for req in requests:
            if len(req.tokens) > i and i > 0 and req.tokens[i - 1][0] == "lit":
                groups.setdefault(_shape(req.tokens[:i]), []).append(req)
        for members in groups.values():
            children = {r.tokens[i][1] if r.tokens[i][0] == "lit" else "*" for r in members}
            if len(children) < 2:
                continue
            follow: dict[str, set[str]] = {}
            for r in members:
                if len(r.tokens) > i + 1:
                    nxt = r.tokens[i + 1]
                    follow.setdefault(r.tokens[i][1] if r.tokens[i][0] == "lit" else "*", set()).add(
                        nxt[1] if nxt[0] == "lit" else "*")
            routes = [c for c in children if c.lower() not in ALIASES]
            carriers = {c: set(index.get(c, ())) if len(c) >= MIN_MATCH else set() for c in routes if c != "*"}
            carried = Counter(k for keys in carriers.values() for k in keys)
            followed = Counter(n for c in routes for n in follow.get(c, set()))
            promote: set[str] = set()
            for child, keys in carriers.items():
                # Evidence from answers: an id-named field carried it, or one field carried two siblings;
                # else from the routes: a sibling continues the same way.
                if (any(_idlike_key(k) or carried[k] > 1 for k in keys)
                        or any(followed[n] > 1 for n in follow.get(child, set()))):
                    promote.add(child)
            for r in members:
                if r.tokens[i][0] == "lit" and r.tokens[i][1] in promote:
                    r.tokens[i] = ("val", r.tokens[i][1])


def _sanitise(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("_.-")
    return cleaned if cleaned and not cleaned[0].isdigit() else f"p_{cleaned}" if cleaned else "param"


def _idlike_key(key: str) -> bool:
    flat = norm(key)
    return flat.endswith("id") or flat in ("vin", "uuid", "serial", "imei", "slug", "code", "key", "username")


def _name_for(values: list[str], explicit: list[str], prev: str | None,
              index: dict[str, Counter[str]]) -> str:
    if explicit:
        return _sanitise(explicit[0])
    scores: dict[str, tuple[int, int]] = {}
    for value in values:
        for key, count in index.get(value, Counter()).items():
            matched, occurrences = scores.get(key, (0, 0))
            scores[key] = (matched + 1, occurrences + count)
    if scores:
        best = min(scores, key=lambda k: (-scores[k][0], not _idlike_key(k), -scores[k][1], k))
        return _sanitise(best)
    if prev:
        return _sanitise(f"{singular(prev)}_id")
    return "id"


def _templates(requests: list[_Request], index: dict[str, Counter[str]]) -> list[str]:
    """The path template of every request (same order)."""
    values: dict[tuple[tuple[str, ...], int], list[str]] = {}
    explicit: dict[tuple[tuple[str, ...], int], list[str]] = {}
    for req in requests:
        for i, (kind, value) in enumerate(req.tokens):
            if kind == "lit":
                continue
            key = (_shape(req.tokens[:i]), i)
            bucket = explicit if kind == "var" else values
            if value not in bucket.setdefault(key, []):
                bucket[key].append(value)
    names: dict[tuple[tuple[str, ...], int], str] = {}
    for key in sorted({*values, *explicit}):
        prefix, i = key
        prev = prefix[i - 1] if i > 0 and prefix[i - 1] != "*" else None
        names[key] = _name_for(values.get(key, [])[:50], explicit.get(key, []), prev, index)
    out = []
    for req in requests:
        parts: list[str] = []
        used: set[str] = set()
        for i, (kind, value) in enumerate(req.tokens):
            if kind == "lit":
                parts.append(quote(value, safe=_LITERAL_SAFE))
                continue
            name = names[(_shape(req.tokens[:i]), i)]
            if name in used:
                prev = req.tokens[i - 1][1] if i > 0 and req.tokens[i - 1][0] == "lit" else "param"
                name = _sanitise(f"{singular(prev)}_{name}")
                n = 2
                while name in used:
                    name = f"{name}_{n}"
                    n += 1
            used.add(name)
            parts.append("{" + name + "}")
        out.append("/" + "/".join(parts))
    return out


# -- schemas ------------------------------------------------------------------------------------


def _scalar_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def value_schema(name: str | None, observed: list[Any], *, nested: bool) -> dict[str, Any]:
    """The schema of one field from its observed values; nested objects stay free objects."""
    types = {_scalar_type(v) for v in observed} - {"null"}
    if types == {"integer", "number"}:
        types = {"number"}
    if len(types) != 1:
        return {}
    kind = next(iter(types))
    if kind == "string":
        strings = [v for v in observed if isinstance(v, str)]
        schema: dict[str, Any] = {"type": "string", "maxLength": max([STRING_MIN_LENGTH, *map(len, strings)])}
        if name is not None and norm(name) in COMMAND_FIELDS and any(s.lower() in NO_OP_WORDS for s in strings):
            schema["enum"] = list(dict.fromkeys(strings))
        return schema
    if kind == "object":
        if nested:
            return {"type": "object"}
        return object_schema([v for v in observed if isinstance(v, dict)])
    if kind == "array":
        items = [item for v in observed if isinstance(v, list) for item in v]
        return {"type": "array", "items": value_schema(None, items, nested=True) if items else {}}
    return {"type": kind}


def object_schema(observed: list[dict[str, Any]]) -> dict[str, Any]:
    """Properties typed from every observation; required: the keys every observation had."""
    props: dict[str, list[Any]] = {}
    for doc in observed:
        for key, value in doc.items():
            props.setdefault(str(key), []).append(value)
    schema: dict[str, Any] = {"type": "object",
                              "properties": {k: value_schema(k, v, nested=True) for k, v in props.items()}}
    required = [k for k, v in props.items() if len(v) == len(observed)]
    if required:
        schema["required"] = required
    return schema


def body_schema(observed: list[Any]) -> dict[str, Any]:
    """The schema of a JSON body from every body observed for one operation."""
    return value_schema(None, observed, nested=False)


def form_schema(observed: list[list[tuple[str, str]]]) -> dict[str, Any]:
    """Form fields as strings."""
    docs = [dict(pairs) for pairs in observed]
    schema = object_schema(docs)
    return schema


def _param_schema(values: list[str]) -> dict[str, Any]:
    if values and all(re.fullmatch(r"-?\d{1,18}", v) for v in values):
        return {"type": "integer"}
    return {"type": "string"}


# -- merging ------------------------------------------------------------------------------------


def _authenticated(obs: Observation, query: list[tuple[str, str]]) -> bool:
    if obs.credentials:
        return True
    for name, _ in obs.headers:
        low = name.lower()
        if low in ("authorization", "cookie", "proxy-authorization") or (
                credential_name(name) and not standard_header(name)):
            return True
    return any(credential_name(k) for k, _ in query)


def _operation(method: str, path: str, members: list[_Request], secrets: set[str]) -> ApiOperation:
    headers: dict[str, tuple[str, list[str]]] = {}
    queries: dict[str, list[str]] = {}
    for req in members:
        for name, value in req.obs.headers:
            if standard_header(name) or credential_name(name) or value in secrets:
                continue
            low = name.lower()
            if low in ("authorization", "cookie", "proxy-authorization"):
                continue
            headers.setdefault(low, (name, []))[1].append(value)
        for name, value in req.query:
            if credential_name(name) or value in secrets:
                continue
            queries.setdefault(name, []).append(value)
    path_params = tuple(Param(n, "path", True, {"type": "string"}) for n in re.findall(r"\{([^}/]+)\}", path))
    params = (*path_params,
              *(Param(n, "query", False, _param_schema(v)) for n, v in queries.items()),
              *(Param(n, "header", False, {"type": "string"}) for n, _ in headers.values()))
    bodies = [r.obs.body for r in members if r.obs.body is not None]
    forms = [r.obs.form for r in members if r.obs.form is not None]
    medias = [r.obs.body_media for r in members if r.obs.body_media]
    schema: dict[str, Any] | None = None
    media: str | None = medias[0] if medias else None
    if bodies:
        schema = body_schema(bodies)
        media = next((m for m in medias if "json" in m), "application/json")
    elif forms:
        schema = form_schema(forms)
        media = media or "application/x-www-form-urlencoded"
    by_status: dict[str, list[Any]] = {}
    for req in members:
        if req.obs.status is not None:
            bucket = by_status.setdefault(str(req.obs.status), [])
            if req.obs.response is not None:
                bucket.append(req.obs.response)
    responses: dict[str, dict[str, Any] | None] = {
        code: (body_schema(docs) or None) if docs else None for code, docs in sorted(by_status.items())}
    auth = [_authenticated(r.obs, r.query) for r in members]
    public_success = any(not a and r.obs.status is not None and 200 <= r.obs.status < 300
                         for a, r in zip(auth, members, strict=True))
    literal = [s for s in path.strip("/").split("/") if s and not s.startswith("{")]
    return ApiOperation(method=method, path=path, summary=f"observed {len(members)} time(s)",
                        params=params, body_schema=schema, body_media=media, responses=responses,
                        secured=any(auth) and not public_success, tags=(literal[0],) if literal else ())


def build_model(observations: Iterable[Observation], base_url: str, *, source: str, title: str = "",
                version: str = "", secrets: Iterable[str] = ()) -> ApiModel:
    """Operations from observed requests under ``base_url``, in order of first observation.

    ``secrets``: values known to be credentials (never turned into header or query parameters).
    """
    base = parse_base(base_url)
    requests: list[_Request] = []
    for obs in observations:
        method = obs.method.strip().upper()
        if not _METHOD.match(method) or method in SKIPPED_METHODS:
            continue
        under = relative_path(obs.url, base)
        if under is None:
            continue
        segments, query_text = under
        query = obs.query if obs.query is not None else _parse_query(query_text)
        req = _Request(obs, method, segments, query)
        req.tokens = [_classify(s) for s in segments]
        requests.append(req)
    index = _response_values(requests)
    _promote_varying(requests, index)
    templates = _templates(requests, index)
    grouped: dict[tuple[str, str], list[_Request]] = {}
    for req, template in zip(requests, templates, strict=True):
        grouped.setdefault((req.method, template), []).append(req)
    known = {s for s in secrets if s}
    ops = tuple(_operation(method, path, members, known) for (method, path), members in grouped.items())
    return ApiModel(source=source, operations=ops, title=title, version=version)


def _parse_query(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    try:
        return parse_qsl(text, keep_blank_values=True)
    except ValueError:
        return []


__all__ = [
    "JsonSource", "Observation", "build_model", "cookie_pairs", "credential_name", "dedupe", "form_secrets",
    "header_secrets", "id_like", "inner_json", "json_secrets", "media_type", "norm", "parse_base", "parse_json_text",
    "password_name", "read_json_file", "relative_path", "singular", "standard_header",
]
