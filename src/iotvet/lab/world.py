"""The lab's seeded world: brands, customers, users, vehicles and consumer devices.

Everything is derived from one seed, so two runs with the same seed and sizes see the same
VINs, usernames and passwords. Bulk data stays cheap (a slotted record per vehicle, trips
computed on demand), so a world of 100,000 vehicles builds in about a second.

The *cast* is the handful of accounts the written plan names: in each of the first two
brands a fleet (customer admin and drivers), a household (owner and family member) and a
sandbox household whose users and vehicles are sacrificial; brand admins; the operator.

*Bench devices* are the plan's own MQTT device identities: a couple per cast brand with a broker
account (and the same ACL and password rules as any vehicle) but no live simulated client, so a
probe that logs in as one never fights a running vehicle for its client id. They are not part of
the REST world (no customer, not listed by the API) and come from their own random stream, so
adding them changes nothing else the seed generates.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from iotvet.lab.shapes import CANONICAL, Shape

if TYPE_CHECKING:
    from iotvet.lab.mqtt.accounts import MqttAccount

UserRole = Literal["owner", "driver", "customer-admin", "brand-admin", "operator"]
CustomerKind = Literal["fleet", "household"]
AssetKind = Literal["vehicle", "dashcam", "charger"]
COMMANDS = ("lock", "unlock", "locate", "honk", "climate", "ping")
BENCH_PER_TENANT = 2
PROBE_BACKEND = "backend.probe"
"""The broker account of the plan's backend-like identity (never the live CommandBus's ``backend``)."""
SHARED_CREDENTIAL_FLAW = "shared-device-credential"

_BRANDS = (
    ("nordvik", "Nordvik Motors", "YV9", 59.33, 18.06),
    ("castellan", "Castellan Auto", "ZC4", 45.46, 9.19),
    ("lumacam", "Lumacam Home", "LMC", 51.51, -0.13),
    ("auralis", "Auralis EV", "WA7", 48.14, 11.58),
    ("kestrel", "Kestrel Trucks", "SK2", 53.48, -2.24),
    ("meridia", "Meridia Mobility", "VF6", 43.30, 5.37),
)
MODELS = {
    "vehicle": ("Aster", "Borealis", "Cirrus", "Delta Van", "Estoc"),
    "dashcam": ("DC-2", "DC-4 Duo"),
    "charger": ("HomeBox 11", "HomeBox 22"),
}
_FIRST = ("ana", "bruno", "chiara", "dmitri", "elif", "farid", "greta", "hugo", "ines", "jonas", "kaori",
          "lars", "mila", "nadia", "oskar", "priya", "quentin", "rosa", "sami", "tove", "ugo", "vera",
          "wim", "xena", "yusuf", "zofia")
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
               **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WorldSize:
    """The size knobs. ``vehicles`` is a total spread over all customers (at least two each)."""

    brands: int = 3
    customers: int = 4
    users: int = 3
    vehicles: int = 40


@dataclass(slots=True)
class Brand:
    """A tenant: one white-label brand served by the shared backend."""

    slug: str
    name: str
    consumer: bool
    wmi: str
    home: tuple[float, float]


@dataclass(slots=True)
class Customer:
    """A fleet or household account inside one brand."""

    id: str
    tenant: str
    kind: CustomerKind
    name: str
    sandbox: bool = False


@dataclass(slots=True)
class User:
    """An app user, a brand admin or the platform operator."""

    id: str
    username: str
    password: str
    role: UserRole
    tenant: str | None
    customer: str | None
    display_name: str
    email: str
    phone: str = ""
    sacrificial: bool = False
    cast: bool = False


@dataclass(slots=True)
class Asset:
    """A vehicle, dashcam or home charger; ``id`` is its public id in the current shape."""

    id: str
    vin: str
    tenant: str
    customer: str | None
    owner: str | None
    kind: AssetKind
    model: str
    year: int
    firmware: str
    bind_code: str
    lat: float
    lon: float
    odometer_km: int
    charge_pct: int
    nickname: str = ""
    locked: bool = True
    sacrificial: bool = False
    telemetry: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Trip:
    """One recorded trip, generated on demand from the vehicle and the seed."""

    id: str
    started: datetime
    minutes: int
    km: float
    start: tuple[float, float]
    end: tuple[float, float]


def vin_check_digit(vin16: str) -> str:
    """The ISO 3779 check digit for a VIN given with a placeholder in position 9."""
    total = sum(_VIN_VALUES[ch] * w for ch, w in zip(vin16, _VIN_WEIGHTS, strict=True))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


class World:
    """A generated provider population, deterministic from its seed, size and shape."""

    def __init__(self, seed: int = 1, size: WorldSize | None = None, shape: Shape = CANONICAL) -> None:
        self.seed = seed
        self.size = size or WorldSize()
        self.shape = shape
        self.brands: dict[str, Brand] = {}
        self.customers: dict[str, Customer] = {}
        self.users: dict[str, User] = {}
        self.assets: dict[str, Asset] = {}
        self.by_vin: dict[str, Asset] = {}
        self.by_username: dict[str, User] = {}
        self.by_customer: dict[str, dict[str, None]] = {}
        self.operator: User
        self._rng = random.Random(f"iotvet-lab-world:{seed}")
        self._secret = hashlib.sha256(f"iotvet-lab-secret:{seed}".encode()).digest()
        self._seq = 1000
        self._names: set[str] = set()
        self._build()
        self.bench: list[Asset] = self._bench()

    # -- construction -----------------------------------------------------------------------

    def _build(self) -> None:
        size = self.size
        n_brands = max(2, min(size.brands, len(_BRANDS)))
        per_brand = max(2, size.customers)
        slots = n_brands * per_brand
        base, extra = divmod(max(size.vehicles, 0), slots)
        for b in range(n_brands):
            slug, name, wmi, lat, lon = _BRANDS[b]
            brand = Brand(slug, name, consumer=(b == 2), wmi=wmi, home=(lat, lon))
            self.brands[slug] = brand
            for c in range(per_brand):
                kind: CustomerKind = "household" if brand.consumer or c % 2 else "fleet"
                customer = self._customer(brand, kind, c)
                members = self._members(brand, customer, max(2, size.users), cast=b < 2 and c < 2)
                count = max(2, base + (1 if b * per_brand + c < extra else 0))
                self._assets(brand, customer, members[0], count)
            if b < 2:
                sandbox = self._customer(brand, "household", per_brand, sandbox=True)
                owner, *_ = self._members(brand, sandbox, 2, cast=True, sacrificial=True)
                self._assets(brand, sandbox, owner, 3, sacrificial=True)
                self._assets(brand, None, None, 2, sacrificial=True)  # dealer stock, unbound
            admin = self._user(brand.slug, None, "brand-admin", cast=b < 2, label="admin")
            admin.display_name = f"{brand.name} administrator"
        self.operator = self._user(None, None, "operator", cast=True, label="ops")
        self.operator.display_name = "Platform operator"

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        fmt = self.shape.id_format
        if fmt == "uuid":
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        if fmt == "seq":
            return str(self._seq)
        return f"{prefix}-{self._seq}"

    def _customer(self, brand: Brand, kind: CustomerKind, index: int, *, sandbox: bool = False) -> Customer:
        cid = self._next_id("fleet" if kind == "fleet" else "home")
        label = "Sandbox household" if sandbox else (
            f"{brand.name} fleet {index + 1}" if kind == "fleet" else f"Household {index + 1}")
        customer = Customer(cid, brand.slug, kind, label, sandbox=sandbox)
        self.customers[cid] = customer
        self.by_customer[cid] = {}
        return customer

    def _members(self, brand: Brand, customer: Customer, n: int, *, cast: bool,
                 sacrificial: bool = False) -> list[User]:
        lead: UserRole = "customer-admin" if customer.kind == "fleet" else "owner"
        roles: list[UserRole] = [lead] + ["driver"] * (n - 1)
        return [self._user(brand.slug, customer.id, role, cast=cast, sacrificial=sacrificial) for role in roles]

    def _user(self, tenant: str | None, customer: str | None, role: UserRole, *, cast: bool,
              sacrificial: bool = False, label: str | None = None) -> User:
        rng = self._rng
        first = label or rng.choice(_FIRST)
        stem = f"{first}.{tenant or 'platform'}"
        username, n = stem, 1
        while username in self._names:
            n += 1
            username = f"{stem}{n}"
        self._names.add(username)
        uid = self._next_id("u")
        password = "Lab-" + "".join(rng.choice(_VIN_CHARS.lower() + _VIN_CHARS) for _ in range(12))
        user = User(uid, username, password, role, tenant, customer, display_name=first.capitalize(),
                    email=f"{username}@example.test", phone=f"+44 7700 9{rng.randrange(10**5):05d}",
                    sacrificial=sacrificial, cast=cast)
        self.users[uid] = user
        self.by_username[username] = user
        return user

    def _assets(self, brand: Brand, customer: Customer | None, owner: User | None, count: int, *,
                sacrificial: bool = False) -> None:
        rng = self._rng
        for i in range(count):
            kind: AssetKind = ("dashcam" if i % 2 == 0 else "charger") if brand.consumer else "vehicle"
            vin = self._serial(brand, kind)
            asset_id = vin if self.shape.id_format == "vin" else self._next_id("v")
            lat, lon = brand.home
            asset = Asset(
                id=asset_id, vin=vin, tenant=brand.slug, customer=customer.id if customer else None,
                owner=owner.id if owner else None, kind=kind, model=rng.choice(MODELS[kind]),
                year=2019 + rng.randrange(7), firmware=f"{rng.randrange(3, 6)}.{rng.randrange(10)}.{i % 7}",
                bind_code=f"{rng.randrange(10**6):06d}", lat=round(lat + rng.uniform(-0.2, 0.2), 5),
                lon=round(lon + rng.uniform(-0.3, 0.3), 5), odometer_km=rng.randrange(200, 180_000),
                charge_pct=rng.randrange(15, 100), sacrificial=sacrificial)
            self.assets[asset_id] = asset
            self.by_vin[vin] = asset
            if customer is not None:
                self.by_customer[customer.id][asset_id] = None

    def _bench(self) -> list[Asset]:
        """Per cast brand, :data:`BENCH_PER_TENANT` devices of one model: MQTT-only, no live client."""
        rng = random.Random(f"iotvet-lab-bench:{self.seed}")
        tenants = dict.fromkeys(u.tenant for u in self.cast() if u.tenant)
        out: list[Asset] = []
        taken: set[str] = set()
        for slug in tenants:
            brand = self.brands[slug]
            kind: AssetKind = "dashcam" if brand.consumer else "vehicle"
            model = rng.choice(MODELS[kind])  # one model per brand: twins under the shared-credential flaw
            lat, lon = brand.home
            for _ in range(BENCH_PER_TENANT):
                vin = self._serial(brand, kind, rng)
                while vin in taken:
                    vin = self._serial(brand, kind, rng)
                taken.add(vin)
                out.append(Asset(
                    id=vin, vin=vin, tenant=slug, customer=None, owner=None, kind=kind, model=model,
                    year=2024, firmware="5.0.0", bind_code=f"{rng.randrange(10**6):06d}", lat=lat, lon=lon,
                    odometer_km=0, charge_pct=100, nickname="bench", sacrificial=True))
        return out

    def _serial(self, brand: Brand, kind: AssetKind, rng: random.Random | None = None) -> str:
        rng = rng or self._rng
        while True:
            if kind == "vehicle":
                body = "".join(rng.choice(_VIN_CHARS) for _ in range(5))
                year = "STVWXY"[rng.randrange(6)]
                serial = f"{rng.randrange(10**6):06d}"
                vin16 = f"{brand.wmi}{body}0{year}A{serial}"
                vin = vin16[:8] + vin_check_digit(vin16) + vin16[9:]
            else:
                tag = "DC" if kind == "dashcam" else "HB"
                vin = f"{brand.wmi}{tag}{rng.getrandbits(36):09X}"
            if vin not in self.by_vin:
                return vin

    # -- queries ----------------------------------------------------------------------------

    def members(self, customer_id: str) -> list[User]:
        """Users of one customer account, lead first."""
        return [u for u in self.users.values() if u.customer == customer_id]

    def customer_assets(self, customer_id: str) -> Iterator[Asset]:
        """Assets bound to one customer, in binding order."""
        return (self.assets[i] for i in list(self.by_customer.get(customer_id, ())))

    def rebind(self, asset: Asset, customer: Customer | None, owner: User | None) -> None:
        """Move an asset to another customer (or to none: unbound)."""
        if asset.customer is not None:
            self.by_customer.get(asset.customer, {}).pop(asset.id, None)
        asset.customer = customer.id if customer else None
        asset.owner = owner.id if owner else None
        if customer is not None:
            self.by_customer.setdefault(customer.id, {})[asset.id] = None

    def cast(self) -> list[User]:
        """The users the written plan names, in a stable order."""
        return [u for u in self.users.values() if u.cast]

    def trips(self, asset: Asset, limit: int = 10, since: datetime | None = None) -> list[Trip]:
        """The asset's most recent trips, newest first (computed, not stored)."""
        rng = random.Random(f"{self.seed}:trips:{asset.vin}")
        trips: list[Trip] = []
        when = _EPOCH
        lat, lon = asset.lat, asset.lon
        for n in range(50):
            when -= timedelta(hours=rng.randrange(3, 30))
            minutes = rng.randrange(4, 95)
            end = (round(lat + rng.uniform(-0.05, 0.05), 5), round(lon + rng.uniform(-0.05, 0.05), 5))
            trips.append(Trip(f"{asset.vin[-6:]}-{n}", when, minutes, round(minutes * rng.uniform(0.3, 1.1), 1),
                              (lat, lon), end))
            lat, lon = end
        if since is not None:
            trips = [t for t in trips if t.started >= since]
        return trips[:limit]

    def device_password(self, asset: Asset, flaws: frozenset[str] | set[str] = frozenset()) -> str:
        """The MQTT secret of a device; with the shared-credential flaw one per model."""
        basis = f"model:{asset.tenant}:{asset.model}" if SHARED_CREDENTIAL_FLAW in flaws else f"vin:{asset.vin}"
        return hmac.new(self._secret, basis.encode(), hashlib.sha256).hexdigest()[:24]

    def app_mqtt_password(self, user: User) -> str:
        """The MQTT secret the app of ``user`` connects with."""
        return hmac.new(self._secret, f"app:{user.id}".encode(), hashlib.sha256).hexdigest()[:24]

    def plan_assets(self, user: User, limit: int = 3) -> list[Asset]:
        """The first few assets a cast user legitimately reaches (its customer's)."""
        if user.customer is None:
            return []
        out: list[Asset] = []
        for asset in self.customer_assets(user.customer):
            out.append(asset)
            if len(out) >= limit:
                break
        return out

    def simulated_assets(self) -> list[Asset]:
        """Assets that get a live MQTT client: the cast's, the sandbox's and dealer stock."""
        cast_customers = {u.customer for u in self.cast() if u.customer}
        chosen: list[Asset] = []
        for customer in sorted(cast_customers):
            chosen.extend(list(self.customer_assets(customer))[:3])
        chosen.extend(a for a in self.assets.values() if a.customer is None)
        return chosen

    def bench_assets(self) -> list[Asset]:
        """The plan's bench devices (see the module docstring): broker accounts without a live client."""
        return list(self.bench)

    def mqtt_accounts(self, flaws: frozenset[str] | set[str] = frozenset()) -> list[MqttAccount]:
        """Broker accounts: simulated and bench devices, the cast's apps, the backends and the operator.

        ``backend`` is the live :class:`~iotvet.lab.mqtt.backend.CommandBus`; :data:`PROBE_BACKEND`
        holds the same rights for the written plan, so a probe never takes over the live session.
        """
        from iotvet.lab.mqtt.accounts import MqttAccount

        accounts = [
            MqttAccount(asset.id, self.device_password(asset, flaws), "device", asset.tenant, device=asset.id,
                        client_id=asset.id)
            for asset in [*self.simulated_assets(), *self.bench]
        ]
        for user in self.cast():
            if user.role == "operator":
                continue
            devices = tuple(a.id for a in self.plan_assets(user))
            accounts.append(MqttAccount(user.username, self.app_mqtt_password(user), "app", user.tenant,
                                        devices=devices, client_id=f"app-{user.username}"))
        accounts.append(MqttAccount("backend", self._derived("backend"), "backend", None, client_id="backend"))
        accounts.append(MqttAccount(PROBE_BACKEND, self._derived(PROBE_BACKEND), "backend", None,
                                    client_id=PROBE_BACKEND))
        accounts.append(MqttAccount("operator", self._derived("operator"), "operator", None,
                                    client_id="operator"))
        return accounts

    def _derived(self, label: str) -> str:
        return hmac.new(self._secret, label.encode(), hashlib.sha256).hexdigest()[:24]
