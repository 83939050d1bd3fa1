"""The topology's JSON schema, for editors (docs/topology.schema.json is this, committed)."""

from __future__ import annotations

import json

from vhoneynet.topology.model import Topology


def schema_json() -> str:
    schema = Topology.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vhoneynet topology v1"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
