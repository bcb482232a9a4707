"""A red-flag row reads as one business sentence, worst first; the engineers' words stay behind a disclosure."""

import pytest
from django.urls import reverse

from apps.governance.figures import KINDS
from apps.portfolio import redflags, wording
from tests.portfolio.helpers import breach, production_model


def test_every_kind_of_flag_has_a_plain_phrase_without_metric_keys():
    for kind in KINDS:
        assert kind.code in wording.PHRASES, f"{kind.code} falls back to its label: give it a business phrase"
        text = wording.phrase({"kind": kind.code, "label": kind.label})
        assert text[0].islower(), (kind.code, text)  # it continues a sentence
        assert "_" not in text and "." not in text, (kind.code, text)


def test_breached_metrics_are_counted_by_what_they_mean_to_the_business():
    metrics = ["drift.x1.psi", "drift.x2.psi", "drift.x2.ks", "drift.x3.psi", "drift.x4.psi", "overall.roc_auc",
               "fairness.sex.demographic_parity_ratio"]

    assert wording.breach_phrase(metrics) == (
        "4 input features have drifted far from training; 1 performance measure is past its limit; "
        "1 fairness measure is past its limit: it may treat groups unequally")
    assert wording.breach_phrase(["drift.age.psi"]) == "1 input feature has drifted far from training"
    assert wording.breach_phrase([]) == wording.PHRASES["breach"]
    # The model's outputs drifting is neither an input feature nor a performance measure.
    assert wording.breach_phrase(["prediction_drift.score.psi", "prediction_drift.prediction.psi"]) == (
        "its scores and decisions have shifted from what it gave on its reference data")


def test_a_model_s_flags_make_one_sentence_worst_first_with_repeats_left_out():
    flags = [{"kind": "breach", "metrics": ["drift.x1.psi", "drift.x2.psi"]},
             {"kind": "unapproved", "codes": ["approval_void"]},
             {"kind": "env_mismatch", "n": 2},
             {"kind": "owner_left"}, {"kind": "owner_left"}]

    assert wording.sentence(flags) == (
        "2 input features have drifted far from training; its approval no longer holds because the model changed "
        "since; 2 of its deployments run on software other than the one it was validated on; the person "
        "accountable for it has left.")
    assert wording.sentence([]) == ""


def test_an_unapproved_flag_says_which_approval_is_wanting():
    assert wording.phrase({"kind": "unapproved", "codes": ["approval_missing"]}) == (
        "it runs in production without an approval")
    assert wording.phrase({"kind": "unapproved", "codes": ["approval_insufficient"]}) == (
        "its approval falls short of what its risk requires")
    # A flag stored before its reason codes were kept reads in its kind's general words.
    assert wording.phrase({"kind": "unapproved"}) == wording.PHRASES["unapproved"]


@pytest.mark.django_db
def test_the_dashboard_row_names_the_drifted_features_and_hides_the_psi_behind_the_details(client_as):
    model = production_model(name="AML transaction monitoring", tier="critical")
    version = model.versions.get()
    for feature in ("x1", "x2", "x3", "x4"):
        breach(version, metric=f"drift.{feature}.psi", message=f"PSI of {feature} is 0.2921.")

    response = client_as("executive").get(reverse("portfolio:dashboard"))

    row = next(f for f in response.context["red_flags"] if f.model == "AML transaction monitoring")
    # A critical tier suspends the approval on a breach: worst first.
    assert row.sentence == ("Its approval is suspended after a monitoring breach; "
                            "4 input features have drifted far from training.")
    page = response.content.decode()
    sentence_at = page.index(row.sentence)
    details_at = page.index('<details class="flag-detail">', sentence_at)
    assert sentence_at < details_at < page.index("Metric in breach", details_at)
    assert redflags.top()[0].model == "AML transaction monitoring"
