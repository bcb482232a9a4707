from django import forms

from apps.notifications import webhooks


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who receives it, e.g. “#ml-ops on Slack”.")
    url = forms.CharField(
        label="URL", max_length=500, widget=forms.URLInput(attrs={"placeholder": "https://hooks.slack.com/..."}),
        help_text="Where the portal posts each event (http or https; internal addresses are refused).")
    events = forms.MultipleChoiceField(choices=webhooks.EVENT_CHOICES, widget=forms.CheckboxSelectMultiple,
                                       help_text="The events this URL receives.")
