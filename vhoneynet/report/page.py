"""The report's HTML: one jinja2 template (autoescaped) with its styles and scripts inline, and
the data the scripts need as JSON in a `<script type="application/json">` element.

Captured text reaches the page two ways only: through the template's autoescape, and inside that
JSON, where `<`, `>` and `&` are written as \\u escapes so no `</script>` or `<!--` can end or
change the element; the scripts put it into the page with textContent, never as markup.
"""

from __future__ import annotations

import json
from importlib.resources import files

from vhoneynet.render import render

ASSETS = ("vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.min.css", "report/player.js", "report/report.js",
          "report/report.css")


def page(contents: dict) -> str:
    """The report page of what `contents.gather` found."""
    sessions = [{"name": s.name, "honeypot": s.honeypot, "ses": s.ses, "frames": s.frames, "cast": s.asciicast()}
                for s in contents["sessions"]]
    data = {"timeline": contents["timeline"], "outbound": contents["outbound"], "sessions": sessions}
    assets = {name.rsplit("/", 1)[1]: _asset(name) for name in ASSETS}
    return render("report/report.html.j2", **contents, data_json=script_json(data), assets=assets)


def script_json(value: object) -> str:
    """`value` as JSON that is safe inside a <script> element: no `<`, `>` or `&` in it at all."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _asset(name: str) -> str:
    text = files("vhoneynet").joinpath("data", *name.split("/")).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():  # would end its element early
        raise ValueError(f"{name} cannot be inlined: it holds a closing tag")
    return text
