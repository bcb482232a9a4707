"""A demo MLflow server (offline, off the schedule) and one shadow promotion an executive sees on the dashboard.

The data scientists of Credit Risk Analytics gave the ``champion`` alias in MLflow to "SME credit scoring"
version 0.1, which the portal never approved: the red flag "Promoted in MLflow without approval". The link is what
a sync of a real server records (``inventory.registry_link_record``); connect a real server to see one made.
"""

from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.integrations import mlflow_env
from apps.integrations.models import MlflowServer, RegisteredModelLink
from apps.integrations.services import server_create
from apps.inventory.models import MLModel
from apps.inventory.services import registry_link_record

SERVER = "MLflow (demo, offline)"
MODEL = "SME credit scoring"
REQUIREMENTS = "mlflow==3.17.2\nscikit-learn==1.6.1\nnumpy==2.2.6\npandas==2.2.3\n"
PYTHON_ENV = "python: 3.11.7\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"


def seed(*, stdout) -> None:
    model = MLModel.objects.filter(name=MODEL).first()
    if model is None or MlflowServer.objects.filter(name=SERVER).exists():
        return
    owner = get_user_model().objects.filter(is_active=True, groups__name="data_scientist").order_by("pk").first()
    if owner is None:
        return
    server = server_create(actor=None, name=SERVER, url="http://127.0.0.1:5000", team=model.team, owner=owner,
                           enabled=False)
    name = "sme-credit-scoring"
    RegisteredModelLink.objects.create(server=server, name=name, model=model)
    version = model.versions.order_by("-created_at").first()
    files = {"requirements.txt": REQUIREMENTS, "python_env.yaml": PYTHON_ENV}
    registry_link_record(
        version=version, registry=server.registry, registry_label=f"MLflow {server.name}", name=name,
        external_version="3", now=timezone.now(), url=f"{server.url}/#/models/{name}/versions/3",
        aliases=["champion"], production_marks=mlflow_env.production_marks(aliases=["champion"], stage="",
                                                                           names=["champion"]),
        details={"run_id": "5f0c2d9e8b7a4c1d9e3f6a2b1c0d4e5f", "files": files,
                 "signature": {"inputs": [{"type": "double", "name": "turnover"}, {"type": "long", "name": "age"}],
                               "outputs": [{"type": "double"}]}})
    stdout.write(f"MLflow: {SERVER} with a shadow promotion of {version} (alias champion).")
