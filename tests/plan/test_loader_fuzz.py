"""Property: whatever a plan file holds, ``load_plan`` returns a LoadedPlan or raises ONE UserError.

The UserError's text starts with the file's path, is a single line, and carries a line number
whenever the file was parsable YAML with some content. Any other exception is a bug (it would
reach the user as a traceback). Four generators, 2,500 examples each, 10,000 plans a run:

* mutations of the example plan's data (keys deleted, misspelt, inserted; values retyped, nested),
* YAML-looking text built from YAML punctuation, plan keywords and indentation,
* the same text appended to a valid plan head (so the loader gets past the first section),
* raw bytes, alone or spliced into the example file.
"""

from __future__ import annotations

import copy
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotvet.core.errors import UserError
from iotvet.plan import LoadedPlan, load_plan
from iotvet.plan.schema import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CookieAuth,
    HeadersAuth,
    Identity,
    LoginAuth,
    Mqtt,
    MqttCredentials,
    MtlsAuth,
    OAuth2Auth,
    Plan,
    PolicyEntry,
    RequestSpec,
    Safety,
    Scope,
    Target,
    TokenUse,
    VerifySpec,
    WfcAuth,
)

EXAMPLES = 2_500
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

EXAMPLE_TEXT = resources.files("iotvet.plan").joinpath("example.yaml").read_text(encoding="utf-8")
EXAMPLE_DATA: dict[str, Any] = yaml.safe_load(EXAMPLE_TEXT)
EXAMPLE_VARS = ("ANA_TOKEN", "ANA_MQTT_PW", "BEN_PW", "VISTACAM_ADMIN_KEY", "DEV_PW")

_MODELS = (Plan, Target, Mqtt, Scope, Safety, PolicyEntry, RequestSpec, VerifySpec, TokenUse, Identity, MqttCredentials,
           BearerAuth, ApiKeyAuth, BasicAuth, CookieAuth, HeadersAuth, LoginAuth, OAuth2Auth, MtlsAuth, WfcAuth)
SCHEMA_KEYS = sorted({f.alias or name for m in _MODELS for name, f in m.model_fields.items()})

WFC_FILE = "auth:\n  - name: ana\n    fixedHeaders: [{name: Authorization, value: Bearer x}]\n" \
    "  - name: ben\n    loginEndpointAuth: {endpoint: /login, expectCookies: true}\n"
AUX_FILES = {"ca.pem": "x", "cert.pem": "x", "key.pem": "x", "spec.json": "{}", "auth.yaml": WFC_FILE}

# Values that reach deep into the loader: schema words, enum members, URLs in and out of scope,
# files that exist, env references, durations, hosts, and a few hostile strings.
VOCAB = [
    *SCHEMA_KEYS, "bearer", "apikey", "basic", "cookie", "headers", "login", "oauth2", "mtls", "wfc",
    "read-only", "safe-writes", "intrusive", "same-group", "same-tenant", "self", "device", "admin", "user",
    "https://127.0.0.1:8443/api", "https://127.0.0.1:8443/openapi.json", "http://127.0.0.1:8443/x", "/auth/login",
    "mqtts://127.0.0.1:8883", "mqtt://127.0.0.1:1883", "wss://127.0.0.1:8883", "https://evil.example/x",
    "http://[::1/x", "https://[::1]:8000", "ftp://127.0.0.1", "ca.pem", "cert.pem", "key.pem", "spec.json",
    "auth.yaml", "ana", "ben", "missing.pem", "~no-such-user-iotvet/x", "x" * 300, "a\nb", "\x00",
    "${ANA_TOKEN}", "$${ANA_TOKEN}", "${UNSET_VAR}", "${BEN_PW}-suffix", "10m", "30s", "1h", "250ms", "-1s", "0",
    "127.0.0.1:8443", "[::1]:8000", "*.example", "GET /firmware", "$.access_token", "cookie:*", "header:X-Token",
    "{tenant}/{device}/telemetry", "{nope}/x", "a/#", "POST", "GET", "P O S T",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(VOCAB),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(SCHEMA_KEYS) | st.text(max_size=6),
                                                                inner, max_size=3),
    max_leaves=6,
)


def _containers(node: Any) -> list[Any]:
    """Every dict and list in ``node`` (itself included), depth first."""
    found = [node]
    children = node.values() if isinstance(node, dict) else node
    for child in children:
        if isinstance(child, dict | list):
            found.extend(_containers(child))
    return found


def _typo(draw: st.DrawFn, word: str) -> str:
    kind = draw(st.sampled_from(["drop", "double", "swap", "upper", "suffix", "plural", "replace", "other-key"]))
    if not word or kind == "replace":
        return draw(st.text(min_size=1, max_size=8))
    if kind == "other-key":
        return draw(st.sampled_from(SCHEMA_KEYS))
    i = draw(st.integers(0, len(word) - 1))
    if kind == "drop":
        return word[:i] + word[i + 1:] or word + "_"
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap" and len(word) > 1:
        j = min(i + 1, len(word) - 1)
        return word[:i] + word[j] + word[i] + word[j + 1:]
    if kind == "upper":
        return word.upper() if word != word.upper() else word.lower() + "x"
    return word + ("s" if kind == "plural" else "_")


