from __future__ import annotations

import pytest

from harness.scoring.classification import confused_pairs, label_metrics

LABELS = ("a", "b", "c")


def test_accuracy_and_macro_f1_by_hand():
    gold = ["a", "a", "b", "b", "c", "c"]
    pred = ["a", "b", "b", "b", None, "a"]
    m = label_metrics(LABELS, gold, pred, seed=0)
    assert m["accuracy"].value == pytest.approx(3 / 6)
    # a: tp1 fp1 fn1 -> 0.5; b: tp2 fp1 fn0 -> 0.8; c: never predicted, still counts -> 0.0
    assert m["macro_f1"].value == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["invalid_rate"].value == pytest.approx(1 / 6)
    assert m["invalid_rate"].higher_is_better is False
    assert m["invalid_rate"].ci_low <= 1 / 6 <= m["invalid_rate"].ci_high  # a bootstrap CI too


def test_bootstrap_ci_is_seeded_and_brackets_the_value():
    gold = ["a", "b", "c"] * 40
    pred = ["a", "b", "a"] * 40
    m1 = label_metrics(LABELS, gold, pred, seed=1)
    m2 = label_metrics(LABELS, gold, pred, seed=1)
    for name in ("accuracy", "macro_f1"):
        assert m1[name].ci_low <= m1[name].value <= m1[name].ci_high
        assert m1[name].ci_low < m1[name].ci_high
        assert (m1[name].ci_low, m1[name].ci_high) == (m2[name].ci_low, m2[name].ci_high)


def test_perfect_predictions_have_degenerate_ci():
    gold = ["a", "b", "c"] * 10
    m = label_metrics(LABELS, gold, list(gold), seed=0)
    assert (m["accuracy"].value, m["accuracy"].ci_low, m["accuracy"].ci_high) == (1.0, 1.0, 1.0)
    assert m["macro_f1"].value == 1.0


def test_empty_input_is_not_scored_not_nan():
    m = label_metrics(LABELS, [], [], seed=0)
    assert m["accuracy"].value is None and m["accuracy"].note


def test_confused_pairs_counts_valid_mistakes_only():
    pairs = confused_pairs(["a", "a", "a", "b"], ["b", "b", None, "a"])
    assert pairs[0] == {"gold": "a", "predicted": "b", "count": 2}
    assert pairs[1] == {"gold": "b", "predicted": "a", "count": 1}
    assert len(pairs) == 2
