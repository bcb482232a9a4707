import pytest

from apps.reviews import transitions as t


@pytest.mark.parametrize(("action", "state", "expected"), [
    ("submit", t.DRAFT, t.SUBMITTED), ("start", t.SUBMITTED, t.IN_REVIEW), ("approve", t.IN_REVIEW, t.APPROVED),
    ("reject", t.SUBMITTED, t.REJECTED), ("withdraw", t.DRAFT, t.WITHDRAWN), ("expire", t.APPROVED, t.EXPIRED),
    ("reopen", t.APPROVED, t.IN_REVIEW),
])
def test_legal_transitions(action, state, expected):
    assert t.target(action, state) == expected


@pytest.mark.parametrize("final", t.FINAL_STATES)
def test_final_states_only_allow_expiry_or_reopening_of_approvals(final):
    assert t.allowed_actions(final) == (["expire", "reopen"] if final == t.APPROVED else [])


def test_an_illegal_transition_says_what_is_possible():
    expected = "Cannot approve a review that is draft; from here you can: submit, withdraw"
    with pytest.raises(t.IllegalTransition, match=expected):
        t.target("approve", t.DRAFT)
