"""The plan loader: every bad input is ONE UserError naming file, line and field; nothing else escapes.

Line numbers are never hard-coded: ``line_of(text, needle)`` finds the line a problem sits on in the
very text the test wrote, so each assertion is exact and survives edits to the fixtures.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from importlib import resources
from pathlib import Path

import pytest

from iotvet.core.errors import UserError
from iotvet.core.scope import DEFAULT_PORTS, Scope
from iotvet.plan import LoadedPlan, load_plan
from iotvet.plan.schema import ApiKeyAuth, BearerAuth, LoginAuth, RequestSpec

EXAMPLE_TEXT = resources.files("iotvet.plan").joinpath("example.yaml").read_text(encoding="utf-8")
EXAMPLE_VARS = {  # variable -> field it sits in
    "ANA_TOKEN": "identities[0].auth.token",
    "ANA_MQTT_PW": "identities[0].mqtt.password",
    "BEN_PW": "identities[1].auth.request.json.password",
    "VISTACAM_ADMIN_KEY": "identities[2].auth.key",
    "DEV_PW": "identities[3].mqtt.password",
}

HEAD = """\
target:
  base_url: https://api.example:8443
scope:
  hosts: ["api.example:8443", "broker.example:8883", "idp.example:8443"]
identities:
  - name: ana
    tenant: t1
"""
MINIMAL = HEAD + "    auth: {type: bearer, token: tok-ana}\n"


def with_auth(auth: str) -> str:
    """MINIMAL with identities[0].auth replaced by ``auth`` (a flow mapping or an indented block)."""
    return HEAD + "    auth:" + ("\n" + auth if auth.startswith(" ") else " " + auth) + "\n"


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} occurs {len(hits)} times"
    return hits[occurrence - 1]


def write(tmp_path: Path, text: str | bytes, name: str = "plan.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str, *, env: dict[str, str] | None = None, strict_env: bool = False) -> LoadedPlan:
    return load_plan(write(tmp_path, text), env={} if env is None else env, strict_env=strict_env)


def assert_one_line(err: UserError, file: str) -> None:
    text = str(err)
    assert "\n" not in text and "\r" not in text, f"message spans lines: {text!r}"
    assert text.startswith(file), text
    assert err.source is not None and err.source.file == file
    if err.source.line is not None:
        assert text.startswith(f"{file}:{err.source.line}")
    if err.source.field is not None and err.source.field.isprintable():
        assert f": {err.source.field}: " in text


def fail(tmp_path: Path, text: str | bytes, *, env: dict[str, str] | None = None, strict_env: bool = False,
         name: str = "plan.yaml") -> UserError:
    path = write(tmp_path, text, name)
    with pytest.raises(UserError) as info:
        load_plan(path, env={} if env is None else env, strict_env=strict_env)
    assert_one_line(info.value, path)
    return info.value


def expect(err: UserError, line: int | None, field: str | None, *fragments: str) -> None:
    assert err.source is not None
    assert (err.source.line, err.source.field) == (line, field), str(err)
    for fragment in fragments:
        assert fragment in err.message, f"{fragment!r} not in {err.message!r}"


# ---------------------------------------------------------------- the example plan


def test_example_validates_offline_with_a_warning_per_unset_variable(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE_TEXT)
    loaded = load_plan(path, env={}, strict_env=False)
    assert loaded.unset_env == sorted(EXAMPLE_VARS)
    assert len(loaded.warnings) == len(EXAMPLE_VARS)
    for warning, (name, field) in zip(loaded.warnings, EXAMPLE_VARS.items(), strict=True):
        line = line_of(EXAMPLE_TEXT, "${" + name + "}")
        assert (warning.source.file, warning.source.line, warning.source.field) == (path, line, field)
        assert str(warning) == f"{path}:{line}: {field}: environment variable {name} is not set"
    assert loaded.secrets == []  # an unresolved ${NAME} is not a secret


def test_example_content(tmp_path: Path) -> None:
    plan = load(tmp_path, EXAMPLE_TEXT).plan
    assert [i.name for i in plan.identities] == ["ana.vistacam", "ben.roadhaus", "admin.vistacam", "VI-001001"]
    assert plan.safety.mode == "safe-writes"
    assert (plan.safety.rate, plan.safety.concurrency, plan.safety.max_requests) == (20, 8, 5000)
    assert (plan.safety.max_duration, plan.safety.request_timeout) == (600.0, 15.0)
    assert plan.target is not None and plan.target.base_url == "https://127.0.0.1:8443/api/v2"
    assert plan.mqtt is not None and plan.mqtt.require_tls and plan.mqtt.also == ["mqtt://127.0.0.1:1883"]
    assert isinstance(plan.identities[0].auth, BearerAuth)
    assert isinstance(plan.identities[1].auth, LoginAuth)
    assert isinstance(plan.identities[2].auth, ApiKeyAuth) and plan.identities[2].auth.in_ == "header"
    assert plan.identities[3].auth is None and plan.identities[3].device == "VI-001001"
    assert len(plan.policy) == 2 and isinstance(plan.flows["logout"], RequestSpec)


def test_example_with_every_variable_set(tmp_path: Path) -> None:
    env = {name: f"s3cret-{name.lower()}" for name in EXAMPLE_VARS}
    loaded = load(tmp_path, EXAMPLE_TEXT, env=env, strict_env=True)
    assert loaded.warnings == [] and loaded.unset_env == []
    values = {value for _, value in loaded.secrets}
    assert set(env.values()) <= values
    auth = loaded.plan.identities[0].auth
    assert isinstance(auth, BearerAuth) and auth.token.get_secret_value() == env["ANA_TOKEN"]


def test_example_strict_env_names_the_first_unset_variable(tmp_path: Path) -> None:
    err = fail(tmp_path, EXAMPLE_TEXT, env={}, strict_env=True)
    expect(err, line_of(EXAMPLE_TEXT, "${ANA_TOKEN}"), "identities[0].auth.token",
           "environment variable ANA_TOKEN is not set")


def test_example_reads_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_VARS:
        monkeypatch.setenv(name, f"from-os-{name}")
    loaded = load_plan(write(tmp_path, EXAMPLE_TEXT), strict_env=True)
    assert loaded.unset_env == [] and ("${DEV_PW}", "from-os-DEV_PW") in loaded.secrets


# ---------------------------------------------------------------- ${ENV} substitution


def test_env_substitution_in_strings(tmp_path: Path) -> None:
    text = HEAD.replace("tenant: t1", 'tenant: "${TENANT}"') + '    auth: {type: bearer, token: "pre-${A}-${B}-post"}\n'
    plan = load(tmp_path, text, env={"TENANT": "acme", "A": "1", "B": "two"}, strict_env=True).plan
    auth = plan.identities[0].auth
    assert plan.identities[0].tenant == "acme"
    assert isinstance(auth, BearerAuth) and auth.token.get_secret_value() == "pre-1-two-post"


def test_double_dollar_is_a_literal_reference(tmp_path: Path) -> None:
    text = with_auth('{type: bearer, token: "$${TOKEN}"}')
    loaded = load(tmp_path, text, env={"TOKEN": "must-not-appear"}, strict_env=True)
    auth = loaded.plan.identities[0].auth
    assert isinstance(auth, BearerAuth) and auth.token.get_secret_value() == "${TOKEN}"
    assert not [w for w in loaded.warnings if "environment" in w.message] and loaded.unset_env == []
    assert all(value != "must-not-appear" for _, value in loaded.secrets)
    loaded = load(tmp_path, text, env={}, strict_env=True)  # escaped: never "unset", even when strict
    assert loaded.unset_env == []


def test_unset_variable_strict_is_an_error(tmp_path: Path) -> None:
    text = with_auth('\n      type: bearer\n      token: "${NOPE}"')
    err = fail(tmp_path, text, strict_env=True)
    expect(err, line_of(text, "${NOPE}"), "identities[0].auth.token", "environment variable NOPE is not set")


def test_unset_variable_offline_is_a_warning_and_stays_as_written(tmp_path: Path) -> None:
    text = with_auth('\n      type: bearer\n      token: "x-${NOPE}"')
    path = write(tmp_path, text)
    loaded = load_plan(path, env={}, strict_env=False)
    auth = loaded.plan.identities[0].auth
    assert isinstance(auth, BearerAuth) and auth.token.get_secret_value() == "x-${NOPE}"
    assert loaded.unset_env == ["NOPE"]
    [warning] = [w for w in loaded.warnings if "NOPE" in w.message]
    assert (warning.source.line, warning.source.field) == (line_of(text, "${NOPE}"), "identities[0].auth.token")


def test_substituted_urls_are_scope_checked(tmp_path: Path) -> None:
    text = MINIMAL.replace("https://api.example:8443", '"${API}"')
    err = fail(tmp_path, text, env={"API": "https://evil.example:8443"}, strict_env=True)
    expect(err, line_of(text, "${API}"), "target.base_url", "https://evil.example:8443 is outside scope.hosts")


def test_invalid_variable_names_and_keys_are_left_alone(tmp_path: Path) -> None:
    text = with_auth('{type: bearer, token: "${1A}${A-B}$A"}')
    loaded = load(tmp_path, text, env={"1A": "x", "A": "y"}, strict_env=True)
    auth = loaded.plan.identities[0].auth
    assert isinstance(auth, BearerAuth) and auth.token.get_secret_value() == "${1A}${A-B}$A"
    err = fail(tmp_path, MINIMAL + '"${KEY}": 1\n', env={"KEY": "scope"}, strict_env=True)
    expect(err, line_of(MINIMAL + '"${KEY}": 1\n', "${KEY}"), "${KEY}", "unknown key '${KEY}'")


# ---------------------------------------------------------------- secrets


def test_secrets_from_secret_fields(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    text = """\
target:
  base_url: https://api.example:8443
