import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.templatetags.static import static
from plotly.offline import get_plotlyjs_version

PLOTLY_BUNDLE = "vendor/plotly/plotly-cartesian-4.1.1.min.js"


def test_the_vendored_plotly_bundle_is_the_version_the_plotly_package_expects():
    path = finders.find(PLOTLY_BUNDLE)
    assert path, f"{PLOTLY_BUNDLE} is not under static/"
    header = Path(path).read_text(encoding="utf-8")[:200]
    assert f"plotly.js (cartesian - minified) v{get_plotlyjs_version()}\n" in header


def test_the_full_plotly_bundle_is_not_served():
    assert finders.find("vendor/plotly/plotly.min.js") is None


def test_htmx_is_vendored_under_static():
    assert finders.find("vendor/htmx/htmx-2.0.11.min.js")


def test_production_serves_the_chart_bundle_under_a_content_hash(settings, tmp_path):
    # What the Dockerfile does: collectstatic with the manifest storage production uses, so the bundle can be
    # cached for ever by browsers and a new version gets a new name.
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)

    url = static(PLOTLY_BUNDLE)

    assert re.fullmatch(r"/static/vendor/plotly/plotly-cartesian-4\.1\.1\.min\.[0-9a-f]{12}\.js", url), url
    assert (tmp_path / url.removeprefix("/static/")).stat().st_size == Path(finders.find(PLOTLY_BUNDLE)).stat().st_size
