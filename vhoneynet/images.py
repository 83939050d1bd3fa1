"""Guest images: recipes in images/<name>/, built once per content digest into a local store.

A recipe is either a root (debootstrap of a Debian suite) or derived `from` another recipe
(its parent's root tree plus more packages). The digest covers everything that goes into the
image, so editing a recipe, one of its files or any ancestor makes a new build; an unchanged
recipe is never rebuilt. Guests run on qcow2 overlays of the read-only disk built here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from vhoneynet.errors import (
    CommandFailed,
    ImageBuildFailed,
    RecipeInvalid,
    UnknownRecipe,
)
from vhoneynet.imagebuild.rootfs import RootTree
from vhoneynet.permissions import TRAVERSE, make_folder

# Bump when the builder changes what it puts into an image: every digest changes with it.
BUILDER_VERSION = "3"
# images/ of the checkout, shipped in the wheel as vhoneynet/recipes/ (setup.py); the digests are
# over paths relative to a recipe's folder, so a recipe hashes the same wherever it lies
_PACKAGED = Path(__file__).resolve().parent / "recipes"
RECIPES_DIR = Path(
    os.environ.get("VHONEYNET_RECIPES")
    or (_PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "images")
)
DEFAULT_STORE = Path("/var/lib/vhoneynet/images")
DEBS_CACHE = Path("/var/cache/vhoneynet/debs")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KINDS = ("base", "gateway", "honeypot")
BUILDERS = ("debootstrap", "windows-iso")
# How a guest of the image starts: `kernel`, its kernel and initrd given to qemu (a debootstrap
# build, whose disk has no boot loader); `bios`, its own boot loader through SeaBIOS (a disk the
# user brings); `uefi`, its own boot loader through OVMF (Windows, installed in a UEFI guest).
BOOTS = ("kernel", "bios", "uefi")
_DEFAULT_BOOT = {"debootstrap": "kernel", "windows-iso": "uefi"}
ROOT_LABEL = "rootfs"  # fstab mounts / by it (images/base/setup.sh)

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Service:
    """A port a honeypot answers on once it is ready."""

    name: str
    port: int
    proto: str = "tcp"


@dataclass(frozen=True)
class Recipe:
    """What goes into one image: images/<name>/recipe.toml, files/ and setup.sh."""

    name: str
    path: Path
    description: str
    kind: str
    parent: str | None
    suite: str | None
    mirror: str
    packages: tuple[str, ...]
    size: str
    services: tuple[Service, ...] = ()
    builder: str = "debootstrap"  # or windows-iso: installed from the user's ISO (vhoneynet.windows)
    boot: str = "kernel"  # one of BOOTS
    tpm: bool = False  # a TPM 2.0 (swtpm) for a uefi guest whose Windows version requires one

    @classmethod
    def load(cls, name: str, recipes_dir: Path = RECIPES_DIR) -> Recipe:
        """Read images/<name>/recipe.toml.

        Raises UnknownRecipe (naming the known recipes) or RecipeInvalid.
        """
        path = recipes_dir / name
        toml_file = path / "recipe.toml"
        if "/" in name or name.startswith(".") or not toml_file.is_file():
            raise UnknownRecipe(name, known_recipes(recipes_dir))
        try:
            data = tomllib.loads(toml_file.read_text())
        except tomllib.TOMLDecodeError as e:
            raise RecipeInvalid(name, str(e)) from None
        return cls._from_toml(name, path, data)

    @classmethod
    def _from_toml(cls, name: str, path: Path, data: dict) -> Recipe:
        def bad(problem: str) -> RecipeInvalid:
            return RecipeInvalid(name, problem)

        unknown = set(data) - {
            "description", "kind", "from", "suite", "mirror", "packages", "size", "services", "builder", "boot", "tpm"
        }
        if unknown:
            raise bad(f"unknown keys: {', '.join(sorted(unknown))}")
        builder = data.get("builder", "debootstrap")
        if builder not in BUILDERS:
            raise bad(f"builder must be one of {', '.join(BUILDERS)}, not {builder!r}")
        if builder == "windows-iso" and ("from" in data or "suite" in data):
            raise bad("a windows-iso recipe is installed from an ISO: no `suite`, no `from`")
        if builder == "debootstrap" and ("from" in data) == ("suite" in data):
            raise bad("needs exactly one of `suite` (a root image) or `from` (a derived one)")
        boot, tpm = _boot(builder, data, bad)
        kind = data.get("kind", "")
        if kind not in KINDS:
            raise bad(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        size = str(data.get("size", "2G"))
        if not re.fullmatch(r"[1-9][0-9]*[MG]", size):
            raise bad(f"size must look like 2G or 800M, not {size!r}")
        packages = data.get("packages", [])
        if not all(isinstance(p, str) and re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in packages):
            raise bad("packages must be a list of Debian package names")
        try:
            services = tuple(Service(**s) for s in data.get("services", []))
        except TypeError as e:
            raise bad(f"services: {e}") from None
        for s in services:
            if s.proto not in ("tcp", "udp") or not 0 < int(s.port) < 65536:
                raise bad(f"service {s.name!r}: needs proto tcp|udp and a port 1-65535")
        return cls(
            name=name,
            path=path,
            description=str(data.get("description", "")),
            kind=kind,
            parent=data.get("from"),
            suite=data.get("suite"),
            mirror=data.get("mirror", DEFAULT_MIRROR),
            packages=tuple(packages),
            size=size,
            services=services,
            builder=builder,
            boot=boot,
            tpm=tpm,
        )

    @property
    def files_dir(self) -> Path:
        return self.path / "files"

    @property
    def setup_script(self) -> Path:
        return self.path / "setup.sh"

    def ancestry(self, recipes_dir: Path = RECIPES_DIR) -> list[Recipe]:
        """This recipe's parents, root first, then itself. Raises RecipeInvalid on a cycle."""
        chain = [self]
        while chain[0].parent is not None:
            if chain[0].parent in (r.name for r in chain):
                raise RecipeInvalid(self.name, f"`from` loops: {chain[0].parent} derives from itself")
            chain.insert(0, Recipe.load(chain[0].parent, recipes_dir))
        return chain

    def digest(self, recipes_dir: Path = RECIPES_DIR) -> str:
        """sha256 over the builder version, the parent's digest, recipe.toml, files/** and setup.sh."""
        h = hashlib.sha256(f"vhoneynet-image {BUILDER_VERSION}\n".encode())
        if self.parent is not None:
            h.update(f"parent {self.ancestry(recipes_dir)[-2].digest(recipes_dir)}\n".encode())
        for path in [self.path / "recipe.toml", self.setup_script, *_tree(self.files_dir)]:
            if path.is_symlink():
                h.update(f"link {path.relative_to(self.path)} {os.readlink(path)}\n".encode())
            elif path.is_file():
                executable = os.access(path, os.X_OK)
                content = path.read_bytes()
                h.update(f"file {path.relative_to(self.path)} {executable:d} {len(content)}\n".encode())
                h.update(content)
        return h.hexdigest()