mqtt: {url: "mqtts://broker.example:8883"}
scope:
  hosts: ["api.example:8443", "broker.example:8883", "idp.example:8443"]
identities:
  - {name: bearer, tenant: t, auth: {type: bearer, token: s-bearer}, mqtt: {username: u, password: s-mqtt}}
  - {name: apikey, tenant: t, auth: {type: apikey, key: s-apikey}}
  - {name: basic, tenant: t, auth: {type: basic, username: not-secret, password: s-basic}}
  - {name: cookie, tenant: t, auth: {type: cookie, cookies: {sid: s-cookie}}}
  - {name: headers, tenant: t, auth: {type: headers, headers: {X-Tok: s-header}}}
  - name: oauth
    tenant: t
    auth: {type: oauth2, token_url: "https://idp.example:8443/token", client_id: cid, client_secret: s-oauth}
  - {name: mtls, tenant: t, auth: {type: mtls, cert: c.pem, key: k.pem, key_password: s-mtls}}
"""
    secrets = dict(load(tmp_path, text).secrets)
    assert secrets == {
        "bearer.auth.token": "s-bearer",
        "bearer.mqtt.password": "s-mqtt",
        "apikey.auth.key": "s-apikey",
        "basic.auth.password": "s-basic",
        "cookie.auth.cookies.sid": "s-cookie",
        "headers.auth.headers.X-Tok": "s-header",
        "oauth.auth.client_secret": "s-oauth",
        "mtls.auth.key_password": "s-mtls",
    }


def test_secrets_from_env_values_whatever_the_field(tmp_path: Path) -> None:
    text = HEAD.replace("tenant: t1", 'tenant: t1\n    group: "${GROUP}"\n    role: "${EMPTY}user"') + \
        '    auth: {type: bearer, token: "${TOK}"}\n'
    loaded = load(tmp_path, text, env={"GROUP": "g-7", "TOK": "s-tok", "EMPTY": ""}, strict_env=True)
    assert ("${GROUP}", "g-7") in loaded.secrets
    assert ("${TOK}", "s-tok") in loaded.secrets
    assert all(value for _, value in loaded.secrets)  # an empty value is never a secret
    assert all(label != "${EMPTY}" for label, _ in loaded.secrets)


def test_secrets_from_login_bodies_headers_and_flows(tmp_path: Path) -> None:
    text = with_auth("""\
      type: login
      request:
        method: POST
        path: /auth/login
        json: {username: not-secret, password: s-pw, nested: {api_key: s-key, note: plain}, pins: [{pin: "s-pin"}]}
        headers: {Authorization: s-authz, X-Session-Id: s-session, Accept: plain}""") + """\
flows:
  rotate:
    - {method: POST, path: /rotate, form: {client_secret: s-flow, name: plain}}
