"""Who owns which topic, who stands on the victim's side, and which pairs the MQTT probe tests.

Pure logic over the plan: no I/O. A *subject* is one concrete topic built from a ``mqtt.topics``
template for one owner (a device's topics belong to the device identity when the plan has one,
else to the first user that owns the device). The owner's *party* is everyone entitled to the
topic: the owner, the device and its owners, and *helpers* (tenant admins, admins of the owner's
group, platform operators). Only party members deliver canaries to the victim's side; everyone
else (and the anonymous client) is a potential attacker, classified with
:func:`iotvet.probes.relations.classify`. For each template and relation class the probe tests one
representative pair, so the work grows with templates, not with identities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from iotvet.checks.relations import classify, is_admin, missing_advice, role_rank
from iotvet.core.records import Relation
from iotvet.plan.schema import Identity, Plan

ANONYMOUS: Final = "(anonymous)"
"""Session key of the anonymous client (identity names cannot contain parentheses)."""

RELATION_ORDER: Final = (
    Relation.OTHER_TENANT,
    Relation.OTHER_TENANT_ADMIN,
    Relation.SAME_TENANT,
    Relation.SAME_GROUP,
    Relation.DEVICE,
    Relation.ANONYMOUS,
)
CATCH_ALL: Final = "#"
SYS_FILTER: Final = "$SYS/#"
SHARE_GROUP: Final = "$share/iotvet/"
_PLACEHOLDER = re.compile(r"\{(tenant|group|device|user)\}")
_SHADOW = re.compile(r"shadow|twin", re.IGNORECASE)
_COMMAND = re.compile(r"cmd|command|control|downlink|rpc|method", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Template:
    """One ``mqtt.topics`` entry."""

    name: str
    text: str
    placeholders: frozenset[str]

    @property
    def shadow(self) -> bool:
        """A device shadow or twin (named so in its key or its topic)."""
        return _SHADOW.search(self.name) is not None or _SHADOW.search(self.text) is not None

    @property
    def command(self) -> bool:
        """A topic that carries commands to its owner (by its key or its topic)."""
        return _COMMAND.search(self.name) is not None or _COMMAND.search(self.text) is not None

    def render(self, values: dict[str, str]) -> str:
        """The concrete topic for ``values``."""
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)


@dataclass(frozen=True, slots=True)
class Subject:
    """A concrete topic of one template, its owner, and the identities on the owner's side."""

    template: Template
    topic: str
    owner: str
    party: tuple[str, ...]
    writers: tuple[str, ...]
    values: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        """Unique within a run (two templates cannot build the same topic usefully)."""
        return f"{self.template.name}\x1f{self.topic}"


@dataclass(frozen=True, slots=True)
class Pair:
    """One attacker (session key; :data:`ANONYMOUS` for no credentials) against one subject."""

    relation: Relation
    attacker: str
    subject: Subject


@dataclass
class Selection:
    """The pairs one run tests and the subjects whose channels it must prove."""

    reads: dict[str, dict[Relation, Pair]] = field(default_factory=dict)
    """Per template name: one representative pair per relation class."""
    intrusive: dict[Relation, Pair] = field(default_factory=dict)
    """Per relation class: a pair whose victim is sacrificial, on the victim's command topic."""
    untested: dict[Relation, str] = field(default_factory=dict)


def username(identity: Identity) -> str:
    """The broker username of an identity (its name when the plan gives none)."""
    if identity.mqtt is not None and identity.mqtt.username:
        return identity.mqtt.username
    return identity.name


def client_id(identity: Identity) -> str:
    """The client id an identity connects with: the plan's, else its username."""
    if identity.mqtt is not None and identity.mqtt.client_id:
        return identity.mqtt.client_id
    return username(identity)


def is_platform(identity: Identity) -> bool:
    """A platform operator: entitled to every tenant's topics, never an attacker or a victim."""
    return role_rank(identity) >= 4