def _boot(builder: str, data: dict, bad: Callable[[str], RecipeInvalid]) -> tuple[str, bool]:
    """A recipe's `boot` and `tpm`, checked against what its builder makes. Raises RecipeInvalid."""
    boot = data.get("boot", _DEFAULT_BOOT[builder])
    if boot not in BOOTS:
        raise bad(f"boot must be one of {', '.join(BOOTS)}, not {boot!r}")
    if builder == "debootstrap" and boot != "kernel":
        raise bad(f"boot = {boot!r}: a debootstrap image has no boot loader of its own, its boot is `kernel`")
    if builder == "windows-iso" and boot != "uefi":
        raise bad(f"boot = {boot!r}: Windows is installed in a UEFI guest, its boot is `uefi`")
    tpm = data.get("tpm", False)
    if not isinstance(tpm, bool):
        raise bad(f"tpm must be true or false, not {tpm!r}")
    if tpm and boot != "uefi":
        raise bad("tpm = true needs boot = \"uefi\" (a TPM is for a UEFI guest)")
    return boot, tpm


def known_recipes(recipes_dir: Path = RECIPES_DIR) -> list[str]:
    if not recipes_dir.is_dir():
        return []
    return sorted(p.parent.name for p in recipes_dir.glob("*/recipe.toml"))


def _tree(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_symlink() or p.is_file())


BROUGHT = "file:"  # `image: file:/path/disk.qcow2`: a disk the user brings instead of a recipe


def brought_disk(image: str) -> Path | None:
    """The disk of an `image: file:/path` reference; None for a recipe name."""
    return Path(image.removeprefix(BROUGHT)) if image.startswith(BROUGHT) else None


