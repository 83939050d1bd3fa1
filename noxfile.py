"""Developer sessions. They run in the project's virtualenv (made by ./setup.sh), because the
integration tests need root, libvirtd and the built images of this host."""

from __future__ import annotations

import nox

nox.options.sessions = ["unit"]
nox.options.default_venv_backend = "none"

PYTEST = ".venv/bin/pytest"


@nox.session
def unit(session: nox.Session) -> None:
    """Fast tests: no root, no guests."""
    session.run(PYTEST, "tests/unit", "-n0", *session.posargs, external=True)


@nox.session
def integration(session: nox.Session) -> None:
    """Real libvirt/qemu guests under TCG; needs root and ./setup.sh."""
    session.run(PYTEST, "tests/integration", *session.posargs, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, as CI runs it."""
    session.run(PYTEST, *session.posargs, external=True)


@nox.session
def golden(session: nox.Session) -> None:
    """Rewrite the golden files from the current templates (review the diff!)."""
    session.run(PYTEST, "tests/unit/test_render.py", "--regen-golden", "-n0", external=True)


@nox.session
def schema(session: nox.Session) -> None:
    """Regenerate docs/topology.schema.json."""
    session.run(".venv/bin/vhoneynet", "schema", "-o", "docs/topology.schema.json", external=True)


@nox.session
def package(session: nox.Session) -> None:
    """Build the wheel, install it in a fresh venv, run it outside the checkout."""
    session.run(PYTEST, "tests/package", "-n0", *session.posargs, external=True)
