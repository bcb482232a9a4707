from django import forms

from apps.compliance.models import Classification


class ClassificationForm(forms.ModelForm):
    class Meta:
        model = Classification
        fields = ["eu_category", "annex_iii_area", "role", "rationale"]
        widgets = {"rationale": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "eu_category": "High-risk brings the obligations of Arts. 9 to 17, 72 and 73 (provider) or Art. 26 "
                           "(deployer).",
            "annex_iii_area": "Credit scoring of natural persons is Annex III (5).",
            "role": "Provider: we build it or have it built and use it under our name. Deployer: we use someone "
                    "else's system.",
        }
