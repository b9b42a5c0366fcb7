"""`--bf16` warns on CPUs that emulate bf16, from the CPU flags, and stays quiet where it pays off."""

from __future__ import annotations

import warnings

import pytest

import precision


def _cpuinfo(tmp_path, flags: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu sse4_2 avx avx2 fma", False), ("avx2 avx512f avx512_bf16", True), ("avx2 amx_bf16 amx_tile", True)],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, expected):
    assert precision.cpu_has_native_bf16(_cpuinfo(tmp_path, flags)) is expected


def test_unreadable_or_flagless_cpuinfo_is_unknown(tmp_path):
    assert precision.cpu_has_native_bf16(tmp_path / "missing") is None
    (tmp_path / "noflags").write_text("processor\t: 0\n")
    assert precision.cpu_has_native_bf16(tmp_path / "noflags") is None


@pytest.mark.parametrize(("native", "bf16", "device", "warns"), [
    (False, True, "cpu", True),     # emulated bf16: warn
    (True, True, "cpu", False),     # native bf16
    (None, True, "cpu", False),     # unknown CPU: no false alarm
    (False, False, "cpu", False),   # fp32 asked for
    (False, True, "cuda", False),   # not a CPU run
])
def test_warning_only_where_bf16_is_emulated_on_the_cpu(monkeypatch, native, bf16, device, warns):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert precision.warn_if_slow_bf16(bf16, device, option="--bf16") is warns
    assert [str(w.message).startswith("--bf16: this CPU") for w in caught] == ([True] if warns else [])


@pytest.mark.parametrize(("native", "asked", "expected"), [
    (True, "auto", "bfloat16"),
    (False, "auto", "float32"),
    (None, "auto", "float32"),      # unknown CPU: the safe choice
    (False, "bfloat16", "bfloat16"),  # an explicit choice is kept
    (True, "float32", "float32"),
])
def test_auto_encoder_dtype_is_bf16_only_where_native(monkeypatch, native, asked, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.resolve_cpu_dtype(asked) == expected


def test_index_and_dbr_builders_resolve_auto_dtype(monkeypatch):
    import build_dbr
    import build_linking_index

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert build_linking_index.parse_args(["--output", "x"]).dtype == "float32"
    assert build_dbr.parse_args(["--corpora", "NCBI-disease", "--kb", "k", "--output-dir", "o"]).dtype == "float32"
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert build_linking_index.parse_args(["--output", "x"]).dtype == "bfloat16"
