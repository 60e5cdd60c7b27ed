"""Property: mutating a valid questionnaire gives a Questionnaire or ONE UserError, never another exception.

Keys are deleted, misspelt, inserted and nested; values are retyped; the YAML text is garbled.
A UserError is one line that starts with the file's path (and its line, when it names one).
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

from iotvet.assess import Questionnaire, load_catalogue, load_questionnaire
from iotvet.assess.fields import Section
from iotvet.core.errors import UserError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LAB = yaml.safe_load(resources.files("iotvet.assess").joinpath("data", "lab-questionnaire.yaml").read_text("utf-8"))
# A smaller valid base keeps each example fast: every section, a dozen claims (an R marked no among them).
BASE: dict[str, Any] = {**LAB, "claims": {k: v for i, (k, v) in enumerate(LAB["claims"].items()) if i % 6 == 0
                                          or k == "5.11-4"}}


def _keys(model: type[Section]) -> set[str]:
    found = set(model.model_fields)
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, Section):
            found |= _keys(field.annotation)
    return found


KEYS = sorted(_keys(Questionnaire) | {"implemented", "justification", "evidence"})
VOCAB = [*KEYS, *load_catalogue().by_id, "yes", "no", "unknown", "maybe", "camera", "vehicle", "tls1.2", "1.2",
         "automatic", "none", "user-set", "https://x.example/p", "ftp://x", "http://[::1", "2030-12-31", "2030-13-45",
         "5.1-11", "5.1.1", "", " ", "a\nb", "\x00", "x" * 400, "GET /status", "api.example:443"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
                    st.text(max_size=10), st.sampled_from(VOCAB), st.dates())
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(VOCAB) | st.text(max_size=6), inner, max_size=3), max_leaves=6)


def _containers(node: Any) -> list[Any]:
    found = [node]
    for child in node.values() if isinstance(node, dict) else node:
        if isinstance(child, dict | list):
            found.extend(_containers(child))
    return found


def _typo(draw: st.DrawFn, word: str) -> str:
    kind = draw(st.sampled_from(["drop", "double", "upper", "suffix", "other"]))
    if kind == "other" or not word:
        return draw(st.sampled_from(VOCAB))
    i = draw(st.integers(0, len(word) - 1))
    if kind == "drop":
        return word[:i] + word[i + 1:] or "_"
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word.upper() if kind == "upper" else word + "1"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        node = draw(st.sampled_from(_containers(data)))
        op = draw(st.sampled_from(["delete", "rename", "retype", "insert", "nest"]))
        if isinstance(node, list):
            if node and op == "delete":
                del node[draw(st.integers(0, len(node) - 1))]
            else:
                node.append(draw(values))
            continue
        if op == "insert" or not node:
            node[draw(st.sampled_from(VOCAB))] = draw(values)
            continue
        key = draw(st.sampled_from(sorted(node, key=str)))
        if op == "delete":
            del node[key]
        elif op == "rename":
            node[_typo(draw, str(key))] = node.pop(key)
        elif op == "retype":
            node[key] = draw(values)
        else:
            node[key] = draw(st.sampled_from([[node[key]], {str(key): node[key]}]))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()),
                          default_flow_style=draw(st.sampled_from([False, None])))


BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False)


@st.composite
def garbled(draw: st.DrawFn) -> bytes:
    data = bytearray(BASE_TEXT.encode("utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 12))
        data[at:at + cut] = draw(st.binary(max_size=8) | st.sampled_from([b":", b"- ", b"  ", b"\n", b"{", b"'", b"&a",
                                                                         b"*a", b"!!int ", b"\t", b"#"]))
    return bytes(data)


_WORKDIR = tempfile.TemporaryDirectory(prefix="iotvet-assess-fuzz-")
FILE = Path(_WORKDIR.name) / "q.yaml"


def check(content: str | bytes) -> None:
    if isinstance(content, str):
        content = content.encode("utf-8")
    FILE.write_bytes(content)
    try:
        result = load_questionnaire(str(FILE))
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(str(FILE)), message
        if exc.source is not None and exc.source.line is not None:
            assert message.startswith(f"{FILE}:{exc.source.line}"), message
    else:
        assert isinstance(result, Questionnaire)


def test_the_base_is_valid() -> None:
    FILE.write_text(BASE_TEXT, encoding="utf-8")
    assert load_questionnaire(str(FILE)).claim("5.11-4").implemented == "no"


@FUZZ
@given(text=mutated())
def test_mutated_questionnaires(text: str) -> None:
    check(text)


@settings(FUZZ, max_examples=200)
@given(data=garbled())
def test_garbled_questionnaires(data: bytes) -> None:
    check(data)