class Topology:
    """The plan's MQTT identities, templates, subjects, parties and relation classes."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.identities = sorted((i for i in plan.identities if i.mqtt is not None), key=lambda i: i.name)
        self.by_name = {i.name: i for i in self.identities}
        topics = plan.mqtt.topics if plan.mqtt is not None else {}
        self.templates = [Template(name, text, frozenset(_PLACEHOLDER.findall(text))) for name, text in topics.items()]
        self.skipped: dict[str, str] = {}
        self.subjects: dict[str, list[Subject]] = {}
        for template in self.templates:
            if not template.placeholders:
                self.skipped[template.name] = "the template names no tenant, group, device or user"
                continue
            self.subjects[template.name] = self._subjects(template)

    # -- parties

    def helpers(self, owner: Identity) -> list[str]:
        """Platform operators, admins of the owner's tenant, and admins of the owner's group."""
        out = []
        for ident in self.identities:
            if ident.name == owner.name:
                continue
            tenant_admin = is_admin(ident) and ident.tenant == owner.tenant and (
                ident.group is None or ident.group == owner.group)
            if is_platform(ident) or tenant_admin:
                out.append(ident.name)
        return out

    def _device_owners(self, device: str) -> list[Identity]:
        return [i for i in self.identities if not is_platform(i) and (i.device == device or device in i.devices)]

    def _subject(self, template: Template, owner: Identity, values: dict[str, str],
                 members: Iterable[Identity]) -> Subject:
        helpers = self.helpers(owner)
        side = sorted({m.name for m in members} - {owner.name} - set(helpers))
        party = (owner.name, *side, *helpers)
        writers = (owner.name, *sorted(side, key=lambda n: (self.by_name[n].role != "device", n)), *helpers)
        return Subject(template, template.render(values), owner.name, party, writers, tuple(sorted(values.items())))

    def _subjects(self, template: Template) -> list[Subject]:
        needs = template.placeholders
        people = [i for i in self.identities if not is_platform(i)]
        found: dict[str, Subject] = {}
        if "device" in needs:
            devices = sorted({i.device for i in people if i.role == "device" and i.device}
                             | {d for i in people for d in i.devices})
            for device in devices:
                owners = self._device_owners(device)
                machines = [i for i in owners if i.role == "device" and i.device == device]
                users = [i for i in owners if i.role != "device"]
                owner = machines[0] if machines else users[0]
                values = {"device": device, "tenant": owner.tenant}
                if owner.group is not None:
                    values["group"] = owner.group
                if "user" in needs:
                    if not users:
                        continue
                    values["user"] = username(users[0])
                if needs - set(values):
                    continue
                subject = self._subject(template, owner, values, owners)
                found.setdefault(subject.topic, subject)
        else:
            for ident in people:
                values = {"tenant": ident.tenant, "user": username(ident)}
                if ident.group is not None:
                    values["group"] = ident.group
                if needs - set(values):
                    continue
                topic = template.render(values)
                if topic in found:
                    continue
                if "user" in needs:
                    members = [ident]
                else:
                    members = [i for i in people if i.tenant == ident.tenant
                               and ("group" not in needs or i.group == ident.group)]
                found[topic] = self._subject(template, ident, values, members)
        return sorted(found.values(), key=self._victim_order)

    def _victim_order(self, subject: Subject) -> tuple[bool, bool, str, str]:
        owner = self.by_name[subject.owner]
        return (not owner.sacrificial, owner.role != "device", owner.name, subject.topic)

    # -- attackers

    def attackers(self, subject: Subject, *, anonymous: bool = True) -> dict[Relation, list[str]]:
        """Candidate attackers of a subject per relation class, best first."""
        owner = self.by_name[subject.owner]
        out: dict[Relation, list[str]] = {r: [] for r in RELATION_ORDER}
        for ident in self.identities:
            if ident.name in subject.party or is_platform(ident):
                continue
            relation = classify(ident, owner)
            if relation not in out:
                continue
            if relation in (Relation.SAME_GROUP, Relation.SAME_TENANT) and is_admin(ident):
                continue
            out[relation].append(ident.name)
        out[Relation.DEVICE].sort(key=lambda n: (self.by_name[n].tenant != owner.tenant, n))
        if anonymous:
            out[Relation.ANONYMOUS].append(ANONYMOUS)
        return {r: names for r, names in out.items() if names}

    def select(self, *, anonymous: bool = True) -> Selection:
        """Representative pairs: per template and relation class one pair, reusing victims greedily."""
        selection = Selection()
        covered: set[Relation] = set()
        for template in self.templates:
            subjects = self.subjects.get(template.name, [])
            chosen: dict[Relation, Pair] = {}
            victims: list[Subject] = []
            for relation in RELATION_ORDER:
                pick = None
                for subject in [*victims, *[s for s in subjects if s not in victims]]:
                    names = self.attackers(subject, anonymous=anonymous).get(relation)
                    if names:
                        pick = Pair(relation, names[0], subject)
                        break
                if pick is not None:
                    chosen[relation] = pick
                    covered.add(relation)
                    if pick.subject not in victims:
                        victims.append(pick.subject)
            selection.reads[template.name] = chosen
        selection.intrusive = self._intrusive(anonymous)
        people = [i for i in self.identities if not is_platform(i)]
        selection.untested = missing_advice(people, covered) if self.templates else {}
        return selection

    def command_template(self) -> Template | None:
        """The template that carries commands to devices (by name), else None."""
        for template in self.templates:
            if template.command and template.name in self.subjects:
                return template
        return None

    def _intrusive(self, anonymous: bool) -> dict[Relation, Pair]:
        """Per relation, a sacrificial victim (devices first) on its command topic (else its first topic)."""
        order = [t for t in self.templates if t.name in self.subjects]
        command = self.command_template()
        if command is not None:
            order = [command, *[t for t in order if t is not command]]
        out: dict[Relation, Pair] = {}
        for template in order:
            for subject in self.subjects[template.name]:
                if not self.by_name[subject.owner].sacrificial:
                    continue
                for relation, names in self.attackers(subject, anonymous=anonymous).items():
                    out.setdefault(relation, Pair(relation, names[0], subject))
            if out:
                break
        return {r: out[r] for r in RELATION_ORDER if r in out}

    # -- topics

    def own_subjects(self, name: str) -> list[Subject]:
        """Subjects on whose side ``name`` stands (its own topics), in template order."""
        out = []
        for template in self.templates:
            for subject in self.subjects.get(template.name, []):
                if name in subject.party and name not in self.helpers(self.by_name[subject.owner]):
                    out.append(subject)
                    break
        return out

    def owner_subjects(self, owner: str) -> list[Subject]:
        """Every template's subject owned by ``owner``."""
        return [s for t in self.templates for s in self.subjects.get(t.name, []) if s.owner == owner]

    def wildcard_filters(self, subject: Subject) -> list[str]:
        """Filters that reach ``subject.topic`` without naming it: broad, template-wide, prefix, slash, shared."""
        template = subject.template
        values = dict(subject.values)
        levels = subject.topic.split("/")
        plus = _PLACEHOLDER.sub("+", template.text)
        filters = [CATCH_ALL, "+/#", "+/+/#", plus]
        if "tenant" in template.placeholders and len(template.placeholders) > 1:
            filters.append(_PLACEHOLDER.sub(lambda m: values["tenant"] if m.group(1) == "tenant" else "+",
                                            template.text))
        filters += ["/".join(levels[:i]) + "/#" for i in range(1, min(len(levels), 3))]
        filters += ["/" + subject.topic, "/#", SHARE_GROUP + subject.topic, SHARE_GROUP + plus, SHARE_GROUP + "#"]
        return [f for f in dict.fromkeys(filters) if f != subject.topic]

    def all_plus(self, subject: Subject) -> str:
        """The subject's template with every placeholder a single-level wildcard."""
        return _PLACEHOLDER.sub("+", subject.template.text)

    def guard_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        """(concrete topics, filters) a run may use: every subject's topic and the probe's filters."""
        topics: set[str] = set()
        filters: set[str] = {CATCH_ALL, SYS_FILTER}
        for subjects in self.subjects.values():
            for subject in subjects:
                topics.add(subject.topic)
                filters.update(self.wildcard_filters(subject))
        return frozenset(topics), frozenset(filters)
