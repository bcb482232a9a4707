"""Champion versus challenger: McNemar by hand, AUC against scikit-learn, the paired bootstrap interval."""

import math

import numpy as np
import pytest
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from apps.monitoring import compare as c


def _table(both: int, champion_only: int, challenger_only: int, neither: int):
    """Rows with the given 2 x 2 table of (champion right?, challenger right?); every true label is 1."""
    champion = [1] * both + [1] * champion_only + [0] * challenger_only + [0] * neither
    challenger = [1] * both + [0] * champion_only + [1] * challenger_only + [0] * neither
    return np.ones(len(champion), dtype=int), np.array(champion), np.array(challenger)


def _synthetic(n: int, rng, champion_shift=1.0, challenger_shift=1.3):
    """Binormal scores (squashed into [0, 1], which keeps AUC) of two correlated models."""
    y = rng.integers(0, 2, n)
    noise = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=n)
    champion = 1 / (1 + np.exp(-(champion_shift * y + noise[:, 0])))
    challenger = 1 / (1 + np.exp(-(challenger_shift * y + noise[:, 1])))
    return y, champion, challenger


def test_it_uses_the_exact_binomial_test_below_25_discordant_rows():
    y, champion, challenger = _table(both=50, champion_only=10, challenger_only=3, neither=7)
    result = c.compare(y, champion, challenger)
    # P(X <= 3) for X ~ Bin(13, 1/2) is (1 + 13 + 78 + 286) / 2^13; two-sided doubles it.
    assert result["mcnemar"]["method"] == "exact binomial"
    assert result["mcnemar"]["statistic"] == 3
    assert result["mcnemar"]["p_value"] == pytest.approx(2 * 378 / 8192)
    assert (result["mcnemar"]["champion_only"], result["mcnemar"]["challenger_only"]) == (10, 3)


def test_it_uses_chi_square_with_continuity_correction_from_25_discordant_rows():
    y, champion, challenger = _table(both=100, champion_only=12, challenger_only=30, neither=8)
    result = c.compare(y, champion, challenger)
    statistic = (abs(12 - 30) - 1) ** 2 / 42
    assert result["mcnemar"]["method"] == "chi-square with continuity correction"
    assert result["mcnemar"]["statistic"] == pytest.approx(statistic)
    # The chi-square survival function with one degree of freedom is erfc(sqrt(x / 2)).
    assert result["mcnemar"]["p_value"] == pytest.approx(math.erfc(math.sqrt(statistic / 2)))
    assert result["accuracy"]["difference"] == pytest.approx((130 - 112) / 150)
    assert result["verdict"] == c.BETTER


def test_it_gives_p_one_when_the_models_agree_on_every_row():
    y, champion, challenger = _table(both=40, champion_only=0, challenger_only=0, neither=10)
    result = c.compare(y, champion, challenger)
    assert result["mcnemar"]["p_value"] == 1.0
    assert result["verdict"] == c.SAME


