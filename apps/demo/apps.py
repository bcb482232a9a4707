from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo users and portfolio (``manage.py seed_demo``) and the all-in-one dev runner (``run_portal``).

    The top layer: it writes through every domain app's services, and no domain app imports it.
    """

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
