"""The OpenAPI 3.1 document of a shape, built from the same operation table as the routes."""

from __future__ import annotations

from typing import Any

from iotvet.lab.shapes import Op, Shape
from iotvet.lab.world import COMMANDS

JSON = dict[str, Any]
_STR: JSON = {"type": "string"}
_INT: JSON = {"type": "integer"}
_NUM: JSON = {"type": "number"}
_BOOL: JSON = {"type": "boolean"}


def _obj(shape: Shape, props: dict[str, JSON], required: tuple[str, ...] = ()) -> JSON:
    out: JSON = {"type": "object", "properties": {shape.field(k): v for k, v in props.items()}}
    if required:
        out["required"] = [shape.field(k) for k in required]
    return out


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _wrapped(shape: Shape, schema: JSON, *, many: bool = False) -> JSON:
    if many:
        schema = {"type": "array", "items": schema}
        if shape.list_key:
            schema = {"type": "object", "properties": {shape.list_key: schema, shape.field("total_count"): _INT}}
    if shape.wrapper:
        schema = {"type": "object", "properties": {shape.wrapper: schema}}
    return schema


def _schemas(shape: Shape) -> dict[str, JSON]:
    ident: JSON = {"type": "string", "format": "uuid"} if shape.id_format == "uuid" else dict(_STR)
    loc: dict[str, JSON]
    if shape.location_style == "latlon":
        loc = {"lat": _NUM, "lon": _NUM}
    elif shape.location_style == "latitude":
        loc = {"latitude": _NUM, "longitude": _NUM}
    else:
        loc = {"position": {"type": "object", "properties": {"lat": _NUM, "lng": _NUM}}}
    point: JSON = {"type": "object", "properties": {"lat": _NUM, "lon": _NUM}}
    return {
        "Error": {"type": "object", "properties": {"error": _STR, "message": _STR}, "required": ["error"]},
        "Token": {"type": "object", "required": [shape.token_field], "properties": {
            shape.token_field: _STR, shape.field("token_type"): _STR, shape.field("expires_in"): _INT,
            shape.field("user_id"): _STR}},
        "Profile": _obj(shape, {"user_id": _STR, "username": _STR, "display_name": _STR, "email": _STR,
                                "phone": _STR, "role": _STR, "brand": _STR, "customer_id": _STR}),
        "ProfileUpdate": _obj(shape, {"display_name": _STR, "phone": _STR}),
        "PasswordChange": _obj(shape, {"current_password": _STR, "new_password": {"type": "string", "minLength": 10}},
                               ("current_password", "new_password")),
        "Login": {"type": "object", "properties": {"username": _STR, "password": _STR},
                  "required": ["username", "password"]},
        "Vehicle": _obj(shape, {"id": ident, "vin": _STR, "brand": _STR, "kind": _STR, "model": _STR,
                                "model_year": _INT, "nickname": _STR, "firmware_version": _STR,
                                "customer_id": _STR, "owner_id": _STR, "locked": _BOOL, "odometer_km": _INT,
                                "charge_pct": _INT, "bind_code": _STR}),
        "VehicleUpdate": {"type": "object", "properties": {"nickname": {"type": "string", "maxLength": 64}}},
        "Location": _obj(shape, {"id": ident, **loc, "heading_deg": _NUM, "speed_kmh": _NUM,
                                 "recorded_at": {"type": "string", "format": "date-time"}}),
        "Trip": _obj(shape, {"trip_id": _STR, "id": ident, "started_at": {"type": "string", "format": "date-time"},
                             "duration_min": _INT, "distance_km": _NUM, "start": point, "end": point}),
        "CommandRequest": {"type": "object", "required": ["command"], "properties": {
            "command": {"type": "string", "enum": list(COMMANDS)},
            "args": {"type": "object", "description": "climate: {temperature_c: 16..28}; any: {nonce}"}}},
        "Command": _obj(shape, {"command_id": _STR, "command": _STR, "args": {"type": "object"},
                                "status": _STR, "issued_at": {"type": "string", "format": "date-time"}}),
        "Share": _obj(shape, {"share_id": _STR, "username": _STR, "role": _STR, "revoked": _BOOL}),
        "ShareRequest": {"type": "object", "required": ["username"], "properties": {
            "username": _STR, "role": {"type": "string", "enum": ["guest", "driver"]}}},
        "Bind": _obj(shape, {"vin": _STR, "bind_code": _STR}, ("vin", "bind_code")),
        "Unbind": {"type": "object", "required": ["vin"], "properties": {"vin": _STR}},
        "User": _obj(shape, {"user_id": _STR, "username": _STR, "display_name": _STR, "email": _STR,
                             "role": _STR, "customer_id": _STR}),
        "Customer": _obj(shape, {"customer_id": _STR, "name": _STR, "kind": _STR, "brand": _STR,
                                 "vehicle_count": _INT}),
        "Brand": _obj(shape, {"brand": _STR, "name": _STR, "consumer": _BOOL}),
        "Firmware": _obj(shape, {"brand": _STR, "model": _STR, "kind": _STR, "latest_version": _STR,
                                 "released_at": {"type": "string", "format": "date"}, "notes": _STR}),
        "Status": {"type": "object", "properties": {"status": _STR, "api": _STR, "components": {"type": "object"}}},
    }


