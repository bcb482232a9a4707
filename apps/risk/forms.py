from django import forms
from django.contrib.auth import get_user_model

from apps.inventory.models import AutomationLevel, Exposure
from apps.risk.models import GovernancePolicy, Mitigation, MonitoringCadence, RiskAssessment, Tier
from apps.risk.policy_schema import CHECKLISTS, FIELDS, METRICS
from apps.risk.scoring import IMPACT_LEVELS, PROBABILITY_LEVELS, REGULATED_DOMAINS, RISKS, TIERS

MITIGATION_ROWS = 2
PROBABILITY_CHOICES = [("", "Not rated")] + [(n, f"{n} · {label}") for n, (label, _) in PROBABILITY_LEVELS.items()]
IMPACT_CHOICES = [("", "Not rated")] + [(n, f"{n} · {label}") for n, (label, _) in IMPACT_LEVELS.items()]


class PersonChoiceField(forms.ModelChoiceField):
    """A person by name, with the username to tell two of the same name apart."""

    def label_from_instance(self, obj) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.get_username()})" if name else obj.get_username()


class AssessmentForm(forms.Form):
    """Context questions plus, for each of the four risks, probability, impact, rationale and mitigations."""

    based_on = forms.IntegerField(required=False, widget=forms.HiddenInput)
    exposure = forms.ChoiceField(choices=Exposure.choices, help_text="Use outside the organisation raises the tier.")
    automation_level = forms.ChoiceField(choices=AutomationLevel.choices,
                                         help_text="Fully automated decisions raise the tier.")
    personal_data = forms.BooleanField(required=False, label="Uses personal data")
    people_affected = forms.IntegerField(min_value=0, initial=0, label="People affected per year",
                                         help_text="With personal data, above the matrix threshold raises the tier.")
    regulated_domain = forms.ChoiceField(choices=list(REGULATED_DOMAINS.items()),
                                         help_text="A regulated domain sets a floor on the tier (default: high).")
    eu_ai_act_category = forms.ChoiceField(
        choices=[("", "Not classified")] + RiskAssessment._meta.get_field("eu_ai_act_category").choices,
        required=False, label="EU AI Act category", help_text="Optional; recorded beside the tier.")
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Overall rationale")

    def __init__(self, *args, users=None, **kwargs):
        super().__init__(*args, **kwargs)
        owners = users if users is not None else get_user_model().objects.filter(is_active=True).order_by(
            "first_name", "last_name", "username")
        for key, (label, description) in RISKS.items():
            self.fields[f"{key}_probability"] = forms.TypedChoiceField(
                choices=PROBABILITY_CHOICES, coerce=int, empty_value=None, required=False,
                label=f"{label}: probability", help_text=description)
            self.fields[f"{key}_impact"] = forms.TypedChoiceField(
                choices=IMPACT_CHOICES, coerce=int, empty_value=None, required=False, label=f"{label}: impact")
            self.fields[f"{key}_rationale"] = forms.CharField(
                required=False, widget=forms.Textarea(attrs={"rows": 2}), label=f"{label}: rationale")
            for n in range(MITIGATION_ROWS):
                prefix = f"{key}_mitigation{n}"
                self.fields[f"{prefix}_action"] = forms.CharField(required=False, max_length=300, label="Mitigation")
                self.fields[f"{prefix}_owner"] = PersonChoiceField(
                    queryset=owners, required=False, to_field_name="username", label="Owner")
                self.fields[f"{prefix}_due"] = forms.DateField(
                    required=False, label="Due", widget=forms.DateInput(attrs={"type": "date"}))
                self.fields[f"{prefix}_status"] = forms.ChoiceField(
                    choices=Mitigation.Status.choices, initial=Mitigation.Status.OPEN, label="Status")

    def risk_rows(self):
        """Bound fields grouped per risk, for the template."""
        for key, (label, description) in RISKS.items():
            yield {
                "key": key, "label": label, "description": description,
                "probability": self[f"{key}_probability"], "impact": self[f"{key}_impact"],
                "rationale": self[f"{key}_rationale"],
                "mitigations": [
                    {part: self[f"{key}_mitigation{n}_{part}"] for part in ("action", "owner", "due", "status")}
                    for n in range(MITIGATION_ROWS)
                ],
            }

    def clean(self):
        cleaned = super().clean()
        for key, (label, _) in RISKS.items():
            for n in range(MITIGATION_ROWS):
                prefix = f"{key}_mitigation{n}"
                orphan = cleaned.get(f"{prefix}_owner") or cleaned.get(f"{prefix}_due")
                if orphan and not cleaned.get(f"{prefix}_action"):
                    self.add_error(f"{prefix}_action", f"{label}: describe the mitigation or clear its owner and date.")
        return cleaned

    def ratings(self) -> dict:
        data = self.cleaned_data
        result = {}
        for key in RISKS:
            result[key] = {
                "probability": data.get(f"{key}_probability"), "impact": data.get(f"{key}_impact"),
                "rationale": data.get(f"{key}_rationale", ""),
                "mitigations": [
                    {"action": data.get(f"{key}_mitigation{n}_action"), "owner": data.get(f"{key}_mitigation{n}_owner"),
                     "due_date": data.get(f"{key}_mitigation{n}_due"),
                     "status": data.get(f"{key}_mitigation{n}_status")}
                    for n in range(MITIGATION_ROWS)
                ],
            }
        return result

    def context_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in (
            "exposure", "automation_level", "personal_data", "people_affected", "regulated_domain",
            "eu_ai_act_category", "summary")}

    @staticmethod
    def initial_from(assessment: RiskAssessment | None, model) -> dict:
        """Start from the model's facts, or from an earlier assessment or draft when there is one."""
        if assessment is None:
            return {"exposure": model.exposure, "automation_level": model.automation_level}
        initial = {name: getattr(assessment, name) for name in (
            "exposure", "automation_level", "personal_data", "people_affected", "regulated_domain",
            "eu_ai_act_category", "summary")}
        for rating in assessment.ratings.all():
            initial[f"{rating.risk}_probability"] = rating.probability
            initial[f"{rating.risk}_impact"] = rating.impact
            initial[f"{rating.risk}_rationale"] = rating.rationale
            for n, mitigation in enumerate(list(rating.mitigations.all())[:MITIGATION_ROWS]):
                prefix = f"{rating.risk}_mitigation{n}"
                initial.update({f"{prefix}_action": mitigation.action,
                                f"{prefix}_owner": mitigation.owner.username if mitigation.owner else None,
                                f"{prefix}_due": mitigation.due_date, f"{prefix}_status": mitigation.status})
        return initial