"""
    secrets = load(tmp_path, text).secrets
    values = {value for _, value in secrets}
    assert {"s-pw", "s-key", "s-pin", "s-authz", "s-session", "s-flow"} <= values
    assert not values & {"not-secret", "plain", "/auth/login"}
    labels = dict(secrets)
    assert labels["ana.auth.request.password"] == "s-pw"
    assert labels["ana.auth.request.nested.api_key"] == "s-key"
    assert labels["ana.auth.request.headers.Authorization"] == "s-authz"
    assert labels["flows.rotate.client_secret"] == "s-flow"


# ---------------------------------------------------------------- unknown keys, did you mean


UNKNOWN_KEYS = [
    ("top", MINIMAL + "scpoe: {}\n", "scpoe:", "scpoe", "scope"),
    ("top-identities", MINIMAL.replace("identities:", "identites:"), "identites:", "identites", "identities"),
    ("target", MINIMAL.replace("  base_url", "  bse_url: x\n  base_url"), "bse_url", "target.bse_url", "base_url"),
    ("scope", MINIMAL.replace("  hosts:", "  host:"), "host:", "scope.host", "hosts"),
    ("safety", MINIMAL + "safety:\n  mode: read-only\n  rat: 5\n", "rat:", "safety.rat", "rate"),
    ("safety-duration", MINIMAL + "safety:\n  max_durations: 1h\n", "max_durations", "safety.max_durations",
     "max_duration"),
    ("mqtt", MINIMAL + "mqtt:\n  url: mqtts://broker.example\n  requre_tls: true\n", "requre_tls", "mqtt.requre_tls",
     "require_tls"),
    ("identity", MINIMAL + "  - name: ben\n    tenent: t2\n    auth: {type: bearer, token: x}\n", "tenent",
     "identities[1].tenent", "tenant"),
    ("identity-mqtt", MINIMAL + "    mqtt:\n      usernme: u\n", "usernme", "identities[0].mqtt.usernme", "username"),
    ("identity-verify", MINIMAL + "    verify:\n      path: /me\n      sttus: 200\n", "sttus",
     "identities[0].verify.sttus", "status"),
    ("bearer", with_auth("      type: bearer\n      token: x\n      tokn: y"), "tokn", "identities[0].auth.tokn",
     "token"),
    ("bearer-use", with_auth("      type: bearer\n      token: x\n      use:\n        hedaer: X-Tok"), "hedaer",
     "identities[0].auth.use.hedaer", "header"),
    ("basic", with_auth("      type: basic\n      username: u\n      pasword: p"), "pasword",
     "identities[0].auth.pasword", "password"),
    ("apikey", with_auth("      type: apikey\n      key: k\n      nmae: X-Key"), "nmae", "identities[0].auth.nmae",
     "name"),
    ("cookie", with_auth("      type: cookie\n      cookes: {sid: x}"), "cookes", "identities[0].auth.cookes",
     "cookies"),
    ("headers", with_auth("      type: headers\n      hedaers: {X: y}"), "hedaers", "identities[0].auth.hedaers",
     "headers"),
    ("oauth2", with_auth("      type: oauth2\n      token_url: https://idp.example:8443/t\n      client_id: c\n"
                         "      client_secret: s\n      scpe: read"), "scpe", "identities[0].auth.scpe", "scope"),
    ("mtls", with_auth("      type: mtls\n      cert: c.pem\n      key: k.pem\n      key_pasword: p"), "key_pasword",
     "identities[0].auth.key_pasword", "key_password"),
    ("wfc", with_auth("      type: wfc\n      file: w.yaml\n      usr: u"), "usr", "identities[0].auth.usr", "user"),
    ("login", with_auth("      type: login\n      requst: {path: /login}"), "requst", "identities[0].auth.requst",
     "request"),
    ("login-request", with_auth("      type: login\n      request:\n        method: POST\n        pth: /login"), "pth",
     "identities[0].auth.request.pth", "path"),
    ("login-request-json", with_auth("      type: login\n      request:\n        path: /login\n        jsn: {}"), "jsn",
     "identities[0].auth.request.jsn", "json"),
    ("policy", MINIMAL + "policy:\n  - resorce: vehicles\n    public: true\n", "resorce", "policy[0].resorce",
     "resource"),
    ("flow", MINIMAL + "flows:\n  logout:\n    method: POST\n    pth: /logout\n", "pth", "flows.logout.pth", "path"),
    pytest.param("flow-list", MINIMAL + "flows:\n  logout:\n    - {path: /a}\n    - {method: POST, pth: /b}\n", "pth",
                 "flows.logout[1].pth", "path", id="flow-list"),
]


@pytest.mark.parametrize(("case", "text", "needle", "field", "suggestion"), UNKNOWN_KEYS,
                         ids=[c[0] if isinstance(c, tuple) else c.id for c in UNKNOWN_KEYS])
def test_unknown_key_names_line_field_and_suggests(tmp_path: Path, case: str, text: str, needle: str, field: str,
                                                   suggestion: str) -> None:
    err = fail(tmp_path, text)
    key = field.rsplit(".", 1)[-1].split("]")[-1]
    expect(err, line_of(text, needle), field, f"unknown key {key!r}", f"did you mean {suggestion!r}?")


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    text = MINIMAL + "zzzz: 1\n"
    err = fail(tmp_path, text)
    expect(err, line_of(text, "zzzz"), "zzzz",
           "unknown key 'zzzz' (known keys: flows, identities, mqtt, policy, safety, scope, target)")
    assert "did you mean" not in err.message


def test_a_key_of_another_auth_type_is_unknown_here(tmp_path: Path) -> None:
    text = with_auth("      type: bearer\n      token: x\n      client_secret: y")
    err = fail(tmp_path, text)
    expect(err, line_of(text, "client_secret"), "identities[0].auth.client_secret", "unknown key 'client_secret'",
           "known keys: token, type, use")


# ---------------------------------------------------------------- wrong types and values


WRONG_TYPES = [
    ("tenant-int", MINIMAL.replace("tenant: t1", "tenant: 5"), "tenant:", "identities[0].tenant", "valid string"),
    ("tenant-date", MINIMAL.replace("tenant: t1", "tenant: 2024-01-01"), "tenant:", "identities[0].tenant",
     "valid string"),
    ("rate-text", MINIMAL + "safety:\n  rate: fast\n", "rate:", "safety.rate", "valid number"),
    ("rate-zero", MINIMAL + "safety:\n  rate: 0\n", "rate:", "safety.rate", "greater than 0"),
    ("concurrency-range", MINIMAL + "safety:\n  concurrency: 0\n", "concurrency", "safety.concurrency",
     "greater than or equal to 1"),
    ("duration", MINIMAL + "safety:\n  max_duration: forever\n", "max_duration", "safety.max_duration",
     "expected a duration such as 30s, 10m or 1h"),
    ("duration-negative", MINIMAL + "safety:\n  request_timeout: -5\n", "request_timeout", "safety.request_timeout",
     "a duration must be positive"),
    ("sacrificial", MINIMAL.replace("tenant: t1", "tenant: t1\n    sacrificial: maybe"), "sacrificial",
     "identities[0].sacrificial", "valid boolean"),
    ("identities-mapping", MINIMAL.replace("  - name: ana", "    name: ana"),
     "identities:", "identities", "valid list"),
    ("hosts-string", MINIMAL.replace('["api.example:8443", "broker.example:8883", "idp.example:8443"]', "api.example"),
     "hosts:", "scope.hosts", "valid list"),
    ("hosts-item", MINIMAL.replace('["api.example:8443", "broker.example:8883", "idp.example:8443"]', "\n    - 5"),
     "- 5", "scope.hosts[0]", "valid string"),
    ("hosts-entry", MINIMAL.replace('"idp.example:8443"', '"idp example"'), "hosts:", "scope.hosts",
     "'idp example' is not host or host:port"),
    ("target-int", MINIMAL.replace("target:\n  base_url: https://api.example:8443", "target: 5"), "target:", "target",
     "valid dictionary"),
    ("safety-list", MINIMAL + "safety: []\n", "safety:", "safety", "valid dictionary"),
    ("auth-int", with_auth("5"), "auth:", "identities[0].auth", "valid dictionary"),
    ("identity-int", MINIMAL + "  - 5\n", "  - 5", "identities[1]", "valid dictionary"),
    ("form-value", with_auth("{type: login, request: {path: /l, form: {a: [1]}}}"), "auth:",
     "identities[0].auth.request.form.a", "valid string"),
    ("base-url-scheme", MINIMAL.replace("https://api.example:8443", "ftp://api.example"), "base_url",
     "target.base_url", "expected a URL starting with http:// or https://"),
    ("base-url-port", MINIMAL.replace("https://api.example:8443", "https://api.example:99999"), "base_url",
     "target.base_url", "bad port in URL"),
    ("mqtt-url-scheme", MINIMAL + "mqtt: {url: 'http://broker.example:8883'}\n", "mqtt:", "mqtt.url",
     "expected a URL starting with mqtt://"),
    ("mqtt-also-string", MINIMAL + "mqtt:\n  url: mqtts://broker.example\n  also: mqtt://broker.example\n", "also",
     "mqtt.also", "valid list"),
    ("topic-placeholder", MINIMAL + "mqtt:\n  url: mqtts://broker.example\n  topics:\n    t: '{tenent}/x'\n",
     "topics:", "mqtt.topics", "unknown placeholder {tenent}"),
    ("identities-empty", MINIMAL.split("identities:")[0] + "identities: []\n", "identities:", "identities",
     "at least 1 item"),
    ("scope-missing", MINIMAL.replace('scope:\n  hosts: ["api.example:8443", "broker.example:8883", '
                                      '"idp.example:8443"]\n', ""), "target:", "scope", "required key is missing"),
    ("identity-without-credentials", HEAD, "- name: ana", "identities[0]",
     "an identity needs auth (HTTP) or mqtt credentials"),
    ("json-and-form", with_auth("{type: login, request: {path: /l, json: {a: 1}, form: {a: b}}}"), "auth:",
     "identities[0].auth.request", "give either json or form, not both"),
    ("login-token", with_auth("{type: login, request: {path: /l}, token: access_token}"), "auth:",
     "identities[0].auth.token", "expected a JSONPath"),
    ("relative-path-needs-slash", with_auth("{type: login, request: {path: login}}"), "auth:",
     "identities[0].auth.request.path", "expected a path starting with /"),
]


@pytest.mark.parametrize(("case", "text", "needle", "field", "fragment"), WRONG_TYPES, ids=[c[0] for c in WRONG_TYPES])
def test_wrong_type_or_value(tmp_path: Path, case: str, text: str, needle: str, field: str, fragment: str) -> None:
    err = fail(tmp_path, text)
    expect(err, line_of(text, needle), field, fragment)


def test_plan_without_target_or_mqtt_points_at_the_document(tmp_path: Path) -> None:
    text = MINIMAL.replace("target:\n  base_url: https://api.example:8443\n", "")
    err = fail(tmp_path, text)
    expect(err, 1, None, "a plan needs target (REST) or mqtt, or both")


def test_more_problems_are_counted_on_the_same_line(tmp_path: Path) -> None:
    text = MINIMAL + "safety:\n  rat: 5\n  mod: x\n"
    err = fail(tmp_path, text)
    expect(err, line_of(text, "rat:"), "safety.rat", "did you mean 'rate'?", "(and 1 more problem)")


ENUMS = [
    ("mode", MINIMAL + "safety:\n  mode: safe-write\n", "mode:", "safety.mode",
     "'safe-write' is not one of read-only, safe-writes, intrusive", "safe-writes"),
    ("mode-readonly", MINIMAL + "safety:\n  mode: readonly\n", "mode:", "safety.mode", "is not one of", "read-only"),
    ("auth-type", with_auth("      type: barer\n      token: x"), "type: barer", "identities[0].auth.type",
     "type 'barer' is not one of bearer, apikey, basic, cookie, headers, login, oauth2, mtls, wfc", "bearer"),
    ("auth-type-oauth", with_auth("      type: oauth\n      token_url: x"), "type: oauth", "identities[0].auth.type",
     "type 'oauth' is not one of", "oauth2"),
    ("auth-type-case", with_auth("      type: Bearer\n      token: x"), "type: Bearer", "identities[0].auth.type",
     "type 'Bearer' is not one of", "bearer"),
    ("apikey-in", with_auth("      type: apikey\n      key: k\n      in: heder"), "in: heder", "identities[0].auth.in",
     "'heder' is not one of header, query", "header"),
    ("relation", MINIMAL + "policy:\n  - {resource: vehicles, visible_to: sme-group}\n", "visible_to",
     "policy[0].visible_to", "sme-group", "same-group"),
]


@pytest.mark.parametrize(("case", "text", "needle", "field", "fragment", "suggestion"), ENUMS,
                         ids=[c[0] for c in ENUMS])
def test_bad_enum_value_suggests(tmp_path: Path, case: str, text: str, needle: str, field: str, fragment: str,
                                 suggestion: str) -> None:
    err = fail(tmp_path, text)
    expect(err, line_of(text, needle), field, fragment, f"did you mean {suggestion!r}?")


def test_auth_without_type_says_which_kinds_exist(tmp_path: Path) -> None:
    text = with_auth("      token: x")
    err = fail(tmp_path, text)
    expect(err, line_of(text, "auth:"), "identities[0].auth", "say which kind with type:", "oauth2")


# ---------------------------------------------------------------- scope and files


OUT_OF_SCOPE = [
    ("base-url-host", MINIMAL.replace("https://api.example:8443", "https://evil.example:8443"), "base_url",
     "target.base_url", "https://evil.example:8443"),
    ("base-url-default-port", MINIMAL.replace("https://api.example:8443", "https://api.example"), "base_url",
     "target.base_url", "https://api.example"),
    ("openapi", MINIMAL.replace("8443\n", "8443\n  openapi: https://specs.example/o.json\n", 1), "openapi",
     "target.openapi", "https://specs.example/o.json"),
    ("mqtt-url", MINIMAL + "mqtt:\n  url: mqtts://broker.example:1883\n", "url: mqtts", "mqtt.url",
     "mqtts://broker.example:1883"),
    ("mqtt-also", MINIMAL + "mqtt:\n  url: mqtts://broker.example\n  also:\n    - mqtts://broker.example:8883\n"
     "    - mqtt://broker.example\n", "- mqtt://", "mqtt.also[1]", "mqtt://broker.example"),
    ("oauth2-token-url", with_auth("      type: oauth2\n      token_url: https://idp.example/token\n"
                                   "      client_id: c\n      client_secret: s"), "token_url",
     "identities[0].auth.token_url", "https://idp.example/token"),
    ("login-absolute", with_auth("      type: login\n      request:\n        method: POST\n"
                                 "        path: https://idp.example:9443/login"), "path:",
     "identities[0].auth.request.path", "https://idp.example:9443/login"),
    ("verify-absolute", MINIMAL + "    verify: {path: 'https://api.example:9443/me'}\n", "verify",
     "identities[0].verify.path", "https://api.example:9443/me"),
    ("tenant-host", MINIMAL.replace("8443\n", "8443\n  tenant_hosts: {t1: 'api.example:8443', t2: b.example}\n", 1),
     "tenant_hosts", "target.tenant_hosts.t2", "https://b.example"),
    ("flow-absolute", MINIMAL + "flows:\n  logout:\n    - {path: /a}\n    - {path: 'https://evil.example/x'}\n",
     "evil.example", "flows.logout[1].path", "https://evil.example/x"),
]


@pytest.mark.parametrize(("case", "text", "needle", "field", "url"), OUT_OF_SCOPE, ids=[c[0] for c in OUT_OF_SCOPE])
def test_out_of_scope_url(tmp_path: Path, case: str, text: str, needle: str, field: str, url: str) -> None:
    err = fail(tmp_path, text)
    expect(err, line_of(text, needle), field, f"{url} is outside scope.hosts")


@pytest.mark.parametrize("url", ["http://[::1/login", "https://[zz/x", "http://api.example:8443:8443/x"])
def test_malformed_absolute_url_is_a_user_error(tmp_path: Path, url: str) -> None:
    text = with_auth("      type: login\n      request:\n        method: POST\n        path: '" + url + "'")
    err = fail(tmp_path, text)
    expect(err, line_of(text, "path:"), "identities[0].auth.request.path", url)


def test_in_scope_urls_pass(tmp_path: Path) -> None:
    text = with_auth("      type: oauth2\n      token_url: https://idp.example:8443/token\n"
                     "      client_id: c\n      client_secret: s") + \
        "mqtt:\n  url: mqtts://broker.example\n  also: [mqtts://broker.example:8883]\n"
    loaded = load(tmp_path, text.replace("8443\n", "8443\n  openapi: https://api.example:8443/o.json\n", 1))
    assert loaded.plan.mqtt is not None and loaded.warnings == []


MISSING_FILES = [
    ("target-ca", MINIMAL.replace("8443\n", "8443\n  ca: lab-ca.pem\n", 1), "ca:", "target.ca", "lab-ca.pem"),
    ("openapi-file", MINIMAL.replace("8443\n", "8443\n  openapi: spec/openapi.json\n", 1), "openapi", "target.openapi",
     "spec/openapi.json"),
    ("har-file", MINIMAL.replace("8443\n", "8443\n  har: capture.har\n", 1), "har:", "target.har", "capture.har"),
    ("mqtt-ca", MINIMAL + "mqtt:\n  url: mqtts://broker.example\n  ca: broker-ca.pem\n", "ca:", "mqtt.ca",
     "broker-ca.pem"),
    ("mtls-cert", with_auth("      type: mtls\n      cert: client.pem\n      key: present.key"), "cert:",
     "identities[0].auth.cert", "client.pem"),
    ("mtls-key", with_auth("      type: mtls\n      cert: present.pem\n      key: client.key"), "key:",
     "identities[0].auth.key", "client.key"),
    ("wfc-file", with_auth("      type: wfc\n      file: auth.yaml\n      user: ana"), "file:",
     "identities[0].auth.file", "auth.yaml"),
    ("mqtt-cert", MINIMAL + "    mqtt: {username: u, cert: present.pem, key: dev.key}\nmqtt: {url: "
     "'mqtts://broker.example'}\n", "mqtt: {username", "identities[0].mqtt.key", "dev.key"),
    ("directory-as-file", MINIMAL.replace("8443\n", "8443\n  ca: adir\n", 1), "ca:", "target.ca", "adir"),
    ("name-too-long", MINIMAL.replace("8443\n", "8443\n  ca: " + "x" * 300 + "\n", 1), "ca:", "target.ca", "xxxx"),
    ("path-too-long", MINIMAL.replace("8443\n", "8443\n  ca: " + "x/" * 3000 + "y\n", 1), "ca:", "target.ca", "x/x/"),
    ("unknown-home", MINIMAL.replace("8443\n", "8443\n  ca: ~no-such-user-iotvet/ca.pem\n", 1), "ca:", "target.ca",
     "~no-such-user-iotvet/ca.pem"),
]


@pytest.mark.parametrize(("case", "text", "needle", "field", "name"), MISSING_FILES, ids=[c[0] for c in MISSING_FILES])
def test_missing_referenced_file(tmp_path: Path, case: str, text: str, needle: str, field: str, name: str) -> None:
    (tmp_path / "present.pem").write_text("x")
    (tmp_path / "present.key").write_text("x")
    (tmp_path / "adir").mkdir()
    err = fail(tmp_path, text)
    expect(err, line_of(text, needle), field, f"file not found: {name}")


def test_relative_files_resolve_against_the_plan_folder_not_the_cwd(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    plans = tmp_path / "plans"
    (plans / "certs").mkdir(parents=True)
    (plans / "certs" / "ca.pem").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load(plans, MINIMAL.replace("8443\n", "8443\n  ca: certs/ca.pem\n", 1))
    assert loaded.plan.target is not None and loaded.resolve("certs/ca.pem") == plans / "certs" / "ca.pem"


WFC_OK = """\
auth:
  - name: ana
    fixedHeaders:
      - {name: Authorization, value: Bearer s-wfc}
