from django import forms
from django.contrib.auth import get_user_model

from apps.findings import rules
from apps.inventory.models import ModelVersion


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.get_username()})" if name else obj.get_username()


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def _people():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class FindingForm(forms.Form):
    """Raise or edit a finding. ``remediation_only``: the owner and the model's team change only the remediation."""

    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), help_text="What was found, and the "
                                  "evidence for it.")
    severity = forms.ChoiceField(choices=list(rules.SEVERITY_LABELS.items()),
                                 help_text="The tier's policy names the severity from which an open finding holds "
                                           "the production gate.")
    owner = PersonChoiceField(queryset=_people(), help_text="Who remediates it.")
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="When the fix is due.")
    remediation = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What is being done, or was done, to fix it.")

    def __init__(self, *args, remediation_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _people()
        if remediation_only:
            for name in list(self.fields):
                if name != "remediation":
                    del self.fields[name]


class FindingStatusForm(forms.Form):
    status = forms.ChoiceField(choices=list(rules.FINDING_STATUSES.items()), label="Move to")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Note",
                           help_text=f"To close: how the fix was checked (at least {rules.MIN_NOTE} characters). "
                                     "Someone other than the finding's owner closes it.")


class IncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    version = forms.ModelChoiceField(queryset=ModelVersion.objects.none(), required=False,
                                     help_text="The version that ran, when known.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What happened.")
    impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Who or what was harmed, and how "
                             "much.")
    occurred_at = forms.DateTimeField(widget=DateTimeLocalInput(), label="Happened at")
    aware_at = forms.DateTimeField(widget=DateTimeLocalInput(), label="We became aware at",
                                   help_text="A serious incident's reporting deadline counts from here.")
    serious_kind = forms.ChoiceField(choices=list(rules.SERIOUS_KINDS.items()), required=False,
                                     label="Serious incident (EU AI Act Art. 73)")
    reported_at = forms.DateTimeField(widget=DateTimeLocalInput(), required=False,
                                      label="Reported to the authority at")
    report_reference = forms.CharField(max_length=120, required=False, label="Authority's reference")
    root_cause = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    corrective_actions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, model, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].queryset = ModelVersion.objects.filter(model=model).order_by("-created_at")
        self.fields["version"].label_from_instance = lambda v: v.version


class IncidentEntryForm(forms.Form):
    at = forms.DateTimeField(widget=DateTimeLocalInput(), label="When")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), label="What was seen, decided or done")


class IncidentStatusForm(forms.Form):
    status = forms.ChoiceField(choices=list(rules.INCIDENT_STATUSES.items()), label="Move to")
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=f"To close: why it can be closed (at least {rules.MIN_NOTE} characters).")