# operation name -> (request schema, response schema, many, success status)
_BODIES: dict[str, tuple[str | None, str | None, bool, str]] = {
    "login": ("Login", "Token", False, "200"),
    "logout": (None, None, False, "204"),
    "profile.get": (None, "Profile", False, "200"),
    "profile.update": ("ProfileUpdate", "Profile", False, "200"),
    "password.change": ("PasswordChange", None, False, "204"),
    "vehicles.list": (None, "Vehicle", True, "200"),
    "vehicles.bind": ("Bind", "Vehicle", False, "200"),
    "vehicles.unbind": ("Unbind", None, False, "204"),
    "vehicle.get": (None, "Vehicle", False, "200"),
    "vehicle.update": ("VehicleUpdate", "Vehicle", False, "200"),
    "vehicle.location": (None, "Location", False, "200"),
    "vehicle.trips": (None, "Trip", True, "200"),
    "vehicle.commands.list": (None, "Command", True, "200"),
    "vehicle.commands.send": ("CommandRequest", "Command", False, "202"),
    "vehicle.shares.list": (None, "Share", True, "200"),
    "vehicle.shares.create": ("ShareRequest", "Share", False, "201"),
    "vehicle.shares.revoke": (None, None, False, "204"),
    "vehicle.notifications.mute": (None, None, False, "204"),
    "customer.users": (None, "User", True, "200"),
    "brand.customers": (None, "Customer", True, "200"),
    "brand.users": (None, "User", True, "200"),
    "ops.brands": (None, "Brand", True, "200"),
    "firmware.catalogue": (None, "Firmware", True, "200"),
    "status": (None, "Status", False, "200"),
}


def _parameters(shape: Shape, op: Op) -> list[JSON]:
    params: list[JSON] = []
    for segment in op.path.split("/"):
        if segment.startswith("{"):
            name = segment[1:-1]
            schema: JSON = {"type": "string"}
            if name == shape.id_param and shape.id_format == "uuid":
                schema = {"type": "string", "format": "uuid"}
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.name in ("vehicles.list", "brand.users", "brand.customers"):
        params += [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                   {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}]
    if op.name == "vehicle.trips":
        params += [{"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                   {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 50}}]
    if op.auth:
        params.append({"name": shape.brand_header, "in": "header", "required": False, "schema": _STR,
                       "description": "The brand whose app sends the request."})
    return params


def _operation(shape: Shape, op: Op) -> JSON:
    request, response, many, status = _BODIES[op.name]
    out: JSON = {"operationId": op.name.replace(".", "_"), "summary": op.summary, "tags": [op.tag]}
    params = _parameters(shape, op)
    if params:
        out["parameters"] = params
    if request:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(request)}}}
    ok: JSON = {"description": "Success"}
    if response:
        ok["content"] = {"application/json": {"schema": _wrapped(shape, _ref(response), many=many)}}
    error = {"content": {"application/json": {"schema": _ref("Error")}}}
    responses: JSON = {status: ok}
    if op.auth:
        responses["401"] = {"description": "Missing or invalid credentials", **error}
        responses["403"] = {"description": "Not allowed", **error}
    if "{" in op.path or op.name in ("vehicles.unbind",):
        responses["404"] = {"description": "Not found", **error}
    if request:
        responses["422"] = {"description": "Invalid body", **error}
    if op.name == "login":
        responses["401"] = {"description": "Invalid credentials", **error}
        responses["429"] = {"description": "Too many failed attempts", **error}
    out["responses"] = responses
    if not op.auth:
        out["security"] = []
    return out


def build_spec(shape: Shape) -> JSON:
    """The OpenAPI 3.1 document served at ``/openapi.json`` for ``shape``."""
    paths: dict[str, JSON] = {}
    for op in shape.operations.values():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(shape, op)
    scheme: JSON
    if shape.token == "bearer":
        scheme = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    else:
        scheme = {"type": "apiKey", "in": "header" if shape.token == "header" else "cookie", "name": shape.token_name}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Lab telematics platform API", "version": "2.14.3",
                 "description": "White-label connected-vehicle backend (iotvet lab; deliberately flawed)."},
        "servers": [{"url": shape.base_path}],
        "security": [{"session": []}],
        "paths": paths,
        "components": {"schemas": _schemas(shape), "securitySchemes": {"session": scheme}},
    }
