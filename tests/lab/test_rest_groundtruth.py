"""Ground truth, shapes and world: consistent with the served spec, the catalogue and the seed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from iotvet.checks.registry import CATALOGUE
from iotvet.cli.app import app
from iotvet.core.records import Relation
from iotvet.lab.rest import flaws as F
from iotvet.lab.runner import ground_truth, load_flaws, resolve_flaws
from iotvet.lab.shapes import CANONICAL, shape_for
from iotvet.lab.world import World, WorldSize, vin_check_digit
from tests.lab.rest_fixtures import SHAPES, LabClient, lab_fixture

pytestmark = pytest.mark.timeout(60)
RELATIONS = {r.value for r in Relation}


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: f"shape{s}")
def served(request: pytest.FixtureRequest) -> Iterator[tuple[LabClient, dict[str, object]]]:
    for client in lab_fixture("all", request.param):
        yield client, client.http.get(client.lab.openapi_url).json()


def _spec_ops(spec: dict[str, object]) -> set[tuple[str, str]]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    return {(method.upper(), path) for path, item in paths.items() for method in item}


def test_every_cell_names_a_served_operation(served: tuple[LabClient, dict[str, object]]) -> None:
    client, spec = served
    assert spec["openapi"] == "3.1.0" and spec["servers"] == [{"url": client.shape.base_path}]
    ops = _spec_ops(spec)
    truth = client.lab.ground_truth()
    assert {f["id"] for f in truth["flaws"]} == set(load_flaws())
    for entry in truth["flaws"] + truth["traps"]:
        for cell in entry["cells"]:
            assert cell["relation"] in RELATIONS, entry["id"]
            if "operation" not in cell:
                assert "{device}" in cell["topic"] or cell["topic"] == "#", entry["id"]
                continue
            op = (cell["operation"]["method"], cell["operation"]["path"])
            if entry["id"] == F.HIDDEN_ROUTE:
                assert op not in ops and client.get(op[1]).status_code == 200
            else:
                assert op in ops, (entry["id"], op)


def test_flaws_name_catalogue_checks_of_their_plane() -> None:
    for f in load_flaws().values():
        assert f.check in CATALOGUE, f.id
        assert CATALOGUE[f.check].plane == f.plane, f.id


@pytest.mark.parametrize("seed", SHAPES)
def test_no_flaws_no_cells_and_traps_stay(seed: int) -> None:
    truth = ground_truth(frozenset(), shape_for(seed))
    assert truth["flaws"] == []
    assert all(t["cells"] for t in truth["traps"])
    assert {t["id"] for t in truth["traps"]} >= {"soft-deny", "public-by-design", "caller-scoped-204",
                                                  "shared-within-customer", "deny-mix", "brand-admin-own-brand"}


@pytest.mark.parametrize("seed", SHAPES)
def test_trap_cells_never_overlap_open_cells(seed: int) -> None:
    truth = ground_truth(resolve_flaws("all"), shape_for(seed))
    opened = {json.dumps(c, sort_keys=True) for f in truth["flaws"] for c in f["cells"]}
    for trap in truth["traps"]:
        assert not opened & {json.dumps(c, sort_keys=True) for c in trap["cells"]}


def test_cli_ground_truth_and_flaw_validation() -> None:
    runner = CliRunner()
    none = runner.invoke(app, ["lab", "--ground-truth", "--flaws", "none", "--shape-seed", "174"])
    assert none.exit_code == 0, none.output
    assert json.loads(none.output)["flaws"] == []
    some = runner.invoke(app, ["lab", "--ground-truth", "--flaws", f"{F.JWT_NONE},{F.BFLA}"])
    assert [f["check"] for f in json.loads(some.output)["flaws"]] == ["api-bfla", "jwt-none"]
    bad = runner.invoke(app, ["lab", "--ground-truth", "--flaws", "jwt-none,nope"])
    assert bad.exit_code == 2 and "unknown lab flaw" in bad.output


def test_shapes_vary_what_tools_overfit_to() -> None:
    shapes = [shape_for(s) for s in SHAPES]
    assert shapes[0] == CANONICAL and shape_for(3) == shape_for(3)
    for trait in ("deny", "token", "id_format", "collection", "base_path", "id_param"):
        assert len({getattr(s, trait) for s in shapes}) == 3, trait
    for trait in ("auth_prefix", "brand_header", "token_field", "location_style"):
        assert len({getattr(s, trait) for s in shapes}) >= 2, trait
    assert len({(s.wrapper, s.list_key, s.camel) for s in shapes}) == 3


def test_world_is_deterministic_and_vins_are_valid() -> None:
    one, two = World(7), World(7)
    assert list(one.by_vin) == list(two.by_vin)
    assert [u.password for u in one.users.values()] == [u.password for u in two.users.values()]
    assert list(World(8).by_vin) != list(one.by_vin)
    for vin, asset in one.by_vin.items():
        if asset.kind == "vehicle":
            assert len(vin) == 17 and vin[8] == vin_check_digit(vin[:8] + "0" + vin[9:])
    kinds = {a.kind for a in one.assets.values()}
    assert kinds == {"vehicle", "dashcam", "charger"}


def test_a_hundred_thousand_vehicles_stay_cheap() -> None:
    started = time.perf_counter()
    world = World(1, WorldSize(vehicles=100_000))
    assert len(world.assets) >= 100_000
    assert time.perf_counter() - started < 10
    pytest.importorskip("iotvet.lab.mqtt.accounts")
    assert len(world.mqtt_accounts()) < 100
