"""The wheel is the product: built from this checkout, installed into a fresh venv, run from a
folder outside the checkout, it validates a topology and knows every image recipe, with the same
digests as the checkout (a recipe's content, not where it lies, makes its image)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from vhoneynet import __version__
from vhoneynet.images import ImageStore

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]  # one build of the checkout at a time


def run(argv: list, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)}, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this checkout installed; its dependencies are those of the
    test's own environment, reached through a .pth (PyPI would compile libvirt-python)."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "dist", ROOT],
                cwd=tmp)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("vhoneynet-*.whl")
    venv = tmp / "venv"
    assert run([sys.executable, "-m", "venv", venv], cwd=tmp).returncode == 0
    site = Path(run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    cwd=tmp).stdout.strip())
    # only the dependencies: appended after the venv's own site-packages, so the wheel's vhoneynet wins
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel], cwd=tmp)
    assert done.returncode == 0, done.stderr
    return venv


def test_the_installed_vhoneynet_is_the_wheel(installed: Path, tmp_path: Path):
    where = run([installed / "bin" / "python", "-c", "import vhoneynet; print(vhoneynet.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout
    version = run([installed / "bin" / "vhoneynet", "--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"vhoneynet {__version__}"


def test_the_wheel_validates_a_topology_outside_the_checkout(installed: Path, tmp_path: Path):
    result = run([installed / "bin" / "vhoneynet", "validate", ROOT / "topologies" / "demo.yml", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["valid"] is True


def test_the_wheel_knows_every_recipe_with_the_checkouts_digests(installed: Path, tmp_path: Path):
    result = run([installed / "bin" / "vhoneynet", "image", "list", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {r["name"]: r["digest"] for r in json.loads(result.stdout)}
    checkout = ImageStore(recipes_dir=ROOT / "images").list()
    assert listed == {r["name"]: r["digest"] for r in checkout}
    assert {"honeywall", "linux-web", "windows-iis"} <= set(listed)


def test_the_wheel_carries_templates_rules_and_probes(installed: Path):
    def data(package: Path) -> list[str]:
        return sorted(str(p.relative_to(package)) for sub in ("render/templates", "data")
                      for p in (package / sub).rglob("*") if p.is_file() and "__pycache__" not in p.parts)

    (site,) = (installed / "lib").glob("python3*/site-packages/vhoneynet")
    assert data(site) == data(ROOT / "vhoneynet")
    assert (site / "data" / "probes" / "containment_sink.py").is_file()
