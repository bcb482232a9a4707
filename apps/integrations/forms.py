from django import forms
from django.contrib.auth import get_user_model

from apps.integrations.models import MlflowServer
from apps.inventory.models import Team


class ServerForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="How the portal names it, e.g. “MLflow production”.")
    url = forms.CharField(label="URL", max_length=300, widget=forms.URLInput(attrs={"placeholder": "http://mlflow:5000"}),
                          help_text="The tracking server's address; its artifacts must be served through it "
                                    "(mlflow server --serve-artifacts, the default) for the environment files.")
    auth = forms.ChoiceField(label="Authentication", choices=MlflowServer.Auth.choices, initial=MlflowServer.Auth.NONE)
    credential_env = forms.CharField(
        label="Credential from the environment variable", max_length=100, required=False,
        help_text="Name of a variable set where the portal and its workers run, e.g. MLFLOW_TRACKING_TOKEN.")
    credential = forms.CharField(
        label="Or enter the credential", max_length=500, required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="A token, or user:password for basic authentication. Stored, never shown back.")
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"),
                                  help_text="The team of the models the sync registers.")
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
                                   label="Accountable owner",
                                   help_text="Accountable owner of the models the sync registers; told of shadow "
                                             "promotions.")
    page_size = forms.IntegerField(min_value=1, max_value=1000, initial=100,
                                   help_text="Registered models read per request.")
    enabled = forms.BooleanField(required=False, initial=True, help_text="Sync it on the schedule.")
