from datetime import timedelta

from django import forms
from django.utils import timezone

from apps.governance.services import MAX_ACCEPTANCE_DAYS


class RiskAcceptanceForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), min_length=20, max_length=4000,
        help_text="Why the model may keep running despite the breach, and what is being done about it (audited).")
    expires_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"The last day the acceptance holds (at most {MAX_ACCEPTANCE_DAYS} days). After it, the approval "
                  "is suspended again unless the version was re-approved.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].initial = timezone.localdate() + timedelta(days=30)