"""


def test_wfc_import_loads(tmp_path: Path) -> None:
    (tmp_path / "auth.yaml").write_text(WFC_OK)
    loaded = load(tmp_path, with_auth("{type: wfc, file: auth.yaml, user: ana}"))
    assert loaded.plan.identities[0].auth is not None


def test_wfc_unknown_user_names_the_wfc_file(tmp_path: Path) -> None:
    (tmp_path / "auth.yaml").write_text(WFC_OK)
    path = write(tmp_path, with_auth("{type: wfc, file: auth.yaml, user: ben}"))
    with pytest.raises(UserError) as info:
        load_plan(path, env={}, strict_env=False)
    assert_one_line(info.value, str(tmp_path / "auth.yaml"))
    assert "no user 'ben' in this WFC auth file (users: ana)" in info.value.message


def test_wfc_login_with_a_relative_endpoint_is_a_user_error(tmp_path: Path) -> None:
    wfc = "auth:\n  - name: ana\n    loginEndpointAuth:\n      endpoint: login\n      expectCookies: true\n"
    (tmp_path / "auth.yaml").write_text(wfc)
    path = write(tmp_path, with_auth("{type: wfc, file: auth.yaml, user: ana}"))
    with pytest.raises(UserError) as info:
        load_plan(path, env={}, strict_env=False)
    err = info.value
    assert err.source is not None and err.source.line is not None
    assert_one_line(err, err.source.file)


def test_wfc_login_url_outside_scope_is_refused(tmp_path: Path) -> None:
    wfc = ("auth:\n  - name: ana\n    loginEndpointAuth:\n      externalEndpointURL: https://evil.example/login\n"
           "      expectCookies: true\n")
    (tmp_path / "auth.yaml").write_text(wfc)
    path = write(tmp_path, with_auth("{type: wfc, file: auth.yaml, user: ana}"))
    with pytest.raises(UserError) as info:
        load_plan(path, env={}, strict_env=False)
    err = info.value
    assert err.source is not None and err.source.line is not None
    assert_one_line(err, err.source.file)
    assert "https://evil.example/login is outside scope.hosts" in err.message


def test_sections_needed_by_credentials(tmp_path: Path) -> None:
    text = MINIMAL + "    mqtt: {username: u}\n"
    expect(fail(tmp_path, text), line_of(text, "mqtt:"), "identities[0].mqtt", "mqtt credentials need an mqtt: section")
    text = MINIMAL.replace("target:\n  base_url: https://api.example:8443\n", "mqtt: {url: 'mqtts://broker.example'}\n")
    expect(fail(tmp_path, text), line_of(text, "auth:"), "identities[0].auth", "HTTP auth needs a target: section")


# ---------------------------------------------------------------- duplicates


def test_duplicate_identity_names_point_at_the_second(tmp_path: Path) -> None:
    text = MINIMAL + "  - name: ana\n    tenant: t2\n    auth: {type: bearer, token: y}\n"
    err = fail(tmp_path, text)
    expect(err, line_of(text, "- name: ana", occurrence=2), "identities[1].name", "ana")


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    text = MINIMAL + "scope:\n  hosts: [x]\n"
    err = fail(tmp_path, text)
    expect(err, line_of(text, "scope:", occurrence=2), "scope", "key 'scope' appears twice")


def test_duplicate_nested_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("    tenant: t1\n", "    tenant: t1\n    tenant: t2\n")
    err = fail(tmp_path, text)
    expect(err, line_of(text, "tenant: t2"), "identities[0].tenant", "key 'tenant' appears twice")


def test_duplicate_key_in_a_flow_mapping(tmp_path: Path) -> None:
    text = with_auth("{type: bearer, token: a, token: b}")
    err = fail(tmp_path, text)
    expect(err, line_of(text, "token: b"), "identities[0].auth.token", "key 'token' appears twice")


def test_merge_key_lets_own_keys_override(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - name: ana", "  - &ana\n    name: ana") + "  - <<: *ana\n    name: ben\n"
    plan = load(tmp_path, text).plan
    assert [(i.name, i.tenant) for i in plan.identities] == [("ana", "t1"), ("ben", "t1")]


def test_merge_of_a_scalar_is_a_user_error(tmp_path: Path) -> None:
    text = MINIMAL + "    <<: 5\n"
    err = fail(tmp_path, text)
    assert err.source is not None and err.source.line in (line_of(text, "- name: ana"), line_of(text, "<<: 5"))


# ---------------------------------------------------------------- YAML itself


SYNTAX = [
    ("mapping-values", MINIMAL + "safety:\n  mode: a: b\n", "mode: a: b", "mapping values are not allowed here"),
    ("tab-indent", MINIMAL + "safety:\n\tmode: x\n", "\tmode", "found character '\\t' that cannot start any token"),
    ("bad-indent", MINIMAL + "safety:\n    mode: x\n  rate: 3\n", "rate: 3", "expected <block end>"),
    ("stray-bracket", MINIMAL + "safety:\n  mode: ]\n", "mode: ]", "expected the node content"),
    ("undefined-alias", MINIMAL + "safety: *nope\n", "*nope", "found undefined alias 'nope'"),
    ("undefined-tag-handle", MINIMAL + "safety: !x!y z\n", "!x!y", "found undefined tag handle"),
    ("second-document", MINIMAL + "---\nfoo: 1\n", "---", "not valid YAML"),
    ("unclosed-quote-at-end", MINIMAL + 'safety:\n  mode: "read-only\n', '"read-only', "not valid YAML"),
    ("unclosed-flow-at-end", MINIMAL + "safety: {mode: read-only\n", "safety: {", "not valid YAML"),
]


@pytest.mark.parametrize(("case", "text", "needle", "fragment"), SYNTAX, ids=[c[0] for c in SYNTAX])
def test_yaml_syntax_error_names_the_line(tmp_path: Path, case: str, text: str, needle: str, fragment: str) -> None:
    err = fail(tmp_path, text)
    expect(err, line_of(text, needle), None, fragment)
    assert err.message.startswith("not valid YAML: ")


def test_yaml_error_in_a_crlf_file_counts_lines_right(tmp_path: Path) -> None:
    text = MINIMAL + "safety:\n  mode: a: b\n"
    err = fail(tmp_path, text.replace("\n", "\r\n").encode())
    expect(err, line_of(text, "mode: a: b"), None, "mapping values are not allowed here")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    text = MINIMAL + "scpoe: 1\n"
    err = fail(tmp_path, b"\xef\xbb\xbf" + text.encode())
    expect(err, line_of(text, "scpoe"), "scpoe", "did you mean 'scope'?")


BAD_SCALARS = [
    ("timestamp-text", "!!timestamp foo"),
    ("timestamp-month", "!!timestamp 2024-13-45"),
    ("timestamp-offset", "!!timestamp 2024-01-01 10:00:00 +99:99"),
    ("int-text", "!!int x"),
    ("int-hex-empty", "!!int 0x"),
    ("int-empty", "!!int ''"),
    ("float-empty", "!!float"),
    ("float-text", "!!float x"),
    ("bool-text", "!!bool maybe"),
    ("huge-int", "9" * 5000),
    ("unknown-tag", "!foo bar"),
    ("python-tag", "!!python/object:os.system ls"),
    ("set-of-scalar", "!!set 5"),
    ("omap-of-scalar", "!!omap 5"),
]


@pytest.mark.parametrize(("case", "value"), BAD_SCALARS, ids=[c[0] for c in BAD_SCALARS])
def test_unreadable_scalar_names_line_and_field(tmp_path: Path, case: str, value: str) -> None:
    text = MINIMAL + "safety:\n  mode: read-only\n  rate: " + value + "\n"
    err = fail(tmp_path, text)
    expect(err, line_of(text, "rate:"), "safety.rate")


def test_non_string_keys(tmp_path: Path) -> None:
    text = MINIMAL + "? [a, b]\n: 1\n"
    expect(fail(tmp_path, text), line_of(text, "? [a, b]"), None, "mapping keys must be plain strings")
    text = MINIMAL + "~: 1\n"
    expect(fail(tmp_path, text), line_of(text, "~: 1"), None, "mapping keys must be plain strings")
    text = MINIMAL + "12: 1\n"
    expect(fail(tmp_path, text), line_of(text, "12: 1"), "12", "unknown key '12'")


@pytest.mark.parametrize(("text", "line"), [
    pytest.param("- target\n- scope\n", 1, id="list"),
    pytest.param("just words\n", 1, id="scalar"),
    pytest.param("~\n", 1, id="null"),
    pytest.param("# a comment\n\n42\n", 3, id="number-after-comment"),
    pytest.param("# plan\n# more\n- a\n", 3, id="list-after-comments"),
])
def test_non_mapping_document(tmp_path: Path, text: str, line: int) -> None:
    err = fail(tmp_path, text)
    expect(err, line, None, "a plan is a YAML mapping")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank-lines", "comment"])
def test_empty_document(tmp_path: Path, text: str) -> None:
    err = fail(tmp_path, text)
    expect(err, None, None, "a plan is a YAML mapping")


# ---------------------------------------------------------------- unreadable files


def test_missing_plan_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(UserError) as info:
        load_plan(path)
    assert_one_line(info.value, path)
    expect(info.value, None, None, "file not found")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        load_plan(str(tmp_path))
    assert_one_line(info.value, str(tmp_path))
    expect(info.value, None, None, "is a directory, not a file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    os.chmod(path, 0)
    with pytest.raises(UserError) as info:
        load_plan(path)
    assert_one_line(info.value, path)
    expect(info.value, None, None, "permission denied")


@pytest.mark.parametrize(("data", "offset"), [
    pytest.param(b"\xff\xfe\x00\x00binary", 0, id="binary"),
    pytest.param(MINIMAL.encode() + b"caf\xe9: 1\n", len(MINIMAL.encode()) + 3, id="latin-1"),
    pytest.param("target: x\n".encode("utf-16"), 0, id="utf-16"),
    pytest.param(bytes(range(256)), 128, id="all-bytes"),
])
def test_non_utf8_file(tmp_path: Path, data: bytes, offset: int) -> None:
    err = fail(tmp_path, data)
    expect(err, None, None, f"not UTF-8 text (byte {offset})")


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f"], ids=["nul", "bell", "escape", "del"])
def test_control_character_names_its_line(tmp_path: Path, char: str) -> None:
    text = MINIMAL + "safety:\n  mode: read" + char + "only\n"
    err = fail(tmp_path, text)
    expect(err, line_of(text, "mode: read"), None, "not valid YAML")


def test_newlines_in_keys_and_values_do_not_break_the_line(tmp_path: Path) -> None:
    text = MINIMAL + '"sco\\npe": 1\n'
    err = fail(tmp_path, text)
    assert err.source is not None and err.source.line == line_of(text, "sco\\npe")
    text = MINIMAL.replace("8443\n", '8443\n  ca: "lab\\nca.pem"\n', 1)
    err = fail(tmp_path, text)
    expect(err, line_of(text, "ca:"), "target.ca", "file not found")


# ---------------------------------------------------------------- hostile documents


def alias_bomb(levels: int, width: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("levels", "width"), [(9, 10), (3, 100), (2, 1000), (30, 2)])
def test_alias_bomb_fails_fast_without_eating_memory(tmp_path: Path, levels: int, width: int) -> None:
    text = alias_bomb(levels, width) + MINIMAL
    path = write(tmp_path, text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UserError) as info:
            load_plan(path, env={}, strict_env=False)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 10, f"took {elapsed:.1f}s"
    assert peak < 200 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert_one_line(info.value, path)
    assert "alias bomb" in info.value.message
    assert info.value.source is not None and info.value.source.line is not None


def test_aliases_below_the_limit_load(tmp_path: Path) -> None:
    devices = "[" + ", ".join(f"VI-{i:06d}" for i in range(50)) + "]"
    text = MINIMAL.replace("tenant: t1", f"tenant: t1\n    devices: &devs {devices}") + "".join(
        f"  - {{name: n{i}, tenant: t1, devices: *devs, auth: {{type: bearer, token: s}}}}\n" for i in range(200))
    plan = load(tmp_path, text).plan
    assert len(plan.identities) == 201 and plan.identities[-1].devices[-1] == "VI-000049"


def test_merge_keys_below_the_limit_load(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - name: ana", "  - &x\n    name: ana") + "".join(
        f"  - {{<<: *x, name: n{i}}}\n" for i in range(100))
    plan = load(tmp_path, text).plan
    assert [i.name for i in plan.identities][-2:] == ["n98", "n99"]


@pytest.mark.parametrize(("case", "depth"), [("flow-lists", 5000), ("flow-maps", 3000), ("block-maps", 1500)],
                         ids=["flow-lists", "flow-maps", "block-maps"])
def test_deep_nesting_is_a_user_error(tmp_path: Path, case: str, depth: int) -> None:
    if case == "flow-lists":
        text = MINIMAL + "safety: " + "[" * depth + "]" * depth + "\n"
    elif case == "flow-maps":
        text = MINIMAL + "safety: " + "{a: " * depth + "1" + "}" * depth + "\n"
    else:
        text = MINIMAL + "".join("  " * i + f"k{i}:\n" for i in range(depth))
    started = time.perf_counter()
    err = fail(tmp_path, text)
    assert time.perf_counter() - started < 10
    assert "RecursionError" not in err.message
    assert "deep" in err.message or "nest" in err.message


def test_moderate_nesting_loads_and_finds_deep_secrets(tmp_path: Path) -> None:
    body = "{a: " * 100 + "{password: s-deep}" + "}" * 100
    loaded = load(tmp_path, with_auth("{type: login, request: {path: /l, json: " + body + "}}"))
    assert "s-deep" in {value for _, value in loaded.secrets}


# ---------------------------------------------------------------- scope matching (iotvet.core.scope)


@pytest.mark.parametrize(("scheme", "port"), sorted(DEFAULT_PORTS.items()))
def test_scope_host_without_port_allows_only_the_scheme_default(scheme: str, port: int) -> None:
    scope = Scope(["api.example"])
    assert scope.allows_url(f"{scheme}://api.example/x")
    assert scope.allows_url(f"{scheme}://api.example:{port}/x")
    assert not scope.allows_url(f"{scheme}://api.example:{port + 1}/x")
    assert scope.allows(scheme.upper(), "api.example", None)


@pytest.mark.parametrize(("entries", "url", "allowed"), [
    (["api.example:8443"], "https://api.example:8443/v1", True),
    (["api.example:8443"], "https://api.example/v1", False),  # an explicit port is not the default
    (["api.example:443"], "https://api.example/v1", True),
    (["api.example:443"], "http://api.example/v1", False),
    (["[::1]:8000"], "http://[::1]:8000/x", True),
    (["[::1]:8000"], "http://[0:0:0:0:0:0:0:1]:8000/x", True),
    (["[0:0::1]:8000"], "http://[::1]:8000/x", True),
    (["[::1]:8000"], "http://[::1]:8001/x", False),
    (["[::1]:8000"], "http://[::1]/x", False),
    (["[::1]"], "https://[::1]/x", True),
    (["127.0.0.1:8443"], "https://127.0.0.1:8443", True),
    (["127.0.0.1:8443"], "https://127.0.0.2:8443", False),
    (["*.dev.example:8443"], "https://a.dev.example:8443", True),
    (["*.dev.example:8443"], "https://a.b.dev.example:8443", True),  # fnmatch: * crosses dots
    (["*.dev.example:8443"], "https://dev.example:8443", False),
    (["*.dev.example:8443"], "https://a.dev.example", False),
    (["*.dev.example:8443"], "https://a.dev.example.evil:8443", False),
    (["*"], "https://anything.example", True),
    (["*"], "https://anything.example:8443", False),
    (["API.Example.COM"], "https://api.example.com", True),
    (["api.example.com"], "https://API.EXAMPLE.COM", True),
    (["*.EXAMPLE.com"], "https://Api.Example.Com", True),
    (["api.example.com."], "https://api.example.com", True),
    (["api.example.com"], "https://api.example.com./x", True),
    ([" api.example.com "], "https://api.example.com", True),
    (["api.example.com"], "https://api.example.com.evil.example", False),
    (["api.example.com"], "https://evil-api.example.com", False),
    (["api.example.com"], "https://api.example.com@evil.example/", False),
    (["api.example.com"], "https://evil.example#@api.example.com", False),
    (["api.example.com"], "https://evil.example/?x=api.example.com", False),
    (["api.example.com"], "https://api.example.com:99999/", False),
    (["api.example.com"], "https://api.example.com:abc/", False),
    (["api.example.com"], "https:///path-only", False),
    (["api.example.com"], "api.example.com", False),
    (["api.example.com"], "", False),
])
def test_scope_allows_url(entries: list[str], url: str, allowed: bool) -> None:
    assert Scope(entries).allows_url(url) is allowed


@pytest.mark.parametrize("url", ["http://[::1/x", "https://[zz", "https://zz]/"])
def test_scope_malformed_url_is_refused_not_raised(url: str) -> None:
    assert Scope(["[::1]", "api.example"]).allows_url(url) is False


@pytest.mark.parametrize("url", ["ftp://api.example/x", "gopher://api.example", "file://api.example/etc/passwd"])
def test_scope_refuses_schemes_without_a_default_port(url: str) -> None:
    # An entry without a port means "the scheme's default port"; a scheme iotvet does not speak has none.
    assert Scope(["api.example"]).allows_url(url) is False


def test_scope_host_allowed_ignores_ports() -> None:
    scope = Scope(["api.example:8443", "*.dev.example", "[::1]:8000"])
    assert scope.host_allowed("API.example.")
    assert scope.host_allowed("x.dev.example")
    assert scope.host_allowed("0:0::1")
    assert not scope.host_allowed("evil.example")


@pytest.mark.parametrize("entry", ["a b", "[zz]", "host:123456", "", "https://api.example", "api.example/x"])
def test_scope_rejects_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError, match="is not host or host:port"):
        Scope([entry])
