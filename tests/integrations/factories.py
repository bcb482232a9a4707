import factory

from apps.integrations.models import MlflowServer, SyncRun
from tests.factories import UserFactory
from tests.inventory.factories import TeamFactory


class MlflowServerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MlflowServer

    name = factory.Sequence(lambda n: f"MLflow {n}")
    key = factory.Sequence(lambda n: f"mlflow-{n}")
    url = "http://127.0.0.1:9"
    team = factory.SubFactory(TeamFactory)
    owner = factory.SubFactory(UserFactory, roles=["data_scientist"], first_name="Olive", last_name="Owner",
                               email="olive@example.org")


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    server = factory.SubFactory(MlflowServerFactory)
    status = SyncRun.Status.DONE
    counts = factory.LazyFunction(lambda: {"models_seen": 2, "versions_created": 3})
    errors = factory.LazyFunction(lambda: ["churn: MLflow answered HTTP 500 to /runs/get"])
