"""security.txt: the pure parser (properties) and the observation against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from iotvet.auth.session import Session
from iotvet.checks.observe import LEGACY, WELL_KNOWN, SecurityTxtObservation, observe_security_txt
from iotvet.checks.securitytxt import FIELDS, Field, SecurityTxt, assess, parse, render
from iotvet.core.redact import Redactor
from iotvet.core.scope import Scope
from iotvet.lab.runner import LabConfig, lab_in_thread
from iotvet.plan import LoadedPlan, load_plan
from iotvet.plan.schema import Plan
from iotvet.transport import Governor, HttpTransport
from tests.servers import Recorder, Running
from tests.transport.tls_servers import issue, serve_tls, server_context, write_ca

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SOON = (NOW + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
PLAIN = "text/plain; charset=utf-8"


def good_file(url: str, *, expires: str = SOON, contact: bool = True) -> str:
    lines = ["# security contacts of Example Telematics"]
    if contact:
        lines += ["Contact: mailto:security@example.com", "Contact: https://example.com/report"]
    lines += [f"Expires: {expires}", "Policy: https://example.com/disclosure", "Preferred-Languages: en, de",
              f"Canonical: {url}"]
    return "\n".join(lines) + "\n"


# ---- the parser and the rules, pure -----------------------------------------------------------

_known = st.sampled_from(FIELDS).flatmap(
    lambda name: st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
        lambda ups: "".join(c.upper() if u else c.lower() for c, u in zip(name, ups, strict=True))))
_extension = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,20}", fullmatch=True)
_value = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), min_size=1,
                 max_size=60).map(lambda v: v.strip(" \t")).filter(bool)
_fields = st.lists(st.tuples(st.one_of(_known, _extension), _value), max_size=12)


def _spelling(name: str) -> str:
    return {f.lower(): f for f in FIELDS}.get(name.lower(), name)


@given(st.text())
def test_parse_and_assess_never_raise(text: str) -> None:
    parsed = parse(text)
    assert all(isinstance(f, Field) for f in parsed.fields)
    assess(parsed, url="https://x.example/.well-known/security.txt", content_type=text[:40] or None, now=NOW)


@given(st.binary(max_size=300))
def test_parse_of_any_decoded_bytes_never_raises(data: bytes) -> None:
    parse(data.decode("utf-8", "replace"))


@given(_fields)
def test_well_formed_files_round_trip(fields: list[tuple[str, str]]) -> None:
    parsed = parse(render(fields))
    assert [(f.name, f.value) for f in parsed.fields] == [(_spelling(n), v) for n, v in fields]
    assert [f.line for f in parsed.fields] == list(range(1, len(fields) + 1))
    assert parsed.malformed == () and not parsed.signed


@given(_fields)
def test_signed_files_round_trip_with_dash_escaping(fields: list[tuple[str, str]]) -> None:
    lines = render(fields).split("\n")[:-1]  # not splitlines(): values may hold \x1e, \x85 ...
    body = "".join(f"- {line}\n" if line.startswith("-") else f"{line}\n" for line in lines)
    text = f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{body}-----BEGIN PGP SIGNATURE-----\n\nabc=\n" \
           "-----END PGP SIGNATURE-----\n"
    parsed = parse(text)
    assert [(f.name, f.value) for f in parsed.fields] == [(_spelling(n), v) for n, v in fields]
    assert parsed.signed and parsed.malformed == ()


def test_text_after_the_signature_is_not_read() -> None:
    text = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nContact: mailto:a@example.com\n"
            "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\nContact: mailto:evil@example.net\n")
    parsed = parse(text)
    assert parsed.values("Contact") == ("mailto:a@example.com",) and parsed.malformed == (8,)


def test_pathological_lines_parse_in_linear_time() -> None:
    began = time.monotonic()
    parsed = parse("Contact: a" + " \t" * 16_000 + "b\n" + "x" * 32_000 + "\n" + ":" * 32_000)
    assert time.monotonic() - began < 0.5
    assert parsed.values("Contact") == ("a" + " \t" * 16_000 + "b",) and parsed.malformed == (2, 3)


def _codes(text: str, *, url: str = "https://example.com/.well-known/security.txt",
           content_type: str | None = PLAIN) -> list[str]:
    return [f.code for f in assess(parse(text), url=url, content_type=content_type, now=NOW)]


def test_rules() -> None:
    url = "https://example.com/.well-known/security.txt"
    assert _codes(good_file(url)) == []
    assert _codes(good_file(url).replace("Policy", "X-Policy")) == ["policy-missing"]
    assert _codes(good_file(url) + "Expires: 2027-01-01T00:00:00Z\n") == ["expires-multiple"]
    assert _codes(good_file(url, expires="next Tuesday")) == ["expires-invalid"]
    assert _codes(good_file(url, expires="2026-07-01T00:00:00")) == ["expires-invalid"]  # no time zone
    assert _codes(good_file(url, expires="2026-07-01t00:00:00z")) == []  # RFC 3339 allows lower case
    assert _codes(good_file(url, expires="2026-05-31T23:59:59Z")) == ["expired"]
    assert _codes(good_file(url, expires="2028-01-01T00:00:00+02:00")) == ["expires-far"]
    assert _codes(good_file(url) + "Preferred-Languages: fr\n") == ["preferred-languages-multiple"]
    assert _codes(good_file(url) + "Hiring: http://example.com/jobs\n") == ["insecure-uri"]
    assert _codes(good_file(url), content_type="text/plain") == ["charset"]
    assert _codes(good_file(url), content_type=None) == ["content-type"]
    assert _codes(good_file(url), url="https://cdn.example.net/security.txt") == ["not-canonical"]
    assert _codes(good_file(url) + "this is not a field\n") == ["malformed-line"]
    assert _codes("") == ["contact-missing", "expires-missing", "policy-missing"]


# ---- the observation against servers ----------------------------------------------------------

Routes = Callable[[Running], dict[str, Callable[[web.Request], object]]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_ca(ca, tmp_path_factory.mktemp("sectxt"))


def _app(handlers: dict[str, Callable[[web.Request], object]]) -> Callable[[Recorder], web.Application]:
    def build(recorder: Recorder) -> web.Application:
        app = web.Application()
        for path, handler in handlers.items():
            app.router.add_get(path, handler)  # type: ignore[arg-type]
        return app

    return build


@pytest.fixture
def site(ca: trustme.CA) -> Iterator[Callable[..., Running]]:
    """Start a server with the given routes (over TLS unless ``tls=False``); stopped after the test."""
    stack: list[object] = []

    def start(handlers: dict[str, Callable[[web.Request], object]], *, tls: bool = True) -> Running:
        ctx = server_context(issue(ca, "127.0.0.1")) if tls else None
        manager = serve_tls(_app(handlers), ctx)
        stack.append(manager)
        return manager.__enter__()

    yield start
    for manager in reversed(stack):
        manager.__exit__(None, None, None)  # type: ignore[attr-defined]


def observe(srv: Running, ca_file: str, tmp_path: Path, *, extra_hosts: tuple[str, ...] = (),
            max_redirects: int = 3) -> SecurityTxtObservation:
    hosts = [srv.hostport, *extra_hosts]
    plan = Plan.model_validate({
        "target": {"base_url": srv.url + "/api/v2", "ca": ca_file}, "scope": {"hosts": hosts},
        "identities": [{"name": "ana", "tenant": "t", "auth": {"type": "bearer", "token": "not-sent"}}],
    })
    loaded = LoadedPlan(plan=plan, file=str(tmp_path / "plan.yaml"))
    return asyncio.run(_observe(loaded, hosts, ca_file, max_redirects))


async def _observe(loaded: LoadedPlan, hosts: list[str], ca_file: str | None,
                   max_redirects: int) -> SecurityTxtObservation:
    governor = Governor(rate=1000, concurrency=4, max_requests=50, max_duration=60)
    async with HttpTransport(Scope(hosts), governor, run_id="r-sectxt", ca=ca_file,
                             max_redirects=max_redirects) as http:
        session = Session(None, loaded, http, Redactor(loaded.secrets))
        return await observe_security_txt(session, now=NOW)


def text(body: str | bytes | Callable[[], str], content_type: str = PLAIN,
         status: int = 200) -> Callable[[web.Request], object]:
    """A handler answering ``body`` (a callable is asked at request time, e.g. for the server's own URL)."""
    async def handler(request: web.Request) -> web.Response:
        value = body() if callable(body) else body
        data = value.encode() if isinstance(value, str) else value
        return web.Response(body=data, status=status, headers={"Content-Type": content_type})

    return handler


def test_valid_file(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    box: dict[str, str] = {}
    srv = site({WELL_KNOWN: text(lambda: good_file(box["url"]))})
    box["url"] = srv.url + WELL_KNOWN
    obs = observe(srv, ca_file, tmp_path)
    assert (obs.found, obs.flags, obs.inconclusive, obs.url) == (True, (), None, srv.url + WELL_KNOWN)
    assert obs.file is not None and obs.file.values("Contact") == (
        "mailto:security@example.com", "https://example.com/report")
    assert obs.tried == (f"{srv.url}{WELL_KNOWN}: HTTP 200",)
    assert srv.recorder.paths() == [WELL_KNOWN] and "Authorization" not in srv.recorder.hits[0].headers
    assert obs.to_json()["file"]["fields"][0] == {"name": "Contact", "value": "mailto:security@example.com",
                                                  "line": 2}


def test_expired_file(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    srv = site({WELL_KNOWN: text(good_file("x", expires="2021-12-31T23:59:59Z").replace("Canonical: x\n", ""))})
    obs = observe(srv, ca_file, tmp_path)
    assert obs.found and obs.codes() == ("expired",)
    assert obs.flags[0].detail == "Expires 2021-12-31T23:59:59Z has passed: the file is stale"


def test_missing_contact(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    srv = site({WELL_KNOWN: text(good_file("x", contact=False).replace("Canonical: x\n", ""))})
    obs = observe(srv, ca_file, tmp_path)
    assert obs.found and obs.codes() == ("contact-missing",) and obs.flags[0].severity == "error"


def test_huge_body_is_inconclusive(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": PLAIN})
        await resp.prepare(request)
        try:
            for _ in range(80):  # 5 MiB unless the client hangs up
                await resp.write(b"Contact: mailto:a@example.com\n" * 2185)
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    srv = site({WELL_KNOWN: huge, LEGACY: text(good_file("x"))})
    obs = observe(srv, ca_file, tmp_path)
    assert (obs.found, obs.inconclusive) == (False, f"{srv.url}{WELL_KNOWN}: body larger than 32768 bytes")
    assert srv.recorder.paths() == [WELL_KNOWN]  # an unreadable file: the legacy location is not asked


def test_body_just_over_the_cap_and_non_utf8_are_inconclusive(site: Callable[..., Running], ca_file: str,
                                                               tmp_path: Path) -> None:
    srv = site({WELL_KNOWN: text("#" * 40_000)})
    assert observe(srv, ca_file, tmp_path).inconclusive == f"{srv.url}{WELL_KNOWN}: body larger than 32768 bytes"
    srv = site({WELL_KNOWN: text(b"Contact: mailto:\xff@example.com\n")})
    assert observe(srv, ca_file, tmp_path).inconclusive == f"{srv.url}{WELL_KNOWN}: body is not UTF-8"


def test_redirect_out_of_scope_is_inconclusive_and_not_followed(site: Callable[..., Running], ca_file: str,
                                                                tmp_path: Path) -> None:
    elsewhere = site({WELL_KNOWN: text(good_file("x"))})

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(elsewhere.url + WELL_KNOWN)

    srv = site({WELL_KNOWN: away})
    obs = observe(srv, ca_file, tmp_path)
    assert not obs.found and obs.flags == ()
    assert obs.inconclusive == (f"{elsewhere.url}{WELL_KNOWN}: out-of-scope: https://{elsewhere.hostport} "
                                "is not in scope.hosts")
    assert obs.tried[1] == f"absent: {srv.url}{LEGACY}: HTTP 404"
    assert elsewhere.recorder.hits == []


def test_redirect_in_scope_is_followed(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/static/security.txt")

    box: dict[str, str] = {}
    srv = site({WELL_KNOWN: moved, "/static/security.txt": text(lambda: good_file(box["url"]))})
    box["url"] = srv.url + "/static/security.txt"
    obs = observe(srv, ca_file, tmp_path)
    assert (obs.found, obs.url, obs.flags) == (True, box["url"], ())
    unfollowed = observe(srv, ca_file, tmp_path, max_redirects=0)
    assert unfollowed.inconclusive == f"{srv.url}{WELL_KNOWN}: HTTP 301, redirect to /static/security.txt not followed"


def test_html_answer_is_no_security_txt(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    page = text("<!DOCTYPE html><html><body>Welcome to Example Cloud</body></html>", "text/html")
    srv = site({WELL_KNOWN: page, LEGACY: page})
    obs = observe(srv, ca_file, tmp_path)
    assert (obs.found, obs.inconclusive, obs.codes()) == (False, None, ("missing",))
    assert obs.tried == (f"absent: {srv.url}{WELL_KNOWN}: HTTP 200, text/html, not a security.txt",
                         f"absent: {srv.url}{LEGACY}: HTTP 200, text/html, not a security.txt")


def test_not_found_anywhere(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    srv = site({})
    obs = observe(srv, ca_file, tmp_path)
    assert (obs.found, obs.inconclusive, obs.codes()) == (False, None, ("missing",))
    assert srv.recorder.paths() == [WELL_KNOWN, LEGACY]


def test_server_error_is_inconclusive_not_missing(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    srv = site({WELL_KNOWN: text("oops", status=500)})
    obs = observe(srv, ca_file, tmp_path)
    assert (obs.found, obs.flags, obs.inconclusive) == (False, (), f"{srv.url}{WELL_KNOWN}: HTTP 500")


def test_legacy_location_over_plaintext(site: Callable[..., Running], ca_file: str, tmp_path: Path) -> None:
    box: dict[str, str] = {}
    srv = site({LEGACY: text(lambda: good_file(box["url"]), "text/plain")}, tls=False)
    box["url"] = srv.url + LEGACY
    obs = observe(srv, ca_file, tmp_path)
    assert obs.found and obs.codes() == ("insecure-uri", "plaintext", "charset", "legacy-location")
    assert obs.flags[0].detail == "web URIs must be https: Canonical on line 7"


def test_the_lab_file(tmp_path: Path) -> None:
    """The lab's security.txt names a Canonical host the lab is never served from, and expires in 2030."""
    with lab_in_thread(LabConfig(mqtt="off")) as lab:
        path = tmp_path / "plan.yaml"
        lab.write_plan(path)
        loaded = load_plan(str(path))
        hosts = loaded.plan.scope.hosts
        obs = asyncio.run(_observe(loaded, hosts, str(lab.ca), 0))
    assert obs.found and obs.url == lab.origin + WELL_KNOWN
    assert obs.codes() == ("expires-far", "not-canonical")
    assert isinstance(obs.file, SecurityTxt) and obs.file.values("Policy")
