"""Validation of eclip's file formats on the Python side.

The TypeScript side owns the formats; `eclip schemas` exports them as JSON Schema into schemas/ at the repository
root, and this module validates every file the backend writes (and every plan it reads) against the same schemas.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import fastjsonschema

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


class FormatError(ValueError):
    """A value that does not match its eclip format; the message names the source, the field and the reason."""


@lru_cache(maxsize=None)
def _validator(name: str):
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.exists():
        raise FormatError(f"no schema for format {name!r} at {path} (run `eclip schemas`)")
    return fastjsonschema.compile(json.loads(path.read_text()))


def validate(name: str, value: object, source: str = "<value>") -> object:
    try:
        _validator(name)(value)
    except fastjsonschema.JsonSchemaValueException as e:
        path = (e.name or "data").replace("data", "", 1) or "/"
        raise FormatError(f"{source}: {name} {path}: {e.message}") from None
    return value


def read_json(name: str, path: str | Path) -> dict:
    """A file of format `name`, validated."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: cannot read {name}: {e}") from None
    validate(name, value, str(path))
    return value


def write_json(name: str, value: dict, path: str | Path) -> Path:
    """Validates, then writes with one kernel per line so profiles stay readable and diff well."""
    validate(name, value, str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(value) + "\n")
    return path


def dumps(value: object, indent: int = 0) -> str:
    """Compact JSON: objects of scalars/short lists on one line, nested lists of objects one item a line."""
    pad = "  " * indent
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) and _big(v) for v in value.values()):
        items = [f'{pad}  {json.dumps(k)}: {dumps(v, indent + 1).lstrip()}' for k, v in value.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and _big(value):
        return pad + "[\n" + ",\n".join(dumps(v, indent + 1) for v in value) + "\n" + pad + "]"
    return pad + json.dumps(value, separators=(", ", ": "))


def _big(v: object) -> bool:
    return len(json.dumps(v)) > 200 and (isinstance(v, dict) or any(isinstance(x, (dict, list)) for x in v))
