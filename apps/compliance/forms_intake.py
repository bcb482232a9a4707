from django import forms
from django.contrib.auth import get_user_model

from apps.compliance.models import UseCase
from apps.compliance.services_intake import USE_CASE_FIELDS
from apps.inventory.models import BusinessProcess


class UseCaseForm(forms.ModelForm):
    """The proposal: what, for whom, who answers for it, the questionnaire and a short screening."""

    business_owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"), label="Business owner",
        help_text="The named person (often a manager) who would be accountable for the model's automated "
                  "decisions; they become the model's accountable owner.")
    business_process = forms.ModelChoiceField(
        queryset=BusinessProcess.objects.select_related("business_unit"), label="Business process",
        help_text="The business decision it would automate or support.")

    class Meta:
        model = UseCase
        fields = list(USE_CASE_FIELDS)
        widgets = {
            "purpose": forms.Textarea(attrs={"rows": 3}), "intended_use": forms.Textarea(attrs={"rows": 3}),
            "rationale": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"people_affected": "People affected (about)", "personal_data": "Uses personal data",
                  "screening_probability": "Screening: probability", "screening_impact": "Screening: impact"}
        help_texts = {
            "title": "A short name, e.g. 'Retail credit scoring'; the model registered from it takes it too.",
            "eu_category": "High-risk brings the obligations of Arts. 9 to 17, 72 and 73 (provider) or Art. 26 "
                           "(deployer); a prohibited practice (Art. 5) cannot be approved.",
            "annex_iii_area": "Credit scoring of natural persons is Annex III (5). Required for a high-risk use.",
            "role": "Provider: we build it or have it built and use it under our name. Deployer: we use someone "
                    "else's system.",
            "exposure": "Who would see or be affected by its output; use outside the organisation raises the tier.",
            "automation_level": "Whether a person decides, reviews, or the model decides alone (raises the tier).",
            "people_affected": "Personal data of more than the risk matrix's threshold of people raises the tier.",
            "screening_probability": "How likely is the worst credible failure of this use (a wrong decision, an "
                                     "outage, drift)? The full risk assessment rates each risk once a model exists.",
            "screening_impact": "How bad would that failure be for people, money or reputation?",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["business_process"].label_from_instance = lambda p: f"{p.business_unit} / {p.name}"

    def service_arguments(self) -> dict:
        return {name: self.cleaned_data[name] for name in USE_CASE_FIELDS}


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve: a model may be registered from it"),
                 ("decline", "Decline: no model may come from it")],
        widget=forms.RadioSelect, label="Decision",
        help_text="You may not decide a use case you proposed or own (four-eyes rule).")
    reason = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}), label="Reason",
        help_text="Required to decline: say what would change the decision. Kept in the audit trail.")


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}), label="Reason",
                             help_text="Why it is withdrawn, e.g. a duplicate or no longer needed; kept in the audit "
                                       "trail.")
