"""What `host check` says about memory merging, and what a saved guest state depends on."""

from __future__ import annotations

from vhoneynet import hostcheck


def test_memory_merging_is_reported_on_off_or_absent(tmp_path):
    run = tmp_path / "run"
    assert hostcheck._memory_merging(run).detail == "KSM absent from this kernel"
    run.write_text("0\n")
    off = hostcheck._memory_merging(run)
    assert off.ok and off.detail.startswith("KSM off")
    run.write_text("1\n")
    assert hostcheck._memory_merging(run).detail == "KSM on"


def test_a_state_depends_on_the_cpu_model_only_under_kvm(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: fpu\n")
    assert "Some CPU" in hostcheck.host_identity("kvm", cpuinfo)
    assert "Some CPU" not in hostcheck.host_identity("tcg", cpuinfo)
    assert hostcheck.host_identity("tcg", cpuinfo) != hostcheck.host_identity("kvm", cpuinfo)