@st.composite
def mutated_plans(draw: st.DrawFn) -> str:
    data = copy.deepcopy(EXAMPLE_DATA)
    for _ in range(draw(st.integers(1, 4))):
        node = draw(st.sampled_from(_containers(data)))
        op = draw(st.sampled_from(["delete", "rename", "retype", "insert", "nest", "duplicate"]))
        if isinstance(node, dict):
            keys = list(node)
            if op == "insert" or not keys:
                node[draw(st.sampled_from(SCHEMA_KEYS) | st.text(max_size=10))] = draw(values)
                continue
            key = draw(st.sampled_from(keys))
            if op == "delete":
                del node[key]
            elif op == "rename":
                node[_typo(draw, key)] = node.pop(key)
            elif op == "retype":
                node[key] = draw(values)
            elif op == "nest":
                node[key] = draw(st.sampled_from([[node[key]], {key: node[key]}, {"type": node[key]}]))
            else:
                node[_typo(draw, key)] = copy.deepcopy(node[key])
        else:
            if op == "insert" or not node:
                node.insert(draw(st.integers(0, len(node))), draw(values))
                continue
            i = draw(st.integers(0, len(node) - 1))
            if op == "delete":
                del node[i]
            elif op == "duplicate":
                node.append(copy.deepcopy(node[i]))  # duplicate identity names, policy entries ...
            elif op == "nest":
                node[i] = [node[i]]
            else:
                node[i] = draw(values)
    style = draw(st.sampled_from([False, True, None]))
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=style, allow_unicode=draw(st.booleans()))


YAML_TOKENS = [
    "target:", "scope:", "identities:", "safety:", "mqtt:", "flows:", "policy:", "hosts:", "auth:", "type: bearer",
    "token: x", "name: ana", "tenant: t", "base_url: https://127.0.0.1:8443", "hosts: ['127.0.0.1:8443']",
    "- ", "-", ":", ": ", "? ", "{", "}", "[", "]", ",", "&a ", "*a", "&b ", "*b", "<<: ", "<<: *a", "!!int ",
    "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ", "!!python/object:os.system ", "!x ",
    "!x!y ",
    "|", "|-", ">", "#", "'", '"', "\\", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:", "${ANA_TOKEN}",
    "$${X}", "~", "null", "true", "no", "1e9", "0x1F", "0o17", "1_000", "2024-13-45", "9" * 40, ".nan", ".inf",
    "\t", " ", "  ", "\r", "\r\n", "\x00", "\x07", "\x85", "\u2028", "\ufeff", "é", "💥", "=",
]
yaml_lines = st.tuples(
    st.integers(0, 6),
    st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=4), max_size=6),
)
yaml_text = st.one_of(
    st.lists(yaml_lines, max_size=12).map(lambda lines: "\n".join("  " * i + "".join(ts) for i, ts in lines)),
    st.text(max_size=200),
)
PLAN_HEAD = EXAMPLE_TEXT.split("safety:")[0]  # target, mqtt and scope of the example: valid so far


def _parses(text: str) -> bool:
    """True when PyYAML composes ``text`` into a non-empty document (so a line number is known)."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader) is not None
    except Exception:  # anything PyYAML (or Python's stack) refuses is "not parsed"
        return False


# One folder for the whole module (hypothesis and function-scoped fixtures do not mix): the files a
# plan may name, and the plan itself, rewritten for every example. Removed when the module is collected.
_WORKDIR = tempfile.TemporaryDirectory(prefix="iotvet-fuzz-")
FOLDER = Path(_WORKDIR.name)
for _name, _text in AUX_FILES.items():
    (FOLDER / _name).write_text(_text, encoding="utf-8")
PLAN = FOLDER / "plan.yaml"


def check(content: str | bytes, *, env: dict[str, str] | None = None, strict_env: bool = False) -> None:
    if isinstance(content, bytes):
        PLAN.write_bytes(content)
    else:
        PLAN.write_text(content, encoding="utf-8")
    try:
        result = load_plan(str(PLAN), env={} if env is None else env, strict_env=strict_env)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
        assert message.startswith(str(FOLDER)), f"does not start with the file: {message!r}"
        assert exc.source is not None
        if exc.source.line is not None:
            assert message.startswith(f"{exc.source.file}:{exc.source.line}"), message
        elif exc.source.file == str(PLAN):  # no line: only right when the file is not (non-empty) YAML
            try:
                text = content.decode("utf-8") if isinstance(content, bytes) else content
            except UnicodeDecodeError:
                return
            assert not _parses(text), f"no line number although the YAML parsed: {message!r}"
    else:
        assert isinstance(result, LoadedPlan)


env_values = st.dictionaries(st.sampled_from(EXAMPLE_VARS), st.text(max_size=10) | st.sampled_from(VOCAB), max_size=5)


@FUZZ
@given(text=mutated_plans(), env=env_values, strict_env=st.booleans())
def test_mutated_example_plans(text: str, env: dict[str, str], strict_env: bool) -> None:
    check(text, env=env, strict_env=strict_env)


@FUZZ
@given(text=yaml_text)
def test_yaml_looking_text(text: str) -> None:
    check(text)


@FUZZ
@given(tail=yaml_text)
def test_valid_head_then_yaml_looking_text(tail: str) -> None:
    check(PLAN_HEAD + tail)


EXAMPLE_BYTES = EXAMPLE_TEXT.encode("utf-8")


@st.composite
def spliced_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(EXAMPLE_BYTES)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 16))
        data[at:at + cut] = draw(st.binary(max_size=16))
    return bytes(data)


@FUZZ
@given(data=st.binary(max_size=400) | spliced_bytes())
def test_random_bytes(data: bytes) -> None:
    check(data)
