"""Every XML file, ruleset, script and cloud-init document comes from a jinja2 template here."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)


@cache
def environment() -> Environment:
    return _environment(PackageLoader("vhoneynet", "render/templates"))


@cache
def recipe_environment(folder: Path) -> Environment:
    """Templates that live with an image recipe (e.g. images/windows-iis/*.j2)."""
    return _environment(FileSystemLoader(str(folder)))


def _environment(loader: BaseLoader) -> Environment:
    env = Environment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("xml.j2", "html.j2"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["yaml_str"] = _yaml_str
    return env


def render(template: str, **context: Any) -> str:
    """Render one template; a missing variable is an error, never an empty string."""
    return environment().get_template(template).render(**context)


def render_recipe(folder: Path, template: str, **context: Any) -> str:
    """Render a template of an image recipe folder, with the same rules as render()."""
    return recipe_environment(folder).get_template(template).render(**context)


def _yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(str(value))
