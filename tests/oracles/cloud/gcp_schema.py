#!/usr/bin/env python3
"""Validate seg's `gcp/firewalls.json` files against the `Firewall` schema of
the compute v1 discovery document (as shipped in google-api-python-client).

    gcp_schema.py DISCOVERY_JSON FILE...

Checks, per item: only properties the schema declares; no read-only
(output-only) properties; types (string, integer with its int32/uint32 range,
boolean, array, object, $ref), enums and patterns (matched in full); the
properties the `compute.firewalls.insert` method requires. The file itself
must be a `compute#firewallList` whose extra keys are only seg's `//` header.
Prints one problem per line; exits 1 when there is any.
"""

import json
import re
import sys

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}


def check(value, schema, schemas, path, problems):
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object")
            return
        props = schema.get("properties", {})
        for key, v in value.items():
            if key not in props:
                if "additionalProperties" in schema:
                    check(v, schema["additionalProperties"], schemas, f"{path}.{key}", problems)
                else:
                    problems.append(f"{path}: unknown property `{key}`")
                continue
            sub = props[key]
            if sub.get("readOnly") or sub.get("description", "").startswith("[Output Only]") or "Output only." in sub.get("description", "")[:20]:
                problems.append(f"{path}: output-only property `{key}`")
            check(v, sub, schemas, f"{path}.{key}", problems)
        for key, sub in props.items():
            required = sub.get("annotations", {}).get("required", [])
            if "compute.firewalls.insert" in required and key not in value:
                problems.append(f"{path}: missing `{key}`, required to insert a firewall")
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{path}: expected an array")
            return
        for i, v in enumerate(value):
            check(v, schema.get("items", {}), schemas, f"{path}[{i}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string")
            return
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{path}: `{value}` is not one of {schema['enum']}")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            problems.append(f"{path}: `{value}` does not match `{schema['pattern']}`")
        if schema.get("format") in ("uint64", "int64") and not re.fullmatch(r"-?[0-9]+", value):
            problems.append(f"{path}: `{value}` is not a {schema['format']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer")
            return
        lo, hi = INT_RANGES.get(schema.get("format"), (None, None))
        if lo is not None and not lo <= value <= hi:
            problems.append(f"{path}: {value} is out of the {schema['format']} range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean")
    elif kind is None and "properties" not in schema:
        problems.append(f"{path}: no schema")


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    schemas = doc["schemas"]
    firewall = schemas["Firewall"]
    problems = []
    for path in sys.argv[2:]:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        extra = set(data) - {"//", "kind", "items"}
        if extra:
            problems.append(f"{path}: unexpected keys {sorted(extra)}")
        if data.get("kind") != schemas["FirewallList"]["properties"]["kind"].get("default"):
            problems.append(f"{path}: kind is not compute#firewallList")
        for i, item in enumerate(data.get("items", [])):
            check(item, firewall, schemas, f"{path}:items[{i}]", problems)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
