from django import forms

from apps.compliance.models import Classification, DocumentKind
from apps.reviews.models import Review


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


class DocumentGenerateForm(forms.Form):
    kind = forms.ChoiceField(label="Document", choices=DocumentKind.choices,
                             help_text="Both are built from the version's records as they stand now.")


class DocumentAttachForm(forms.Form):
    """Which open review round of the document's version to attach it to."""

    review = forms.ModelChoiceField(queryset=Review.objects.none(), label="Review round",
                                    empty_label=None, help_text="Only open rounds of this version take new evidence.")

    def __init__(self, *args, reviews=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["review"].queryset = reviews if reviews is not None else Review.objects.none()
        self.fields["review"].label_from_instance = lambda r: f"Round {r.round} ({r.get_state_display().lower()})"
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
