"""Every XML file, ruleset, script and cloud-init document comes from a jinja2 template here."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("vhoneynet", "render/templates"),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("xml.j2",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["yaml_str"] = _yaml_str
    return env


def render(template: str, **context: Any) -> str:
    """Render one template; a missing variable is an error, never an empty string."""
    return environment().get_template(template).render(**context)


def _yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(str(value))
