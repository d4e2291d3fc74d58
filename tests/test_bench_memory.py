"""benchmarks/bench_memory.py: the activation formula against counted saved tensors; the table's logic."""

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_memory.py"


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(str(SCRIPT))


def test_activation_formula_matches_the_saved_tensors_of_a_small_mr_blip(bench):
    for attn, result in bench["validate"]().items():
        for part in ("ln_vision", "qformer", "llm", "total"):
            predicted, measured = result[part]
            assert measured > 0
            assert predicted == pytest.approx(measured, rel=0.05), (attn, part)


def test_each_switch_lowers_the_estimate_and_the_table_prints(bench):
    arch, params, sw, estimate = bench["Arch"](), bench["Params"](), bench["Switches"], bench["estimate"]
    base = estimate(arch, params, sw(), 1).total
    for switch in (
        dict(frozen16=True),
        dict(ckpt_llm=True),
        dict(ckpt_qformer=True),
        dict(cache=True),
        dict(fsdp=4),
    ):
        assert estimate(arch, params, sw(**switch), 1).total < base, switch
    assert estimate(arch, params, sw(), 8).total > 4 * estimate(arch, params, sw(), 1).activations
    eager = estimate(bench["Arch"](attn="eager"), params, sw(), 1).activations
    assert eager > 1.5 * estimate(arch, params, sw(), 1).activations  # sdpa keeps no attention probabilities
    text = bench["table"](arch, params, bench["DEFAULT_ROWS"])
    assert "baseline" in text and "yes" in text and "no" in text
