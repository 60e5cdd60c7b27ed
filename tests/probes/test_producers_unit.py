"""Pure parts of the producer step: ids from Location headers, and which collection a parameter indexes."""

from __future__ import annotations

import pytest

from iotvet.api.model import ApiOperation
from iotvet.probes.rest.producers import ids_from_location

NOTE = ApiOperation(method="GET", path="/things/{thing_ref}/notes/{note_id}")


@pytest.mark.parametrize(("base", "location", "expected"), [
    ("https://h/api", "/api/things/t1/notes/n-9", {"thing_ref": "t1", "note_id": "n-9"}),
    ("https://h/api", "https://h/api/things/t1/notes/n-9/", {"thing_ref": "t1", "note_id": "n-9"}),
    ("https://h", "/things/t%201/notes/7?x=1", {"thing_ref": "t 1", "note_id": "7"}),
    ("https://h/api", "/api/things/t1/notes", {}),
    ("https://h/api", "/api/things/t1/notes/n-9/extra", {}),
    ("https://h/api", "", {}),
])
def test_ids_from_location(base: str, location: str, expected: dict[str, str]) -> None:
    assert ids_from_location(base, location, NOTE) == expected


def test_param_resource_names_the_segment_before_each_parameter() -> None:
    assert NOTE.param_resource("thing_ref") == "things"
    assert NOTE.param_resource("note_id") == "notes"
    assert ApiOperation(method="GET", path="/{a}/{b}").param_resource("b") == ApiOperation(
        method="GET", path="/{a}/{b}").resource
