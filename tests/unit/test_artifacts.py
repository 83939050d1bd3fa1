"""Every file `up` makes for the demo honeynet, rendered before anything is created: one golden
folder for the whole honeynet (tests/data/golden/honeynet-demo/), what `plan --render` writes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from typer.testing import CliRunner

from tests.conftest import GOLDEN, REPO
from tests.unit.test_render import demo, fake_image, virt_xml_validate
from vhoneynet import cli
from vhoneynet.artifacts import INITRD, Artifacts, render_all
from vhoneynet.plan import plan

GOLDEN_FOLDER = "honeynet-demo"


def demo_artifacts() -> Artifacts:
    topo = demo()
    p = plan(topo)
    return render_all(topo, p, {g.name: fake_image(g.image) for g in p.guests}, "tcg")


def test_the_whole_demo_honeynet_matches_its_golden_folder(golden):
    texts = demo_artifacts().texts()
    for relative, text in sorted(texts.items()):
        golden(f"{GOLDEN_FOLDER}/{relative}", text)
    kept = {str(f.relative_to(GOLDEN / GOLDEN_FOLDER)) for f in (GOLDEN / GOLDEN_FOLDER).rglob("*") if f.is_file()}
    assert kept == set(texts), "a file `up` makes appeared or went away"


@pytest.mark.parametrize("guest", ["gateway", "dns", "web"])
def test_each_rendered_domain_is_valid_libvirt_xml(guest, tmp_path):
    virt_xml_validate(tmp_path, demo_artifacts().guest(guest).domain_xml, "domain")


def test_a_honeypot_booted_by_our_kernel_carries_its_seed_in_its_initrd():
    made = demo_artifacts().guest("dns")
    assert made.medium.kind == INITRD and set(made.medium.files) == {"meta-data", "user-data", "network-config"}
    assert f'initrd>{made.medium.path}<' in made.domain_xml.replace("<initrd>", "initrd>").replace("</initrd>", "<")


def test_a_file_name_that_leaves_the_folder_is_refused(tmp_path):
    made = demo_artifacts()
    dns = made.guest("dns")
    hostile = replace(dns, medium=replace(dns.medium, files={"../../../outside.txt": "x"}))
    with pytest.raises(ValueError, match="outside"):
        Artifacts(made.pool_xml, made.host_rules, (hostile,)).write(tmp_path / "render")
    assert not (tmp_path / "outside.txt").exists()


def test_plan_render_writes_the_files_and_needs_built_images(tmp_path, monkeypatch):
    class Built:
        def get(self, name):
            return fake_image(name)

    class NotBuilt:
        def get(self, name):
            return None

    monkeypatch.setattr("vhoneynet.cli.base.backends", lambda uri: type("B", (), {"images": Built()})())
    r = CliRunner().invoke(cli.app, ["plan", str(REPO / "topologies" / "demo.yml"), "--render", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "gateway" / "config-disk" / "ruleset.nft").is_file()
    assert (tmp_path / "r" / "web" / "domain.xml").read_text() == demo_artifacts().guest("web").domain_xml

    monkeypatch.setattr("vhoneynet.cli.base.backends", lambda uri: type("B", (), {"images": NotBuilt()})())
    r = CliRunner().invoke(cli.app, ["plan", str(REPO / "topologies" / "demo.yml"), "--render", str(tmp_path / "s"),
                                     "--json"])
    assert r.exit_code == 4 and "not built yet" in r.output, r.output
