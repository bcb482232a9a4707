"""The review state machine, as data (no Django imports).

    draft --submit--> submitted --start--> in_review
    submitted | in_review --approve (enough distinct approvals)--> approved
    submitted | in_review --request_changes--> changes_requested
    submitted | in_review --reject--> rejected
    draft | submitted | in_review --withdraw--> withdrawn
    approved --expire (reviewed content changed)--> expired
    approved --reopen (the current tier demands more approvals than it has)--> in_review

changes_requested, rejected, withdrawn and expired are final for the round: a
new round is a new review. approved is final too, unless the policy in force
rises above it (reopen), or the reviewed content changes (expire). ``approve`` below the required count keeps
the review in_review; the service decides which edge applies.
"""

DRAFT = "draft"
SUBMITTED = "submitted"
IN_REVIEW = "in_review"
APPROVED = "approved"
CHANGES_REQUESTED = "changes_requested"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
EXPIRED = "expired"

STATES = (DRAFT, SUBMITTED, IN_REVIEW, APPROVED, CHANGES_REQUESTED, REJECTED, WITHDRAWN, EXPIRED)
OPEN_STATES = (DRAFT, SUBMITTED, IN_REVIEW)
FINAL_STATES = (APPROVED, CHANGES_REQUESTED, REJECTED, WITHDRAWN, EXPIRED)

TRANSITIONS: dict[str, dict[str, str]] = {
    "submit": {DRAFT: SUBMITTED},
    "start": {SUBMITTED: IN_REVIEW},
    "approve": {SUBMITTED: APPROVED, IN_REVIEW: APPROVED},
    "request_changes": {SUBMITTED: CHANGES_REQUESTED, IN_REVIEW: CHANGES_REQUESTED},
    "reject": {SUBMITTED: REJECTED, IN_REVIEW: REJECTED},
    "withdraw": {DRAFT: WITHDRAWN, SUBMITTED: WITHDRAWN, IN_REVIEW: WITHDRAWN},
    "expire": {APPROVED: EXPIRED},
    "reopen": {APPROVED: IN_REVIEW},
}


class IllegalTransition(Exception):
    def __init__(self, action: str, state: str):
        allowed = [a.replace("_", " ") for a in allowed_actions(state)]
        options = f"; from here you can: {', '.join(allowed)}." if allowed else "; it is final."
        super().__init__(f"Cannot {action.replace('_', ' ')} a review that is {state.replace('_', ' ')}{options}")
        self.action, self.state = action, state


def target(action: str, state: str) -> str:
    """The state ``action`` leads to from ``state``, or IllegalTransition."""
    try:
        return TRANSITIONS[action][state]
    except KeyError:
        raise IllegalTransition(action, state) from None


def allowed_actions(state: str) -> list[str]:
    return [action for action, edges in TRANSITIONS.items() if state in edges]
