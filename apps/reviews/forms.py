"""Forms of the review pages. They only validate input; every change goes through ``apps.reviews.services``."""

from django import forms
from django.contrib.auth import get_user_model

from apps.reviews.models import OWNER_ACKNOWLEDGED, ChecklistAnswer, ChecklistVerdict, ReviewDecision

MAX_EVIDENCE_BYTES = 25 * 1024 * 1024
ANSWER_CHOICES = [(value, label) for value, label in ChecklistAnswer.Answer.choices]
# Which form field holds each value the answer service takes.
ANSWER_PARTS = {"answer": "answer", "evidence": "evidence", "evidence_link": "link", "evidence_file": "file"}


class AnswersForm(forms.Form):
    """Every checklist item of a draft review in one form: answer, evidence text, link and file per item."""

    def __init__(self, *args, answers, **kwargs):
        super().__init__(*args, **kwargs)
        # The owner answers "owner acknowledged" by acknowledging; rounds opened before that rule still hold a row.
        self.answers = [row for row in answers if row.item.key != OWNER_ACKNOWLEDGED]
        self.links: dict = {}  # checklist item key -> the evidence the portal holds for it (set by the page)
        for row in self.answers:
            n = row.item_id
            self.fields[f"answer_{n}"] = forms.ChoiceField(
                choices=ANSWER_CHOICES, required=False, widget=forms.RadioSelect, label=row.item.text,
                initial=row.answer, help_text=row.item.guidance)
            self.fields[f"evidence_{n}"] = forms.CharField(
                required=False, initial=row.evidence, label="Evidence",
                widget=forms.Textarea(attrs={"rows": 2}), help_text="What shows the answer is true.")
            self.fields[f"link_{n}"] = forms.URLField(
                required=False, initial=row.evidence_link, max_length=500, label="Link",
                assume_scheme="https", help_text="A report, notebook or dashboard (optional).")
            self.fields[f"file_{n}"] = forms.FileField(
                required=False, label="File", help_text="A PDF, notebook or export, up to 25 MB; it is hashed "
                                                        "into what reviewers sign off.")

    def clean(self):
        cleaned = super().clean()
        for row in self.answers:
            upload = cleaned.get(f"file_{row.item_id}")
            if upload and upload.size > MAX_EVIDENCE_BYTES:
                self.add_error(f"file_{row.item_id}", "The file is larger than 25 MB; link to it instead.")
        return cleaned

    def rows(self) -> list[dict]:
        """Bound fields per item, grouped by checklist, for the template."""
        groups: dict[str, dict] = {}
        for row in self.answers:
            group = groups.setdefault(row.item.checklist, {"checklist": row.item.get_checklist_display(),
                                                            "items": []})
            group["items"].append({"row": row, "links": self.links.get(row.item.key, []),
                                   **{part: self[f"{name}_{row.item_id}"]
                                                  for part, name in ANSWER_PARTS.items()}})
        return list(groups.values())

    def changed_items(self) -> list[dict]:
        """Service arguments for each item whose answer, evidence, link or file changed."""
        data = self.cleaned_data
        changed = []
        for row in self.answers:
            values = {part: data.get(f"{name}_{row.item_id}") or ("" if part != "evidence_file" else None)
                      for part, name in ANSWER_PARTS.items()}
            stored = {"answer": row.answer, "evidence": row.evidence, "evidence_link": row.evidence_link}
            if values["evidence_file"] is not None or any(values[k] != v for k, v in stored.items()):
                changed.append({"item_id": row.item_id, **values})
        return changed

    def field_for(self, item_id: int | None, service_field: str | None) -> str | None:
        """The form field a service error names, so the message shows beside it."""
        name = ANSWER_PARTS.get(service_field or "")
        return f"{name}_{item_id}" if name and item_id is not None else None


VERDICT_CHOICES = [("", "Not judged"), *ChecklistVerdict.Verdict.choices]


class DecisionForm(forms.Form):
    """The decision, and per checklist item whether the reviewer confirms or disputes its evidence, and why."""

    decision = forms.ChoiceField(choices=ReviewDecision.Decision.choices, widget=forms.RadioSelect,
                                 help_text="Approvals count per distinct reviewer; one request for changes or "
                                           "one rejection ends the round.")
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="Required to request changes or reject: say what must change.")
    seen_hash = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.items = list(items)
        for item in self.items:
            self.fields[f"verdict_{item.pk}"] = forms.ChoiceField(
                choices=VERDICT_CHOICES, required=False, widget=forms.RadioSelect,
                label=f"Your verdict on “{item.text}”")
            self.fields[f"reason_{item.pk}"] = forms.CharField(
                required=False, label="Why", widget=forms.Textarea(attrs={"rows": 1}),
                help_text="Required when you dispute the item.")

    def clean(self):
        cleaned = super().clean()
        for item in self.items:
            if cleaned.get(f"verdict_{item.pk}") == ChecklistVerdict.Verdict.DISPUTE and not (
                    cleaned.get(f"reason_{item.pk}") or "").strip():
                self.add_error(f"reason_{item.pk}", "Say why you dispute this item.")
        return cleaned

    def verdict_fields(self) -> dict[int, dict]:
        """The bound verdict and reason fields per item id, for the checklist table."""
        return {item.pk: {"verdict": self[f"verdict_{item.pk}"], "reason": self[f"reason_{item.pk}"]}
                for item in self.items}

    def verdicts(self) -> dict[int, tuple[str, str]]:
        """What ``review_decide`` takes: the items judged, with the reason."""
        data = self.cleaned_data
        return {item.pk: (data[f"verdict_{item.pk}"], data.get(f"reason_{item.pk}") or "")
                for item in self.items if data.get(f"verdict_{item.pk}")}


class AssignForm(forms.Form):
    reviewer = forms.ModelChoiceField(queryset=get_user_model().objects.none(), to_field_name="username",
                                      help_text="Only reviewers with no part in this version are listed.")

    def __init__(self, *args, reviewers=None, **kwargs):
        super().__init__(*args, **kwargs)
        if reviewers is not None:
            self.fields["reviewer"].queryset = reviewers
        else:
            self.fields["reviewer"].queryset = get_user_model().objects.filter(is_active=True)


class AcknowledgeForm(forms.Form):
    confirm = forms.BooleanField(
        label="I acknowledge responsibility for this model version's automated decisions",
        help_text="Recorded with your name and the time in the review and the audit trail.")


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Why the round stops, e.g. “new training data”. Recorded in the audit trail.")
