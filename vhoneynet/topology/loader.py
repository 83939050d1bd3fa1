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
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from vhoneynet.errors import TopologyInvalid, TopologySyntaxError
from vhoneynet.images import ImageStore
from vhoneynet.topology.model import Topology
from vhoneynet.topology.validate import check

Loc = tuple[str | int, ...]


MAX_BYTES = 1 << 20  # a topology of hundreds of honeypots is a few dozen KiB
MAX_NODES = 100_000  # YAML values once aliases are expanded: a billion laughs stops here
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_TEXT = 4 * MAX_BYTES  # characters of all strings once aliases are expanded (one long string, many aliases)


def load(path: Path, known_images: set[str] | None = None) -> Topology:
    """Read and validate a topology file (MAX_BYTES at most, UTF-8 text).

    Raises TopologySyntaxError (unreadable, too large, not text, not YAML) or TopologyInvalid.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise TopologySyntaxError(str(path), None, e.strerror or str(e)) from None
    if len(data) > MAX_BYTES:
        raise TopologySyntaxError(str(path), None, f"larger than {MAX_BYTES >> 20} MiB: not a topology file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise TopologySyntaxError(str(path), line, f"not UTF-8 text (byte {e.start}): is this a topology file?") from None
    return loads(text, str(path), known_images)


def load_with_recipes(path: Path) -> Topology:
    """`load`, with every recipe name `image:` may take (an unknown one is a field error, not a
    failure halfway through `up`). Raises TopologySyntaxError or TopologyInvalid."""
    return load(path, known_images={r.name for r in ImageStore().recipes()})


def loads(text: str, source: str = "<topology>", known_images: set[str] | None = None) -> Topology:
    """Validate topology text; `source` names it in error messages."""
    doc = _parse(text, source)
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


def _parse(text: str, source: str) -> Any:
    """The YAML document of `text`, bounded in size, nesting and alias expansion."""
    if len(text) > MAX_BYTES:
        raise TopologySyntaxError(source, None, f"larger than {MAX_BYTES >> 20} MiB: not a topology file")
    for line, content in enumerate(text.split("\n"), 1):  # YAML's own line breaks, not str.splitlines'
        bad = next((c for c in content if c not in "\t\r" and (c < " " or "\x7f" <= c <= "\x9f")), None)
        if bad is not None:
            raise TopologySyntaxError(source, line, f"control character {bad!r}: is this a topology file?")
    deep = _flow_too_deep(text)
    if deep is not None:
        raise TopologySyntaxError(source, deep, f"nested deeper than {MAX_DEPTH} levels")
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else None
        raise TopologySyntaxError(source, line, e.problem or str(e)) from None
    except RecursionError:
        raise TopologySyntaxError(source, None, f"nested deeper than a topology ever is (over {MAX_DEPTH} levels)") from None
    except (YAMLError, ValueError) as e:  # e.g. a reader error, or an integer of thousands of digits
        first = (str(e).splitlines() or [""])[0].split(";")[0][:200]
        raise TopologySyntaxError(source, None, f"a value cannot be read ({first})") from None
    _check_size(doc, source)
    return doc


def _flow_too_deep(text: str) -> int | None:
    """The line where `[`/`{` nesting (outside quotes and comments) passes MAX_DEPTH, if it does:
    the YAML parser recurses per level, and thousands of levels cost it seconds."""
    depth, line, quote, comment = 0, 1, "", False
    previous = "\n"
    for c in text:
        if c == "\n":
            line, comment = line + 1, False
        elif comment:
            pass
        elif quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#" and previous in " \t\n":
            comment = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif c in "]}":
            depth = max(0, depth - 1)
        previous = c
    return None


def _check_size(doc: Any, source: str) -> None:
    """Refuse a document that expands (aliases followed) past MAX_NODES values, MAX_TEXT characters
    or MAX_DEPTH levels; the walk stops at the bound, so a billion laughs costs little."""
    nodes = chars = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise TopologySyntaxError(source, None, f"more than {MAX_NODES} values once its aliases are expanded")
        if depth > MAX_DEPTH:
            raise TopologySyntaxError(source, _line(node), f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, str):
            chars += len(node)
            if chars > MAX_TEXT:
                raise TopologySyntaxError(source, None, f"more than {MAX_TEXT >> 20} MiB of text once its aliases "
                                                        "are expanded")
        elif isinstance(node, dict):
            chars += sum(len(k) for k in node if isinstance(k, str))

            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


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
