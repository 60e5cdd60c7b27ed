"""Shared pieces of iotvet's OSCAL documents: names, ids, stable UUIDs, props and safe text.

compliance-trestle is imported inside functions only (it takes about 0.3 s), so importing this
module, or the CLI, stays fast. Text from a questionnaire or a probe is untrusted: :func:`line`
makes it a valid one-line OSCAL string, :func:`md` keeps it from becoming markup in OSCAL's
Markdown fields (raw HTML, entities, links), and the JSON is written with ``< > &`` escaped.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from iotvet.assess.catalogue import SCOPE_NOTE
from iotvet.report.text import json_text, one_line, visible

if TYPE_CHECKING:
    from trestle.core.base_model import OscalBaseModel
    from trestle.oscal.common import Metadata, Property

NS: Final = "https://github.com/iotvet/iotvet/ns/oscal"
"""Namespace of iotvet's own props and parts; OSCAL's own names (label, sort-id, method) go without."""
DATA_DIR: Final = Path(__file__).resolve().parent / "data" / "oscal"
CATALOG_FILE: Final = "iotvet-en303645-catalog.json"
SSP_FILE: Final = "iotvet-en303645-ssp.json"
PLAN_FILE: Final = "iotvet-en303645-assessment-plan.json"
FILES: Final = (CATALOG_FILE, SSP_FILE, PLAN_FILE)
DATA_VERSION: Final = "2.1.1-iotvet.1"
"""The shipped documents' metadata version; bump it, and DATA_MODIFIED, when their content changes."""
DATA_MODIFIED: Final = datetime(2026, 11, 25, tzinfo=UTC)
_UUID_NS: Final = uuid.UUID("6f1d8f2e-3a57-4c1b-9a0e-5d2b7c4e8a19")
_MARKUP: Final = re.compile(r"([\\<>&\[\]])")
METHODS: Final = {"automatic-test": "TEST", "tool-assisted": "TEST", "document": "EXAMINE", "lab": "TEST"}
"""OSCAL assessment method of each kind of evidence the catalogue names."""
KINDS: Final = {
    "automatic-test": "iotvet probes the provider from outside and decides on its own.",
    "tool-assisted": "iotvet gathers evidence and a person decides.",
    "document": "A person reads the vendor's answers and documents.",
    "lab": "A person examines a unit with physical access.",
}


def control_id(provision: str) -> str:
    """The control id of a provision: ``en303645-5.1-1`` (OSCAL ids cannot start with a digit)."""
    return f"en303645-{provision}"


def objective_id(provision: str) -> str:
    """The id of a provision's assessment objective, which findings target."""
    return f"{control_id(provision)}_obj"


def uid(*parts: str) -> str:
    """A UUID (version 5) that depends only on ``parts``, so regenerated documents stay identical."""
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(parts)))


def line(value: str, limit: int = 300) -> str:
    """``value`` as a one-line OSCAL string: controls escaped, trimmed, never empty."""
    return one_line(value, limit).strip() or "-"


def md(value: str) -> str:
    """Untrusted text for an OSCAL Markdown field: controls made visible, ``\\ < > & [ ]`` backslash-escaped."""
    return _MARKUP.sub(r"\\\1", visible(value))


def prop(name: str, value: str, *, ours: bool = True, remarks: str | None = None, cls: str | None = None) -> Property:
    """A property; in iotvet's namespace unless ``ours`` is false (OSCAL's own names)."""
    from trestle.oscal.common import Property

    return Property(name=name, value=line(value), ns=NS if ours else None, remarks=remarks, class_=cls)


def metadata(title: str, modified: datetime, version: str, remarks: str | None = None, **extra: Any) -> Metadata:
    """Document metadata for OSCAL 1.2 (trestle's version)."""
    from trestle.oscal import OSCAL_VERSION
    from trestle.oscal.common import Metadata

    return Metadata(title=title, last_modified=modified, version=version, oscal_version=OSCAL_VERSION,
                    remarks=remarks, **extra)


def scope_remarks() -> str:
    """The scope note every iotvet assessment carries."""
    return f"Scope: {SCOPE_NOTE}"


def dump(document: OscalBaseModel) -> bytes:
    """The document wrapped in its root key, as indented JSON with ``< > &`` escaped, ending in a newline."""
    return (json_text(document.oscal_dict(), indent=2) + "\n").encode("utf-8")
