"""Loading a plan: YAML with line numbers, ``${ENV}`` substitution, validation, sanity checks.

Whatever goes wrong becomes one :class:`UserError` naming file, line and field. Nothing here
touches the network; ``iotvet validate --online`` adds that on top.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from iotvet.core.errors import Source, UserError
from iotvet.core.scope import Scope
from iotvet.plan.errors import to_user_error
from iotvet.plan.schema import LoginAuth, MtlsAuth, OAuth2Auth, Plan, RequestSpec, WfcAuth
from iotvet.plan.yamlsource import Path_, YamlDocument, read_yaml

_ENV = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_MARKERS = ("password", "passwd", "secret", "token", "apikey", "api_key", "credential", "session", "pin")


@dataclass(frozen=True, slots=True)
class PlanWarning:
    """Something worth saying about a plan that does not stop it from loading."""

    source: Source
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class LoadedPlan:
    """A validated plan, where it came from, and what it must never reveal."""

    plan: Plan
    file: str
    warnings: list[PlanWarning] = field(default_factory=list)
    secrets: list[tuple[str, str]] = field(default_factory=list)
    unset_env: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the plan are resolved against."""
        return Path(self.file).resolve().parent

    def resolve(self, path: str) -> Path:
        """A file named in the plan, relative to the plan's own directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def _substitute(doc: YamlDocument, env: Mapping[str, str], strict: bool,
                unset: list[tuple[str, Path_]], from_env: list[tuple[str, str]]) -> Any:
    def walk(value: Any, path: Path_) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def repl(m: re.Match[str]) -> str:
            if m.group(1):  # $${NAME} is a literal ${NAME}
                return "${" + m.group(2) + "}"
            name = m.group(2)
            if name not in env:
                if strict:
                    raise UserError(f"environment variable {name} is not set", doc.source(path))
                unset.append((name, path))
                return m.group(0)
            from_env.append((f"${{{name}}}", env[name]))
            return env[name]

        return _ENV.sub(repl, value)

    return walk(doc.data, ())


def _secret_values(model: BaseModel, label: str) -> Iterator[tuple[str, str]]:
    """Every SecretStr in a model tree, and login/flow body values under secret-looking keys."""
    for name, value in model:
        here = f"{label}.{name}"
        if isinstance(value, SecretStr):
            yield here, value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secret_values(value, here)
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, SecretStr):
                    yield f"{here}.{k}", v.get_secret_value()
                elif isinstance(v, BaseModel):
                    yield from _secret_values(v, f"{here}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, BaseModel):
                    yield from _secret_values(v, f"{here}[{i}]")
    if isinstance(model, RequestSpec):
        yield from body_secrets(model.json_body, label)
        yield from body_secrets(model.form, label)
        for k, v in model.headers.items():
            if k.lower() in ("authorization", "cookie", "x-api-key") or _secret_key(k):
                yield f"{label}.headers.{k}", v


def _secret_key(key: str) -> bool:
    k = key.lower().replace("-", "_")
    return any(marker in k for marker in SECRET_MARKERS)


def body_secrets(body: Any, label: str) -> Iterator[tuple[str, str]]:
    if isinstance(body, dict):
        for k, v in body.items():
            if isinstance(v, str) and _secret_key(str(k)):
                yield f"{label}.{k}", v
            else:
                yield from body_secrets(v, f"{label}.{k}")
    elif isinstance(body, list):
        for i, v in enumerate(body):
            yield from body_secrets(v, f"{label}[{i}]")


def _is_url(value: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value))


def _check_sanity(loaded: LoadedPlan, doc: YamlDocument) -> None:
    plan = loaded.plan
    scope = Scope(plan.scope.hosts)

    def url_in_scope(url: str, path: Path_) -> None:
        if not scope.allows_url(url):
            raise UserError(f"{url} is outside scope.hosts; add its host:port there or fix the URL",
                            doc.source(path))

    def file_exists(name: str, path: Path_) -> None:
        try:
            found = loaded.resolve(name).is_file()
        except (OSError, RuntimeError, ValueError):  # name too long, ~unknown-user, ...
            found = False
        if not found:
            raise UserError(f"file not found: {name} (relative paths start at the plan's folder)",
                            doc.source(path))

    if plan.target is not None:
        url_in_scope(plan.target.base_url, ("target", "base_url"))
        for key in ("openapi", "har", "postman"):
            value = getattr(plan.target, key)
            if value is not None:
                (url_in_scope if _is_url(value) else file_exists)(value, ("target", key))
        if plan.target.ca is not None:
            file_exists(plan.target.ca, ("target", "ca"))
        scheme = plan.target.base_url.split("://", 1)[0]
        for tenant, host in plan.target.tenant_hosts.items():
            url_in_scope(f"{scheme}://{host}", ("target", "tenant_hosts", tenant))
        if plan.target.openapi is None and plan.target.har is None and plan.target.postman is None:
            loaded.warnings.append(PlanWarning(doc.source(("target",)),
                                               "no API description (openapi, har or postman): REST probes "
                                               "will only have the plan's own requests"))
    if plan.mqtt is not None:
        url_in_scope(plan.mqtt.url, ("mqtt", "url"))
        for i, url in enumerate(plan.mqtt.also):
            url_in_scope(url, ("mqtt", "also", i))
        if plan.mqtt.ca is not None:
            file_exists(plan.mqtt.ca, ("mqtt", "ca"))

    def request_in_scope(spec: RequestSpec, path: Path_) -> None:
        if _is_url(spec.path):
            url_in_scope(spec.path, (*path, "path"))
        elif plan.target is None:
            raise UserError("a relative path needs target.base_url", doc.source((*path, "path")))

    for name, flow in plan.flows.items():
        steps = flow if isinstance(flow, list) else [flow]
        for j, step in enumerate(steps):
            request_in_scope(step, ("flows", name, j) if isinstance(flow, list) else ("flows", name))

    for i, ident in enumerate(plan.identities):
        here: Path_ = ("identities", i)
        auth = ident.auth
        if auth is not None and plan.target is None and not isinstance(auth, MtlsAuth):
            raise UserError("HTTP auth needs a target: section", doc.source((*here, "auth")))
        if isinstance(auth, LoginAuth):
            request_in_scope(auth.request, (*here, "auth", "request"))
        elif isinstance(auth, OAuth2Auth):
            url_in_scope(auth.token_url, (*here, "auth", "token_url"))
        elif isinstance(auth, MtlsAuth):
            file_exists(auth.cert, (*here, "auth", "cert"))
            file_exists(auth.key, (*here, "auth", "key"))
        elif isinstance(auth, WfcAuth):
            from iotvet.plan.wfc import load_wfc_user, wfc_secrets

            file_exists(auth.file, (*here, "auth", "file"))
            imported = load_wfc_user(loaded.resolve(auth.file), auth.user)  # raises UserError with the WFC line
            if isinstance(imported, LoginAuth):
                request_in_scope(imported.request, (*here, "auth", "file"))
            loaded.secrets.extend((f"{ident.name}.wfc", v) for v in wfc_secrets(loaded.resolve(auth.file), auth.user))
        if ident.verify is not None:
            request_in_scope(ident.verify, (*here, "verify"))
        if ident.mqtt is not None:
            if plan.mqtt is None:
                raise UserError("mqtt credentials need an mqtt: section", doc.source((*here, "mqtt")))
            for key in ("cert", "key"):
                value = getattr(ident.mqtt, key)
                if value is not None:
                    file_exists(value, (*here, "mqtt", key))
            if (ident.mqtt.cert is None) != (ident.mqtt.key is None):
                raise UserError("a client certificate needs both cert and key", doc.source((*here, "mqtt")))
        if ident.role == "device" and ident.mqtt is None and ident.auth is None:
            loaded.warnings.append(PlanWarning(doc.source(here), "a device identity without credentials"))


def _unique_names(doc: YamlDocument, data: dict[str, Any]) -> None:
    idents = data.get("identities")
    seen: dict[str, int] = {}
    for i, ident in enumerate(idents if isinstance(idents, list) else []):
        name = ident.get("name") if isinstance(ident, dict) else None
        if isinstance(name, str):
            if name in seen:
                raise UserError(f"identity name {name!r} is used twice (first by identities[{seen[name]}])",
                                doc.source(("identities", i, "name")))
            seen[name] = i


def load_plan(path: str, *, env: Mapping[str, str] | None = None, strict_env: bool = True) -> LoadedPlan:
    """Read, substitute, validate and sanity-check a plan file.

    With ``strict_env`` an unset ``${VAR}`` is an error; without it (``iotvet validate``), the
    reference stays as written and a warning names it.
    """
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise UserError("a plan is a YAML mapping with target/mqtt, scope and identities", doc.source(()))
    unset: list[tuple[str, Path_]] = []
    from_env: list[tuple[str, str]] = []
    data = _substitute(doc, os.environ if env is None else env, strict_env, unset, from_env)
    _unique_names(doc, data)
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        raise to_user_error(exc, doc, Plan) from None
    loaded = LoadedPlan(plan=plan, file=path)
    for name, where in unset:
        loaded.warnings.append(PlanWarning(doc.source(where), f"environment variable {name} is not set"))
    loaded.unset_env = sorted({name for name, _ in unset})
    loaded.secrets = [(label, value) for label, value in from_env if value]
    unresolved = {f"${{{name}}}" for name in loaded.unset_env}
    for ident in plan.identities:
        loaded.secrets.extend((f"{ident.name}{lbl}", v) for lbl, v in _secret_values(ident, "")
                              if v and v not in unresolved)
    for name, flow in plan.flows.items():
        for step in flow if isinstance(flow, list) else [flow]:
            loaded.secrets.extend(_secret_values(step, f"flows.{name}"))
    _check_sanity(loaded, doc)
    return loaded
