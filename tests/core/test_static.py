import plotly
from django.contrib.staticfiles import finders


def test_plotly_js_is_served_from_the_installed_package():
    path = finders.find("vendor/plotly/plotly.min.js")
    assert path and path.startswith(plotly.__path__[0])
    with open(path, encoding="utf-8") as handle:
        assert "plotly.js v" in handle.read(200)


def test_htmx_is_vendored_under_static():
    assert finders.find("vendor/htmx/htmx-2.0.11.min.js")
