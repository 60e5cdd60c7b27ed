"""Helpers for the REST lab tests: a shape-aware httpx client and the cast of the seeded world.

Tests talk to a real lab (uvicorn over HTTPS on a free 127.0.0.1 port) with plain httpx; nothing
here uses iotvet's own probing code.
"""

from __future__ import annotations

import ssl
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx  # noqa: TID251 - tests talk to the lab directly
import jwt
import pytest

from iotvet.lab.runner import Lab, LabConfig, lab_in_thread, resolve_flaws
from iotvet.lab.world import Asset, User, World

SHAPES = (0, 3, 174)
"""Canonical (404 deny, bearer, VIN ids, bare bodies); 403 deny + cookie + sequential ids + data
wrapper; soft deny + custom header + UUID ids + camelCase + item lists under /assets."""


@dataclass
class Cast:
    """The named accounts of a world, by brand: ``a`` is the first brand, ``b`` the second."""

    world: World

    @property
    def a(self) -> str:
        return next(iter(self.world.brands))

    @property
    def b(self) -> str:
        return list(self.world.brands)[1]

    def _pick(self, brand: str, role: str, *, kind: str | None = None, sandbox: bool = False, n: int = 0) -> User:
        found = [u for u in self.world.users.values()
                 if u.cast and u.tenant == brand and u.role == role and u.sacrificial == sandbox
                 and (kind is None or self.world.customers[u.customer or ""].kind == kind)]
        return found[n]

    def fleet_admin(self, brand: str) -> User:
        return self._pick(brand, "customer-admin")

    def driver(self, brand: str, n: int = 0) -> User:
        return self._pick(brand, "driver", kind="fleet", n=n)

    def owner(self, brand: str) -> User:
        return self._pick(brand, "owner")

    def family(self, brand: str) -> User:
        return self._pick(brand, "driver", kind="household")

    def sandbox_owner(self, brand: str) -> User:
        return self._pick(brand, "owner", sandbox=True)

    def sandbox_driver(self, brand: str) -> User:
        return self._pick(brand, "driver", sandbox=True)

    def brand_admin(self, brand: str) -> User:
        return next(u for u in self.world.users.values() if u.role == "brand-admin" and u.tenant == brand)

    def vehicles(self, user: User) -> list[Asset]:
        return list(self.world.customer_assets(user.customer or ""))

    def vehicle(self, user: User, n: int = 0) -> Asset:
        return self.vehicles(user)[n]


class LabClient:
    """httpx against one lab, knowing its shape: where tokens go, how bodies nest, path names."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.shape = lab.shape
        self.cast = Cast(lab.world)
        self.http = httpx.Client(base_url=lab.base_url, verify=ssl.create_default_context(cafile=lab.ca), timeout=10)
        self.passwords: dict[str, str] = {}
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def path(self, op: str, asset: Asset | str | None = None, **params: str) -> str:
        template = self.shape.op(op).path
        if asset is not None:
            params[self.shape.id_param] = asset if isinstance(asset, str) else asset.id
        return template.format(**params)

    def password(self, user: User) -> str:
        return self.passwords.get(user.username, user.password)

    def login(self, user: User, *, fresh: bool = False) -> str:
        if fresh or user.username not in self._tokens:
            r = self.call("POST", self.path("login"), json={"username": user.username, "password": self.password(user)})
            assert r.status_code == 200, r.text
            self._tokens[user.username] = self.shape.unwrap(r.json())[self.shape.token_field]  # type: ignore[index]
        return self._tokens[user.username]

    def carry(self, token: str) -> dict[str, str]:
        """Headers that carry ``token`` the way this shape expects."""
        if self.shape.token == "bearer":
            return {"Authorization": f"Bearer {token}"}
        if self.shape.token == "header":
            return {self.shape.token_name: token}
        return {"Cookie": f"{self.shape.token_name}={token}"}

    def call(self, method: str, path: str, as_: User | str | None = None, *, json: Any = None,
             params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = dict(headers or {})
        if isinstance(as_, User):
            sent.update(self.carry(self.login(as_)))
        elif isinstance(as_, str):
            sent.update(self.carry(as_))
        self.http.cookies.clear()  # identities are explicit: never let the jar carry a session along
        return self.http.request(method, path, json=json, params=params, headers=sent)

    def get(self, path: str, as_: User | str | None = None, **kw: Any) -> httpx.Response:
        return self.call("GET", path, as_, **kw)

    def body(self, response: httpx.Response) -> Any:
        return self.shape.unwrap(response.json())

    def missing_id(self) -> str:
        """A well-formed vehicle id that exists nowhere."""
        fmt = self.shape.id_format
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "seq":
            return "99999999"
        return "YV9ZZZZZZ9ZA999999"

    def forge(self, subject: str, *, key: bytes | str | None = None, alg: str = "HS256") -> str:
        now = int(time.time())
        claims = {"iss": "iotvet-lab", "sub": subject, "sid": "forged", "iat": now, "exp": now + 600}
        if alg == "none":
            return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode(claims, key or b"not-the-key-at-all-but-long-enough-0123456789", algorithm=alg)

    def readable(self, response: httpx.Response, asset: Asset) -> bool:
        """Whether ``response`` hands over ``asset``'s data (its id or VIN appears in the body)."""
        if response.status_code != 200:
            return False
        text = response.text
        return asset.vin in text or asset.id in text


def lab_fixture(flaws: str, shape_seed: int) -> Iterator[LabClient]:
    """Start a lab (REST only) and yield a client; stop it afterwards."""
    with lab_in_thread(LabConfig(flaws=resolve_flaws(flaws), shape_seed=shape_seed, mqtt="off")) as lab:
        client = LabClient(lab)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: f"shape{s}")
def flawed(request: pytest.FixtureRequest) -> Iterator[LabClient]:
    """A lab with every flaw on, once per shape."""
    yield from lab_fixture("all", request.param)


@pytest.fixture(scope="module", params=SHAPES, ids=lambda s: f"shape{s}")
def clean(request: pytest.FixtureRequest) -> Iterator[LabClient]:
    """A lab with every flaw off, once per shape."""
    yield from lab_fixture("none", request.param)
