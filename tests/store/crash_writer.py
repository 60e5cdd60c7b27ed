"""A run that records forever: ``python -m tests.store.crash_writer URL RUN_ID``.

After each committed step N (an exchange, a cell and, every 5th step, a finding) it prints
``N`` on stdout, so the test that SIGKILLs it knows exactly what was promised.
"""

from __future__ import annotations

import sys
import time

from iotvet.core.records import Cell, Operation, Relation, Verdict
from iotvet.store import Store
from iotvet.transport.http import Exchange, Request, Response
from tests.report import sample


def main(url: str, run_id: str) -> None:
    store = Store.open(url)
    store.start_run(run_id=run_id)
    finding = sample.findings()[0]
    for n in range(1, 100_000):
        request = Request("GET", f"https://api.nordvik.example/v1/vehicles/V{n}", identity="nv-driver")
        response = Response(200, "OK", (("Content-Type", "application/json"),), b'{"vin":"V%d"}' % n * 20, False,
                            request.url)
        store.record_exchange(Exchange(id=f"h{n}", request=request, started=time.time(), response=response))
        store.record_cell(Cell(check="api-bola-read", plane="http",
                               operation=Operation(method="GET", path=f"/v1/vehicles/{n}"),
                               relation=Relation.OTHER_TENANT, verdict=Verdict.ENFORCED, reason="403"))
        if n % 5 == 0:
            store.record_finding(finding.model_copy(update={"attacker": f"attacker-{n}"}))
        print(n, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