def test_its_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) * 0.6 + 0.4 * y, 1)  # few distinct values: many ties
    assert c.roc_auc(y, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_its_comparison_reports_each_auc_as_scikit_learn_does():
    y, champion, challenger = _synthetic(800, np.random.default_rng(1))
    result = c.compare(y, (champion > 0.5).astype(int), (challenger > 0.5).astype(int), champion, challenger,
                       n_boot=200)
    assert result["roc_auc"]["champion"] == pytest.approx(roc_auc_score(y, champion), abs=1e-12)
    assert result["roc_auc"]["challenger"] == pytest.approx(roc_auc_score(y, challenger), abs=1e-12)
    assert result["roc_auc"]["difference"] == pytest.approx(
        roc_auc_score(y, challenger) - roc_auc_score(y, champion), abs=1e-12)


def test_its_bootstrap_interval_covers_the_true_difference_about_95_percent_of_the_time():
    # Binormal AUC is Phi(shift / sqrt(2)) whatever the correlation between the two models.
    truth = ndtr(1.3 / math.sqrt(2)) - ndtr(1.0 / math.sqrt(2))
    rng = np.random.default_rng(2024)
    covered = 0
    for trial in range(40):
        y, champion, challenger = _synthetic(600, rng)
        interval = c.bootstrap_auc_difference(y, champion, challenger, n_boot=400, seed=trial)["ci"]
        covered += interval[0] <= truth <= interval[1]
    assert covered >= 34  # 38 expected; 34 of 40 is far below only if the interval is wrong


def test_its_bootstrap_is_deterministic_for_a_seed():
    y, champion, challenger = _synthetic(700, np.random.default_rng(5))
    first = c.bootstrap_auc_difference(y, champion, challenger, n_boot=300, seed=11)
    again = c.bootstrap_auc_difference(y, champion, challenger, n_boot=300, seed=11)
    other = c.bootstrap_auc_difference(y, champion, challenger, n_boot=300, seed=12)
    assert first == again
    assert first["ci"] != other["ci"]


def test_its_bootstrap_draws_the_same_rows_for_both_models():
    # Identical scores: every paired resample gives a difference of exactly 0.
    y, champion, _ = _synthetic(300, np.random.default_rng(8))
    assert c.bootstrap_auc_difference(y, champion, champion, n_boot=100)["ci"] == [0.0, 0.0]


def test_it_batches_large_bootstraps_without_changing_the_result(monkeypatch):
    y, champion, challenger = _synthetic(500, np.random.default_rng(9))
    whole = c.bootstrap_auc_difference(y, champion, challenger, n_boot=50, seed=4)
    monkeypatch.setattr(c, "BATCH_CELLS", 500 * 7)
    assert c.bootstrap_auc_difference(y, champion, challenger, n_boot=50, seed=4) == whole


def test_it_calls_a_clearly_better_challenger_better_and_the_reverse_worse():
    y, champion, challenger = _synthetic(3000, np.random.default_rng(6), champion_shift=0.8, challenger_shift=2.0)
    champion_pred, challenger_pred = (champion > 0.6).astype(int), (challenger > 0.6).astype(int)
    better = c.compare(y, champion_pred, challenger_pred, champion, challenger, n_boot=300)
    worse = c.compare(y, challenger_pred, champion_pred, challenger, champion, n_boot=300)
    assert better["verdict"] == c.BETTER and better["roc_auc"]["ci"][0] > 0
    assert worse["verdict"] == c.WORSE and worse["roc_auc"]["ci"][1] < 0


def test_it_reports_the_demographic_parity_difference_of_each_model():
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    champion = np.array([1, 1, 1, 0, 0, 0, 0, 0])   # group a selects 3/4, group b 0/4
    challenger = np.array([1, 0, 1, 0, 1, 0, 1, 0])  # both groups 2/4
    sex = np.array(["a"] * 4 + ["b"] * 4)
    parity = c.compare(y, champion, challenger, sensitive={"sex": sex})["parity"]["sex"]
    assert parity["champion"] == pytest.approx(0.75)
    assert parity["challenger"] == pytest.approx(0.0)
    assert parity["difference"] == pytest.approx(-0.75)
    assert parity["selection_rates"]["a"] == {"champion": 0.75, "challenger": 0.5}


def test_it_leaves_auc_out_without_both_scores():
    y, champion, challenger = _table(both=5, champion_only=1, challenger_only=1, neither=1)
    assert c.compare(y, champion, challenger, champion_score=np.linspace(0, 1, 8))["roc_auc"] is None


def test_it_refuses_predictions_of_another_length_or_non_binary_labels():
    with pytest.raises(ValueError, match="challenger_pred has 2 values"):
        c.compare([1, 0, 1], [1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="only 0 and 1"):
        c.compare([1, 0, 2], [1, 0, 1], [1, 0, 1])
