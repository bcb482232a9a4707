import factory

from apps.integrations.models import MlflowServer
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
