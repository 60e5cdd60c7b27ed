"""``iotvet init`` and ``iotvet validate`` through ``main(argv)``: exit codes, one-line errors, no traceback, no I/O."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from iotvet.cli import EXIT_OK, EXIT_USAGE, main

EXAMPLE_TEXT = resources.files("iotvet.plan").joinpath("example.yaml").read_text(encoding="utf-8")
EXAMPLE_VARS = ("ANA_TOKEN", "ANA_MQTT_PW", "BEN_PW", "VISTACAM_ADMIN_KEY", "DEV_PW")

MINIMAL = """\
target:
  base_url: https://api.example:8443
scope:
  hosts: ["api.example:8443"]
identities:
  - name: ana
    tenant: t1
    auth: {type: bearer, token: tok-ana}
"""


@pytest.fixture(autouse=True)
def _no_example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EXAMPLE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "80")  # what a CI log usually is; long lines must not wrap


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out and "Traceback" not in err
    return code, out, err


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


# ---------------------------------------------------------------- init


def test_init_writes_the_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.yaml"
    code, out, err = run(capsys, "init", str(path))
    assert code == EXIT_OK and err == ""
    assert path.read_text(encoding="utf-8") == EXAMPLE_TEXT
    assert out == f"wrote {path}; edit it, then run: iotvet validate {path}\n"
    assert sorted(os.listdir(tmp_path)) == ["plan.yaml"]  # no temporary file left behind


def test_init_default_path(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, _ = run(capsys, "init")
    assert code == EXIT_OK
    assert (tmp_path / "iotvet.yaml").read_text(encoding="utf-8") == EXAMPLE_TEXT


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("mine: true\n")
    os.utime(path, (1_000_000, 1_000_000))
    code, out, err = run(capsys, "init", str(path))
    assert code == EXIT_USAGE and out == ""
    assert err == f"iotvet: error: {path}: exists already; use --force to overwrite it\n"
    assert path.read_text() == "mine: true\n" and path.stat().st_mtime == 1_000_000
    assert sorted(os.listdir(tmp_path)) == ["plan.yaml"]


def test_init_force_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("mine: true\n")
    code, _, err = run(capsys, "init", str(path), "--force")
    assert code == EXIT_OK and err == ""
    assert path.read_text(encoding="utf-8") == EXAMPLE_TEXT
    assert sorted(os.listdir(tmp_path)) == ["plan.yaml"]


def test_init_creates_missing_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new" / "sub" / "plan.yaml"
    code, _, err = run(capsys, "init", str(path))
    assert code == EXIT_OK and err == ""
    assert path.read_text(encoding="utf-8") == EXAMPLE_TEXT
    assert os.listdir(path.parent) == ["plan.yaml"]


def test_init_below_a_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    path = tmp_path / "afile" / "plan.yaml"
    code, out, err = run(capsys, "init", str(path))
    assert code == EXIT_USAGE and out == ""
    assert err.startswith(f"iotvet: error: {path}: cannot write: ") and err.count("\n") == 1
    assert os.listdir(tmp_path) == ["afile"] and (tmp_path / "afile").read_text() == "x"


def test_init_onto_a_directory_leaves_nothing_half_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "sub"
    target.mkdir()
    code, out, err = run(capsys, "init", str(target), "--force")
    assert code == EXIT_USAGE and out == ""
    assert err.startswith(f"iotvet: error: {target}: cannot write: ") and err.count("\n") == 1
    assert os.listdir(tmp_path) == ["sub"], "a temporary file was left next to the target"
    assert os.listdir(target) == []


def test_init_then_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "iotvet.yaml")
    assert run(capsys, "init", path)[0] == EXIT_OK
    assert run(capsys, "validate", path)[0] == EXIT_OK


# ---------------------------------------------------------------- validate: good plans


def test_validate_example_offline_warns_once_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a-rather-long-directory-name-so-warnings-exceed-eighty-columns" / "iotvet.yaml"
    path.parent.mkdir()
    path.write_text(EXAMPLE_TEXT, encoding="utf-8")
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_OK
    assert out == (f"{path}: valid: 4 identities in 2 tenants (roadhaus, vistacam); mode safe-writes; rate 20/s; "
                   "max 5000 requests / 600s; mqtt\n")
    lines = err.splitlines()
    assert len(lines) == len(EXAMPLE_VARS), err
    for line, name in zip(lines, EXAMPLE_VARS, strict=True):
        assert line.startswith(f"warning: {path}:{line_of(EXAMPLE_TEXT, '${' + name + '}')}: identities[")
        assert line.endswith(f": environment variable {name} is not set")


def test_validate_with_environment_is_quiet_and_prints_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {name: f"s3cret-value-{i}" for i, name in enumerate(EXAMPLE_VARS)}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "iotvet.yaml"
    path.write_text(EXAMPLE_TEXT, encoding="utf-8")
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_OK and err == "" and out.startswith(f"{path}: valid: ")
    assert not any(value in out + err for value in secrets.values())


def test_validate_minimal_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(MINIMAL)
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_OK
    assert out == (f"{path}: valid: 1 identities in 1 tenants (t1); mode read-only; rate 10/s; "
                   "max 5000 requests / 1800s\n")
    assert err.startswith("warning: ") and "no API description" in err


# ---------------------------------------------------------------- validate: bad plans


BAD = [
    ("unknown-key", MINIMAL + "scpoe: {}\n", "scpoe", "scpoe", "unknown key 'scpoe'; did you mean 'scope'?"),
    ("unknown-auth-key", MINIMAL.replace("token: tok-ana}", "token: tok-ana, tokn: x}"), "tokn",
     "identities[0].auth.tokn", "did you mean 'token'?"),
    ("wrong-type", MINIMAL + "safety:\n  rate: fast\n", "rate:", "safety.rate", "valid number"),
    ("enum", MINIMAL + "safety:\n  mode: safe-write\n", "mode:", "safety.mode", "did you mean 'safe-writes'?"),
    ("out-of-scope", MINIMAL.replace("https://api.example:8443", "https://evil.example:8443"), "base_url",
     "target.base_url", "https://evil.example:8443 is outside scope.hosts"),
    ("missing-file", MINIMAL.replace("8443\n", "8443\n  ca: lab-ca.pem\n", 1), "ca:", "target.ca",
     "file not found: lab-ca.pem"),
    ("duplicate-key", MINIMAL.replace("    tenant: t1\n", "    tenant: t1\n    tenant: t2\n"), "tenant: t2",
     "identities[0].tenant", "key 'tenant' appears twice"),
    ("syntax", MINIMAL + "safety:\n  mode: a: b\n", "mode: a: b", None, "not valid YAML: mapping values"),
    ("non-mapping", "- a\n- b\n", "- a", None, "a plan is a YAML mapping"),
    ("alias-bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)), "a: &a",
     None, "alias bomb"),
]


@pytest.mark.parametrize(("case", "text", "needle", "field", "fragment"), BAD, ids=[c[0] for c in BAD])
def test_validate_bad_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, needle: str,
                           field: str | None, fragment: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_USAGE and out == ""
    where = f"{path}:{line_of(text, needle)}" + (f": {field}" if field else "")
    assert err.startswith(f"iotvet: error: {where}: "), err
    assert fragment in err
    assert err.count("\n") == 1 and err.endswith("\n")


UNREADABLE = [
    ("missing", None, "file not found"),
    ("directory", "DIR", "is a directory, not a file"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8 text (byte 0)"),
    ("empty", b"", "a plan is a YAML mapping with target/mqtt, scope and identities"),
]


@pytest.mark.parametrize(("case", "data", "message"), UNREADABLE, ids=[c[0] for c in UNREADABLE])
def test_validate_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                  data: bytes | str | None, message: str) -> None:
    path = tmp_path / "plan.yaml"
    if data == "DIR":
        path.mkdir()
    elif isinstance(data, bytes):
        path.write_bytes(data)
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_USAGE and out == ""
    assert err == f"iotvet: error: {path}: {message}\n"


HOSTILE = [
    ("bad-timestamp", MINIMAL + "safety:\n  rate: !!timestamp soon\n", "rate:"),
    ("bad-int-tag", MINIMAL + "safety:\n  rate: !!int fast\n", "rate:"),
    ("huge-int", MINIMAL + "safety:\n  max_requests: " + "9" * 5000 + "\n", "max_requests"),
    ("merge-scalar", MINIMAL + "    <<: 5\n", "<<: 5"),
    ("malformed-url", MINIMAL + "    verify: {path: 'http://[::1/me'}\n", "verify"),
    ("unknown-home", MINIMAL.replace("8443\n", "8443\n  ca: ~no-such-user-iotvet/ca.pem\n", 1), "ca:"),
    ("control-character", MINIMAL + "safety:\n  mode: read\x07only\n", "mode:"),
    ("newline-in-key", MINIMAL + '"a\\nb": 1\n', "a\\nb"),
    ("deep", MINIMAL + "safety: " + "[" * 3000 + "]" * 3000 + "\n", None),
]


@pytest.mark.parametrize(("case", "text", "needle"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_validate_hostile_plan_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                                      text: str, needle: str | None) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    prefix = f"iotvet: error: {path}" + (f":{line_of(text, needle)}:" if needle else ": ")
    assert err.startswith(prefix), err


def test_validate_without_plan_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate")
    assert code == EXIT_USAGE
    assert "Missing argument 'PLAN'" in out + err


# ---------------------------------------------------------------- validate: no network


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []

    def refuse(what: str) -> Callable[..., None]:
        def _refuse(*args: object, **kwargs: object) -> None:
            attempts.append(f"{what}{args[1:] if what.startswith('socket.') else args}")
            raise AssertionError(f"iotvet validate tried network I/O: {what}")
        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket.socket, "sendto", refuse("socket.sendto"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", refuse("gethostbyname"))
    return attempts


def test_validate_does_no_network_io(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     no_network: list[str]) -> None:
    path = tmp_path / "iotvet.yaml"
    path.write_text(EXAMPLE_TEXT, encoding="utf-8")
    code, _, _ = run(capsys, "validate", str(path))
    assert code == EXIT_OK and no_network == []
    text = MINIMAL.replace("api.example", "unresolvable.invalid").replace(
        "8443\n", "8443\n  openapi: https://unresolvable.invalid:8443/openapi.json\n", 1)
    path.write_text(text)
    code, _, _ = run(capsys, "validate", str(path))
    assert code == EXIT_OK and no_network == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_validate_of_a_plan_at_a_closed_port_is_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    text = MINIMAL.replace("api.example:8443", f"127.0.0.1:{port}").replace(
        f"{port}\n", f"{port}\n  openapi: http://127.0.0.1:{port}/openapi.json\n", 1)
    text += f"mqtt: {{url: 'mqtt://127.0.0.1:{port}'}}\n"
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    started = time.perf_counter()
    code, out, err = run(capsys, "validate", str(path))
    assert code == EXIT_OK, err
    assert time.perf_counter() - started < 5
    assert re.match(rf"{re.escape(str(path))}: valid: 1 identities", out)
