"""Load a topology file: YAML (keeping line numbers) -> defaults merged -> typed model -> checked.

Every problem is reported with its field path and line, all at once, and nothing on the
host is touched before the whole file is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from vhoneynet.errors import TopologyInvalid, TopologySyntaxError
from vhoneynet.topology.model import Topology
from vhoneynet.topology.validate import check

Loc = tuple[str | int, ...]


def load(path: Path, known_images: set[str] | None = None) -> Topology:
    """Read and validate a topology file. Raises TopologySyntaxError or TopologyInvalid."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise TopologySyntaxError(str(path), None, e.strerror or str(e)) from None
    return loads(text, str(path), known_images)


def loads(text: str, source: str = "<topology>", known_images: set[str] | None = None) -> Topology:
    """Validate topology text; `source` names it in error messages."""
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise TopologySyntaxError(source, line, e.problem or str(e)) from None
    if not isinstance(doc, dict):
        raise TopologySyntaxError(source, 1, "a topology is a mapping with at least an `id`")
    try:
        topology = Topology.model_validate(_with_defaults(doc))
    except ValidationError as e:
        raise TopologyInvalid(source, [_problem(doc, err) for err in e.errors()]) from None
    problems = check(topology, known_images)
    if problems:
        found = [(_dotted(loc), line_of(doc, loc), msg) for loc, msg in problems]
        raise TopologyInvalid(source, sorted(found, key=lambda p: p[1] or 0))
    return topology


def _with_defaults(doc: dict) -> dict:
    """Fill each honeypot from `defaults`, then `kinds[<image>]`, then its own fields (containerlab order)."""
    merged = dict(doc)
    defaults = _settings(doc.get("defaults"))
    kinds = doc.get("kinds") if isinstance(doc.get("kinds"), dict) else {}
    honeypots = doc.get("honeypots")
    if isinstance(honeypots, list):
        merged["honeypots"] = [
            {**defaults, **_settings(kinds.get(node.get("image"))), **node} if isinstance(node, dict) else node
            for node in honeypots
        ]
    return merged


def _settings(node: Any) -> dict:
    return {k: v for k, v in node.items() if v is not None} if isinstance(node, dict) else {}


def _problem(doc: dict, err: dict) -> tuple[str, int | None, str]:
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    elif err["type"] == "missing":
        message = "required field is missing"
    return _dotted(loc), line_of(doc, loc), message


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def line_of(doc: Any, loc: Loc) -> int | None:
    """1-based line of the deepest part of `loc` present in the YAML document."""
    line, node = 1, doc
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
        else:
            return line
        node = node[part]
    return line
