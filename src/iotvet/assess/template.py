"""Writing a questionnaire as commented YAML: every question, with its provisions, above its answer.

``iotvet assess init`` writes :func:`blank_questionnaire` this way; any questionnaire renders and
loads back to the same answers.
"""

from __future__ import annotations

import re
import textwrap
from datetime import date
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from iotvet.assess.catalogue import load_catalogue
from iotvet.assess.fields import Section, provisions_of
from iotvet.assess.questionnaire import Conditions, Questionnaire, Vendor
from iotvet.core.errors import UserError

WIDTH = 100
_PLAIN = re.compile(r"[a-z][a-z0-9.-]*")
_YAML_WORDS = frozenset({"yes", "no", "y", "n", "on", "off", "true", "false", "null"})

HEADER = """\
# iotvet assessment questionnaire: {vendor}
#
# The vendor's answers about its part of the product, read against ETSI EN 303 645 V2.1.1 and,
# through it, UK PSTI and the DCMS Code of Practice. Answer yes, no or unknown unless a comment
# says otherwise, and leave unknown whatever you cannot answer yet; null means "not given".
# Numbers in [brackets] are the EN 303 645 provisions a question informs.
# Check the file with: iotvet assess validate FILE
"""


def blank_questionnaire(vendor: str) -> Questionnaire:
    """A questionnaire with only the vendor's name filled in; a bad name is a UserError about --vendor."""
    try:
        return Questionnaire(vendor=Vendor(name=vendor))
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise UserError(f"--vendor: {message[0].lower()}{message[1:]}") from None


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | date):
        return str(value) if isinstance(value, int) else value.isoformat()
    if isinstance(value, list):
        return f"[{', '.join(_scalar(v) for v in value)}]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text not in _YAML_WORDS:
        return text
    return yaml.safe_dump(text, default_style='"', allow_unicode=True, width=10**9).rstrip("\n")


def _comment(text: str, indent: str) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), WIDTH, initial_indent=f"{indent}# ",
                         subsequent_indent=f"{indent}# ", break_on_hyphens=False)


def _condition_note(name: str) -> str:
    decides = [f"C({c.id}) when {c.holds_when}" for c in load_catalogue().conditions if c.question == name]
    return f" Decides {' and '.join(decides)}." if decides else ""


def _choices(annotation: Any) -> str:
    """`` One of: a, b, c.`` for a closed set of values other than yes/no/unknown."""
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal and set(get_args(arg)) != {"yes", "no", "unknown"}:
            return f" One of: {', '.join(map(str, get_args(arg)))}."
    return ""


def _section(model: BaseModel, indent: str) -> list[str]:
    lines: list[str] = []
    cls = type(model)
    for name, field in cls.model_fields.items():
        question = (field.description or "") + _choices(field.annotation)
        if isinstance(model, Conditions):
            question += _condition_note(name)
        if refs := provisions_of(cls, name):
            question += f" [{', '.join(refs)}]"
        lines += _comment(question, indent)
        lines.append(f"{indent}{name}: {_scalar(getattr(model, name))}")
    return lines


def _claims(q: Questionnaire) -> list[str]:
    catalogue = load_catalogue()
    titles = {c.id: c.title for c in catalogue.clauses}
    lines = ["", "# Claims, one per provision (the ICS). A recommendation (R) marked no needs a justification.",
             "claims:"]
    clause = None
    for p in catalogue.provisions:
        if p.clause != clause:
            clause = p.clause
            lines += ["", f"  # ---- {clause} {titles[clause]}"]
        lines += _comment(f"{p.id} · {p.status} · {', '.join(p.applies_to)}: {p.summary}", "  ")
        claim = q.claim(p.id)
        lines += [f'  "{p.id}":', *(f"    {k}: {_scalar(getattr(claim, k))}" for k in type(claim).model_fields)]
    return lines


def render_questionnaire(q: Questionnaire) -> str:
    """The questionnaire as commented YAML, every question present (all 68 provisions under claims)."""
    lines = [HEADER.format(vendor=" ".join(q.vendor.name.split()))]
    for name, field in Questionnaire.model_fields.items():
        value = getattr(q, name)
        if name == "claims":
            lines += _claims(q)
        elif isinstance(value, Section):
            lines += ["", *_comment(type(value).__doc__ or name, ""), f"{name}:", *_section(value, "  ")]
        else:
            lines += [*_comment(field.description or name, ""), f"{name}: {_scalar(value)}"]
    return "\n".join(lines) + "\n"