class PolicyForm(forms.ModelForm):
    """The model's ``clean()`` applies the policy schema, so each field shows its own problems."""

    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the policy changes (audited).")
    checklists = forms.MultipleChoiceField(choices=list(CHECKLISTS.items()), widget=forms.CheckboxSelectMultiple,
                                           required=False, help_text="At least one.")
    monitoring_cadence = forms.ChoiceField(choices=MonitoringCadence.choices)
    metric_thresholds = forms.JSONField(
        help_text='JSON object, e.g. {"accuracy_min": 0.8, "psi_max": 0.2, "demographic_parity_difference_max": 0.1}'
                  f"; metrics: {', '.join(sorted(METRICS))}.")

    finding_blocks_from = forms.ChoiceField(
        choices=Tier.choices, required=False, label="An open finding holds the gate from severity",
        help_text="The least severe open validation finding that holds the production gate; left empty, the tier "
                  "keeps its current value.")

    class Meta:
        model = GovernancePolicy
        fields = list(FIELDS)

    def clean_finding_blocks_from(self):
        return self.cleaned_data.get("finding_blocks_from") or self.instance.finding_blocks_from


class MatrixForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the matrix changes (audited).")
    escalate_external_exposure = forms.BooleanField(required=False, label="Customer-facing or public use: +1 tier")
    escalate_fully_automated = forms.BooleanField(required=False, label="Fully automated decisions: +1 tier")
    people_threshold = forms.IntegerField(min_value=1, label="Personal data of more than N people: +1 tier")
    regulated_floor = forms.ChoiceField(choices=[(t, t.title()) for t in TIERS], label="Floor for regulated domains")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for p in range(1, 6):
            for i in range(1, 6):
                self.fields[f"cell_{p}_{i}"] = forms.ChoiceField(
                    choices=[(t, t.title()) for t in TIERS], label=f"Probability {p}, impact {i}")

    def grid_rows(self):
        return [{"probability": p, "label": PROBABILITY_LEVELS[p][0],
                 "cells": [self[f"cell_{p}_{i}"] for i in range(1, 6)]} for p in range(5, 0, -1)]

    @staticmethod
    def initial_from(config: dict) -> dict:
        initial = {k: config.get(k) for k in ("escalate_external_exposure", "escalate_fully_automated",
                                              "people_threshold", "regulated_floor")}
        for p in range(1, 6):
            for i in range(1, 6):
                initial[f"cell_{p}_{i}"] = config["grid"][p - 1][i - 1]
        return initial

    def config(self) -> dict:
        data = self.cleaned_data
        return {
            "grid": [[data[f"cell_{p}_{i}"] for i in range(1, 6)] for p in range(1, 6)],
            "escalate_external_exposure": data["escalate_external_exposure"],
            "escalate_fully_automated": data["escalate_fully_automated"],
            "people_threshold": data["people_threshold"],
            "regulated_floor": data["regulated_floor"],
        }
