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


class FindingControlsForm(forms.Form):
    controls = forms.ModelMultipleChoiceField(queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
                                              help_text="The controls of the frameworks in force this finding "
                                                        "concerns; leave all unticked to link none.")

    def __init__(self, *args, queryset, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["controls"]
        field.queryset = queryset
        field.label_from_instance = lambda c: f"{c.framework_version.framework.name} {c.code}: {c.title}"

    def clean_controls(self):
        controls = self.cleaned_data["controls"]
        # Unticking every control unlinks them all; with none linked yet, an empty form would save nothing.
        if not controls and not self.initial.get("controls"):
            raise forms.ValidationError("Tick at least one control this finding concerns.")
        return controls