@dataclass(frozen=True)
class BuiltImage:
    """A read-only base disk to run guests on: a finished build (booted directly with its kernel
    and initrd, or, for Windows, by OVMF), or a disk the user brings (booted by its own boot
    loader). `boot` is one of BOOTS; left empty it follows from `kernel`."""

    recipe: str
    digest: str
    kind: str
    disk: Path
    kernel: Path | None
    initrd: Path | None
    root_device: str = "/dev/vda"
    services: tuple[Service, ...] = ()
    boot: str = ""
    tpm: bool = False

    def __post_init__(self) -> None:
        if not self.boot:
            object.__setattr__(self, "boot", "kernel" if self.kernel else "bios")
        if self.boot not in BOOTS:
            raise ValueError(f"boot must be one of {', '.join(BOOTS)}, not {self.boot!r}")

    @classmethod
    def brought(cls, image: str) -> BuiltImage:
        """`file:/path` (qcow2 or raw, any cloud image with cloud-init): personalised from the same
        NoCloud seed as a recipe's image; it offers no service probes, so ready = cloud-init done."""
        disk = brought_disk(image)
        if disk is None:
            raise ValueError(f"{image!r} is not a {BROUGHT} image")
        return cls(recipe=image, digest="", kind="linux", disk=disk, kernel=None, initrd=None)

    @classmethod
    def from_dir(cls, path: Path) -> BuiltImage:
        meta = json.loads((path / "image.json").read_text())
        # images built before `boot` was recorded: a Windows build boots by UEFI, the others by kernel
        boot = meta.get("boot", _DEFAULT_BOOT.get(meta.get("builder", "debootstrap"), "kernel"))
        return cls(
            recipe=meta["recipe"],
            digest=meta["digest"],
            kind=meta["kind"],
            disk=path / "disk.qcow2",
            kernel=path / "vmlinuz" if boot == "kernel" else None,
            initrd=path / "initrd.img" if boot == "kernel" else None,
            root_device=meta.get("root_device", "/dev/vda"),
            services=tuple(Service(**s) for s in meta.get("services", [])),
            boot=boot,
            tpm=meta.get("tpm", False),
        )


