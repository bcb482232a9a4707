from django.db import migrations

ITEMS = {
    "intentionality": [
        ("purpose_matches_intent", "Purpose and behaviour match the stated intent.",
         "Evaluation results on the intended population; examples of correct and incorrect behaviour."),
        ("compliant_data_sources", "Training data comes from compliant sources with a lawful basis.",
         "Data sets with source system, legal basis or consent, collection period."),
        ("bias_checked", "Data and model were checked for bias, by more than one person, with evidence.",
         "Link a fairness evaluation: selection rates and error rates per group, and who looked at it."),
        ("explainable", "Results are explainable: the method and its artefacts are available.",
         "Explanation method (e.g. SHAP, coefficients), where the artefacts are, an example explanation."),
        ("uses_documented", "Intended and out-of-scope uses are documented.",
         "The model card's intended-use and out-of-scope sections."),
    ],
    "accountability": [
        ("owner_acknowledged", "A named accountable owner has acknowledged responsibility.",
         "Recorded by the owner's acknowledgement on this review."),
        ("data_usage_declared", "Data usage is declared: which data, how, in which model.",
         "Training data sets of this version and the features derived from them."),
        ("processes_declared", "The business processes that use the model are declared.",
         "Business processes linked to the model and its deployments."),
        ("lineage_complete", "Lineage is complete enough to trace a failure to its pipeline.",
         "Raw data -> pipeline steps -> features -> version -> deployment, on the lineage page."),
        ("monitoring_plan", "A monitoring plan exists.", "Metrics, thresholds and cadence; who receives alerts."),
        ("rollback_plan", "A rollback plan exists.", "Which version to fall back to and how long it takes."),
    ],
}


def seed(apps, schema_editor):
    ChecklistItem = apps.get_model("reviews", "ChecklistItem")
    for checklist, items in ITEMS.items():
        for order, (key, text, guidance) in enumerate(items):
            ChecklistItem.objects.get_or_create(checklist=checklist, key=key, version=1,
                                                defaults={"text": text, "guidance": guidance, "order": order})


class Migration(migrations.Migration):
    """The two responsible-AI checklists of the source document, as editable data."""

    dependencies = [("reviews", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
