"""OSCAL for the assessment: the shipped catalog, SSP and plan, and assessment-results for an Assessment.

iotvet ships three OSCAL 1.2 documents under ``assess/data/oscal/``, generated from the catalogue:

* ``iotvet-en303645-catalog.json``: EN 303 645 V2.1.1 as a catalog (iotvet's paraphrase);
* ``iotvet-en303645-ssp.json``: a placeholder SSP importing the catalog (OSCAL's plan must import one);
* ``iotvet-en303645-assessment-plan.json``: the plan importing the SSP: every provision reviewed, the
  probe checks, passive observations and the questionnaire as activities.

:func:`write_oscal` turns an :class:`~iotvet.assess.result.Assessment` into assessment-results that
import the plan (through a back-matter resource pinning its SHA-256). Regenerate the shipped files
after changing the catalogue or the check catalogue: ``python -m iotvet.assess.oscal --write-data``;
``--write-data DIR`` writes them elsewhere, for example next to a results file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iotvet.assess.oscal_base import CATALOG_FILE, DATA_DIR, FILES, PLAN_FILE, SSP_FILE, dump
from iotvet.assess.result import Assessment


def write_oscal(assessment: Assessment) -> bytes:
    """OSCAL assessment-results (JSON, UTF-8) for ``assessment``, validated by trestle's models as built."""
    from iotvet.assess.oscal_results import build_results

    return dump(build_results(assessment))


def render_data() -> dict[str, bytes]:
    """The shipped documents as they should read, by file name."""
    from iotvet.assess.oscal_catalog import build_catalog, build_ssp
    from iotvet.assess.oscal_plan import build_plan

    return {CATALOG_FILE: dump(build_catalog()), SSP_FILE: dump(build_ssp()), PLAN_FILE: dump(build_plan())}


def write_data(folder: Path = DATA_DIR) -> list[Path]:
    """Write the shipped documents into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in render_data().items():
        (folder / name).write_bytes(data)
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m iotvet.assess.oscal --write-data [DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m iotvet.assess.oscal", description=__doc__.split("\n")[0])
    parser.add_argument("--write-data", nargs="?", const=str(DATA_DIR), metavar="DIR", required=True,
                        help=f"write {', '.join(FILES)} (default: the package's {DATA_DIR.name} folder)")
    args = parser.parse_args(argv)
    for path in write_data(Path(args.write_data)):
        print(f"wrote {path}")  # noqa: T201 - a maintainer's command, not the CLI
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
