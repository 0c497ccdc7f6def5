"""Ablation tables: one row per variant and seed, summarised per variant in the order given."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ssvlib.ablation import RANDOM_INIT, AblationRow, format_ablation, parse_seeds, summarize


def rows() -> list[AblationRow]:
    out = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        out.append(AblationRow(RANDOM_INIT, seed, None, None, 0.30 + shift, 0.20))
        out.append(AblationRow("ours", seed, 0.80 + shift, 0.5, 0.50 + shift, 0.40))
        out.append(AblationRow("easy", seed, 0.90, 0.5, 0.35, 0.30 + shift))
    return out


def test_summary_gives_mean_and_spread_per_variant_in_order():
    summary = summarize(rows())
    assert [s["variant"] for s in summary] == [RANDOM_INIT, "ours", "easy"]
    ours = summary[1]
    assert ours["seeds"] == [0, 1]
    assert ours["pretext_val_acc"] == pytest.approx((0.85, 0.05))
    assert ours["linear_probe_acc"] == pytest.approx((0.55, 0.05))
    assert summary[0]["pretext_val_acc"] is None  # random init has no pretext


def test_table_prints_percentages_and_the_seeds():
    table = format_ablation(rows())
    assert "85.0 ± 5.0" in table and "55.0 ± 5.0" in table
    assert "seeds [0, 1]" in table
    assert table.splitlines()[2].startswith(RANDOM_INIT)


@pytest.mark.parametrize(
    "value, seeds",
    [((0, 1, 2), (0, 1, 2)), ([3], (3,)), (4, (4,)), ("0,1,2", (0, 1, 2)), ("[0, 1]", (0, 1)),
     ((), ()), ("", ())],
)  # fmt: skip
def test_seeds_come_from_lists_ints_and_papermill_strings(value, seeds):
    assert parse_seeds(value) == seeds


@pytest.mark.parametrize("value", ["zero", [0.5], [-1], True, {"a": 1}])
def test_bad_seeds_are_refused_with_an_example(value):
    with pytest.raises(ValueError, match="ablation_seeds"):
        parse_seeds(value)


def test_each_baseline_and_variant_gets_an_encoder_for_its_own_input(monkeypatch):
    import ssvlib.ablation as ablation
    from ssvlib.papers import o3n
    from ssvlib.train import Run

    seen = []

    def fake_pretrain(model, recipe, videos, run):
        assert run.seed == 0 and run.device.type == "cpu"
        return SimpleNamespace(best={"val_acc": 0.5})

    def fake_eval(encoder, *args, **kwargs):
        seen.append(encoder.net.in_channels)
        return {"linear_probe_acc": 0.4, "retrieval_topk": {1: 0.3}}

    monkeypatch.setattr(ablation, "pretrain", fake_pretrain)
    monkeypatch.setattr(ablation, "frozen_eval", fake_eval)
    recipe = o3n.PRESETS["cpu"]
    videos = SimpleNamespace(fit=[], val=[], train=[], test=[])
    found = ablation.run_ablation(
        o3n.build_model, o3n.ablations(recipe, epochs=1), videos, "small2d", [0],
        Run(seed=7, device="cpu"), o3n.baselines(recipe),
    )  # fmt: skip
    assert [r.variant for r in found[:3]] == list(o3n.baselines(recipe))
    assert all(r.pretext_val_acc is None for r in found[:3])
    assert seen == [18, 18, 3] + [18, 18, 18, 18, 3]  # frames, differences, dynamic image