class ImageStore:
    """Built images under root, one directory per recipe and digest: <name>-<digest[:12]>/."""

    def __init__(self, root: Path = DEFAULT_STORE, recipes_dir: Path = RECIPES_DIR,
                 debs_cache: Path = DEBS_CACHE):
        self.root = root
        self.recipes_dir = recipes_dir
        self.debs_cache = debs_cache

    def _make_root(self) -> None:
        if not self.root.is_dir():  # qemu's user walks through to the base images, under umask 077 too
            make_folder(self.root, TRAVERSE)

    def recipes(self) -> list[Recipe]:
        return [Recipe.load(n, self.recipes_dir) for n in known_recipes(self.recipes_dir)]

    def _dir(self, recipe: Recipe) -> Path:
        return self.root / f"{recipe.name}-{recipe.digest(self.recipes_dir)[:12]}"

    def get(self, name: str) -> BuiltImage | None:
        """The build of the recipe's current digest, or None; a `file:` disk as it is. Raises UnknownRecipe."""
        if name.startswith(BROUGHT):
            return BuiltImage.brought(name)
        recipe = Recipe.load(name, self.recipes_dir)
        path = self._dir(recipe)
        if not (path / "image.json").is_file():
            return None
        image = BuiltImage.from_dir(path)
        return image if image.digest == recipe.digest(self.recipes_dir) else None

    def ensure(self, name: str, progress: Progress = _quiet) -> BuiltImage:
        """Return the current build of name, building it (and missing parents) first if needed.

        Raises UnknownRecipe, RecipeInvalid or ImageBuildFailed.
        """
        image = self.get(name)
        return image if image is not None else self.build(name, progress=progress)

    def build(self, name: str, force: bool = False, progress: Progress = _quiet, iso: Path | None = None,
              hv=None) -> BuiltImage:
        """Build name now (parents only when missing); with force even if a build exists.

        A windows-iso recipe needs `iso` (raises WindowsIsoMissing without it) and a Hypervisor.
        """
        recipe = Recipe.load(name, self.recipes_dir)
        if recipe.builder == "windows-iso":
            # Imported here: windows brings jinja2, which only this builder needs.
            from vhoneynet import windows

            windows.check_iso(name, iso)
            self._make_root()
            with self._lock(name):
                if not force and (image := self.get(name)) is not None:
                    return image
                final = windows.build(recipe, self._dir(recipe), recipe.digest(self.recipes_dir), iso, hv,
                                      progress=progress)
            return BuiltImage.from_dir(final)
        parent_tar = None
        if recipe.parent is not None:
            parent = self.ensure(recipe.parent, progress)
            parent_tar = parent.disk.parent / "rootfs.tar"
            if not parent_tar.is_file():  # built before anything derived from it
                parent = self.build(recipe.parent, force=True, progress=progress)
        self._make_root()
        with self._lock(name):
            if not force and (image := self.get(name)) is not None:
                return image  # another process built it while we waited
            return self._build(recipe, parent_tar, progress)

    def list(self) -> list[dict]:
        """One entry per recipe: name, kind, parent, digest, built, size (bytes), path."""
        rows = []
        for recipe in self.recipes():
            image = self.get(recipe.name)
            rows.append({
                "name": recipe.name,
                "kind": recipe.kind,
                "parent": recipe.parent,
                "digest": recipe.digest(self.recipes_dir),
                "built": image is not None,
                "size": image.disk.stat().st_size if image else None,
                "path": str(image.disk.parent) if image else None,
            })
        return rows

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        with open(self.root / f".{name}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _build(self, recipe: Recipe, parent_tar: Path | None, progress: Progress) -> BuiltImage:
        started = time.monotonic()
        digest = recipe.digest(self.recipes_dir)
        final = self._dir(recipe)
        for stale in self.root.glob(f".build-{recipe.name}-{'[0-9a-f]' * 12}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted build
        work = self.root / f".build-{final.name}-{os.getpid()}"
        work.mkdir()
        tree = RootTree(work / "root")
        step = _Steps(recipe.name, progress)
        try:
            if parent_tar is None:
                with step(f"debootstrap {recipe.suite} ({recipe.name})"):
                    tree.debootstrap(recipe.suite, recipe.mirror, recipe.packages, self.debs_cache)
            else:
                with step(f"unpack {recipe.parent} root tree"):
                    tree.unpack(parent_tar)
            with tree.building():
                if parent_tar is not None and recipe.packages:
                    with step(f"apt-get install {len(recipe.packages)} packages"):
                        tree.install(recipe.packages, self.debs_cache)
                if recipe.files_dir.is_dir():
                    with step("copy files/"):
                        tree.copy_files(recipe.files_dir)
                if recipe.setup_script.is_file():
                    with step("setup.sh"):
                        tree.run_setup(recipe.setup_script)
                with step("clean"):
                    tree.finalize()
                    versions = tree.package_versions(recipe.packages)
            with step("copy kernel and initrd"):
                kernel, initrd = tree.kernel()
                shutil.copyfile(kernel, work / "vmlinuz")
                shutil.copyfile(initrd, work / "initrd.img")
            if self._is_parent(recipe.name):
                with step("save root tree for derived images"):
                    tree.pack(work / "rootfs.tar")
            with step(f"mkfs.ext4 {recipe.size}"):
                tree.make_disk(work / "disk.qcow2", recipe.size, ROOT_LABEL)
            shutil.rmtree(tree.path)
            meta = {
                "recipe": recipe.name,
                "digest": digest,
                "kind": recipe.kind,
                "description": recipe.description,
                "parent": recipe.parent,
                "root_device": "/dev/vda",
                "boot": recipe.boot,
                "services": [asdict(s) for s in recipe.services],
                "packages": versions,
                "build_seconds": round(time.monotonic() - started, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "builder_version": BUILDER_VERSION,
            }
            (work / "image.json").write_text(json.dumps(meta, indent=2) + "\n")
            for name in ("disk.qcow2", "vmlinuz", "initrd.img", "image.json"):
                (work / name).chmod(0o444)  # guests use overlays; the base is never written
            work.chmod(0o755)
            if final.exists():  # a forced rebuild replaces the old one
                shutil.rmtree(final)
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        progress(f"{recipe.name}: done in {time.monotonic() - started:.0f} s")
        return BuiltImage.from_dir(final)

    def _is_parent(self, name: str) -> bool:
        return any(r.parent == name for r in self.recipes())


@dataclass(frozen=True)
class BuildStep:
    """One step of an image build: `state` is running, done or failed, after `seconds`."""

    recipe: str
    name: str
    state: str
    seconds: float


class _Steps:
    """Announces each build step and turns a failed command into ImageBuildFailed for that step.
    A progress callback with a `step` method (a live display) also gets each step as a BuildStep;
    a plain one gets the lines only."""

    def __init__(self, recipe: str, progress: Progress):
        self.recipe = recipe
        self.progress = progress
        self.update: Callable[[BuildStep], None] = getattr(progress, "step", None) or (lambda _: None)

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.progress(f"{name}…")
        started = time.monotonic()
        self.update(BuildStep(self.recipe, name, "running", 0))
        try:
            yield
        except (CommandFailed, OSError) as e:
            self.update(BuildStep(self.recipe, name, "failed", round(time.monotonic() - started, 1)))
            raise ImageBuildFailed(self.recipe, name, str(e)) from e
        self.update(BuildStep(self.recipe, name, "done", round(time.monotonic() - started, 1)))
