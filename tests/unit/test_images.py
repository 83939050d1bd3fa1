"""Recipes, digests and the image store, on temporary recipe folders (no root, no builds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vhoneynet.backend.process import run
from vhoneynet.errors import RecipeInvalid, UnknownRecipe
from vhoneynet.imagebuild.rootfs import GUEST_UMASK, RootTree
from vhoneynet.images import RECIPES_DIR, BuiltImage, ImageStore, Recipe, Service


def write_recipe(recipes: Path, name: str, toml: str, files: dict[str, str] | None = None,
                 setup: str | None = None) -> Path:
    path = recipes / name
    path.mkdir(parents=True)
    (path / "recipe.toml").write_text(toml)
    for rel, content in (files or {}).items():
        (path / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / "files" / rel).write_text(content)
    if setup is not None:
        (path / "setup.sh").write_text(setup)
    return path


@pytest.fixture
def recipes(tmp_path: Path) -> Path:
    d = tmp_path / "images"
    write_recipe(d, "base", 'kind = "base"\nsuite = "trixie"\npackages = ["systemd"]\n',
                 files={"etc/motd": "hello\n"}, setup="true\n")
    write_recipe(d, "web", 'kind = "honeypot"\nfrom = "base"\npackages = ["nginx"]\n'
                 'services = [{name = "http", port = 80, proto = "tcp"}]\n',
                 files={"var/www/html/index.html": "<h1>hi</h1>\n"})
    return d


def test_load_root_and_derived(recipes: Path):
    base = Recipe.load("base", recipes)
    web = Recipe.load("web", recipes)
    assert (base.parent, base.suite, base.mirror, base.size) == (
        None, "trixie", "http://deb.debian.org/debian", "2G")
    assert base.packages == ("systemd",)
    assert (web.parent, web.suite, web.kind) == ("base", None, "honeypot")
    assert web.services == (Service("http", 80, "tcp"),)
    assert [r.name for r in web.ancestry(recipes)] == ["base", "web"]


def test_unknown_recipe_names_the_known_ones(recipes: Path):
    with pytest.raises(UnknownRecipe) as e:
        Recipe.load("windows-iis", recipes)
    assert "windows-iis" in str(e.value) and "base, web" in str(e.value)


@pytest.mark.parametrize("toml, problem", [
    ('kind = "base"\n', "exactly one of"),
    ('kind = "base"\nsuite = "trixie"\nfrom = "x"\n', "exactly one of"),
    ('kind = "server"\nsuite = "trixie"\n', "kind must be"),
    ('kind = "base"\nsuite = "trixie"\nsize = "lots"\n', "size"),
    ('kind = "base"\nsuite = "trixie"\npackages = ["ok", "rm -rf /"]\n', "package names"),
    ('kind = "honeypot"\nsuite = "trixie"\nservices = [{name = "x", port = 0, proto = "tcp"}]\n', "port"),
    ('kind = "base"\nsuite = "trixie"\nflavour = "x"\n', "unknown keys: flavour"),
    ('kind = "base"\nsuite = \n', "recipe.toml"),
])
def test_invalid_recipes_say_what_is_wrong(tmp_path: Path, toml: str, problem: str):
    write_recipe(tmp_path, "bad", toml)
    with pytest.raises(RecipeInvalid, match=problem):
        Recipe.load("bad", tmp_path)


def test_from_loop_is_rejected(tmp_path: Path):
    write_recipe(tmp_path, "a", 'kind = "base"\nfrom = "b"\n')
    write_recipe(tmp_path, "b", 'kind = "base"\nfrom = "a"\n')
    with pytest.raises(RecipeInvalid, match="loops"):
        Recipe.load("a", tmp_path).digest(tmp_path)


def digests(recipes: Path) -> tuple[str, str]:
    return Recipe.load("base", recipes).digest(recipes), Recipe.load("web", recipes).digest(recipes)


def test_digest_is_stable(recipes: Path):
    assert digests(recipes) == digests(recipes)
    base, web = digests(recipes)
    assert len(base) == 64 and base != web


def test_readme_does_not_change_the_digest(recipes: Path):
    before = digests(recipes)
    (recipes / "web" / "README.md").write_text("docs only\n")
    assert digests(recipes) == before


def test_digest_follows_a_file_in_files(recipes: Path):
    base, web = digests(recipes)
    (recipes / "web/files/var/www/html/index.html").write_text("<h1>changed</h1>\n")
    assert digests(recipes) == (base, digests(recipes)[1]) and digests(recipes)[1] != web


def test_digest_follows_a_new_file_and_the_exec_bit(recipes: Path):
    _, web = digests(recipes)
    extra = recipes / "web/files/usr/local/bin/tool"
    extra.parent.mkdir(parents=True)
    extra.write_text("#!/bin/sh\n")
    with_file = digests(recipes)[1]
    extra.chmod(0o755)
    assert len({web, with_file, digests(recipes)[1]}) == 3


def test_parent_change_changes_the_child(recipes: Path):
    base, web = digests(recipes)
    (recipes / "base/setup.sh").write_text("true\necho more\n")
    new_base, new_web = digests(recipes)
    assert new_base != base and new_web != web


def test_child_change_leaves_the_parent(recipes: Path):
    base, _ = digests(recipes)
    (recipes / "web/recipe.toml").write_text(
        (recipes / "web/recipe.toml").read_text().replace('"nginx"', '"nginx", "curl"'))
    assert digests(recipes)[0] == base


def fake_build(store: ImageStore, name: str) -> Path:
    """Lay out a finished build the way ImageStore writes one."""
    recipe = Recipe.load(name, store.recipes_dir)
    digest = recipe.digest(store.recipes_dir)
    path = store.root / f"{name}-{digest[:12]}"
    path.mkdir(parents=True)
    for f in ("disk.qcow2", "vmlinuz", "initrd.img"):
        (path / f).write_bytes(b"x" * 10)
    meta = {"recipe": name, "digest": digest, "kind": recipe.kind,
            "services": [{"name": "http", "port": 80, "proto": "tcp"}] if name == "web" else []}
    (path / "image.json").write_text(json.dumps(meta))
    return path


def test_store_get_returns_only_the_current_digest(recipes: Path, tmp_path: Path):
    store = ImageStore(tmp_path / "store", recipes)
    assert store.get("web") is None
    path = fake_build(store, "web")
    image = store.get("web")
    assert isinstance(image, BuiltImage)
    assert (image.disk, image.kernel, image.initrd) == (
        path / "disk.qcow2", path / "vmlinuz", path / "initrd.img")
    assert image.root_device == "/dev/vda"
    assert image.services == (Service("http", 80, "tcp"),)
    (recipes / "base/files/etc/motd").write_text("changed\n")  # the parent moved on
    assert store.get("web") is None


def test_ensure_returns_a_cached_build_without_building(recipes: Path, tmp_path: Path):
    store = ImageStore(tmp_path / "store", recipes)
    fake_build(store, "base")
    fake_build(store, "web")
    assert store.ensure("web", progress=pytest.fail).recipe == "web"


def test_store_list(recipes: Path, tmp_path: Path):
    store = ImageStore(tmp_path / "store", recipes)
    fake_build(store, "base")
    rows = {r["name"]: r for r in store.list()}
    assert set(rows) == {"base", "web"}
    assert rows["base"]["built"] and rows["base"]["size"] == 10
    assert rows["base"]["digest"] == Recipe.load("base", recipes).digest(recipes)
    assert not rows["web"]["built"] and rows["web"]["path"] is None
    assert rows["web"]["parent"] == "base"
    json.dumps(store.list())  # `vhoneynet image list --json` prints it as is


def test_store_get_unknown_recipe(recipes: Path, tmp_path: Path):
    with pytest.raises(UnknownRecipe):
        ImageStore(tmp_path / "store", recipes).get("nope")


def test_the_shipped_recipes_load():
    store = ImageStore(Path("/nonexistent"), RECIPES_DIR)
    by_name = {r.name: r for r in store.recipes()}
    assert {"base", "honeywall", "linux-dns", "linux-web"} <= set(by_name)
    assert by_name["base"].suite == "trixie"
    assert by_name["honeywall"].kind == "gateway" and by_name["honeywall"].parent == "base"
    for name in ("linux-dns", "linux-web"):
        assert by_name[name].kind == "honeypot" and by_name[name].services
    assert "cloud-init" not in by_name["honeywall"].packages


def test_recipes_dir_can_be_moved_by_environment(tmp_path: Path):
    # A fresh interpreter: RECIPES_DIR is read once, at import.
    code = "import vhoneynet.images as i; print(i.RECIPES_DIR)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "VHONEYNET_RECIPES": str(tmp_path)}).stdout
    assert out.strip() == str(tmp_path)


def test_a_build_only_clears_its_own_leftovers(tmp_path: Path):
    # "linux" must not take "linux-dns"'s half-finished build for its own leftover.
    recipes = tmp_path / "images"
    write_recipe(recipes, "linux", 'kind = "base"\nsuite = "trixie"\n')
    store = ImageStore(tmp_path / "store", recipes)
    mine = store.root / ".build-linux-0123456789ab-77"
    other = store.root / ".build-linux-dns-0123456789ab-78"
    for d in (mine, other):
        d.mkdir(parents=True)

    class Stop(Exception):
        pass

    def stop_at_first_step(line: str) -> None:
        raise Stop(line)

    with pytest.raises(Stop):  # the first step is announced after the clean-up
        store.build("linux", progress=stop_at_first_step)
    assert not mine.exists() and other.exists()


def test_a_build_resolves_names_as_the_host_does_and_leaves_the_guest_its_own(tmp_path: Path):
    """The mirror may be named in the host's hosts file; neither it nor the host's resolvers stay in the image."""
    tree = RootTree(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    with tree.building():
        assert (tmp_path / "etc/hosts").read_bytes() == Path("/etc/hosts").read_bytes()
        assert (tmp_path / "etc/resolv.conf").read_bytes() == Path("/etc/resolv.conf").read_bytes()
    assert (tmp_path / "etc/hosts").read_text() == "127.0.0.1\tlocalhost\n"
    assert (tmp_path / "etc/resolv.conf").read_bytes() == b""
    assert not (tmp_path / "usr/sbin/policy-rc.d").exists()


def test_a_hosts_file_written_by_the_recipe_is_kept(tmp_path: Path):
    tree = RootTree(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "usr/sbin").mkdir(parents=True)
    with tree.building():
        (tmp_path / "etc/hosts").write_text("10.0.0.5\tfiles.corp.example files\n")
    assert (tmp_path / "etc/hosts").read_text() == "10.0.0.5\tfiles.corp.example files\n"


def test_a_guest_tree_is_built_with_debian_modes_not_the_private_umask(tmp_path: Path):
    """vhoneynet runs with umask 077; what the build makes inside a guest must not inherit it."""
    old = os.umask(0o077)
    try:
        tree = RootTree(tmp_path)
        (tmp_path / "etc").mkdir()
        (tmp_path / "usr/sbin").mkdir(parents=True)
        with tree.building():
            assert (tmp_path / "etc/resolv.conf").stat().st_mode & 0o777 == 0o644
        assert (tmp_path / "etc/resolv.conf").stat().st_mode & 0o777 == 0o644
        made = run(["sh", "-c", f"touch {tmp_path}/made && stat -c %a {tmp_path}/made"], umask=GUEST_UMASK)
        assert made.strip() == "644"  # what chroot, debootstrap and tar run with
    finally:
        os.umask(old)
