import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.templatetags.static import static
from plotly.offline import get_plotlyjs_version

PLOTLY_BUNDLE = "vendor/plotly/plotly-portal-4.1.1.min.js"


def test_the_vendored_plotly_bundle_is_the_version_the_plotly_package_expects():
    path = finders.find(PLOTLY_BUNDLE)
    assert path, f"{PLOTLY_BUNDLE} is not under static/"
    header = Path(path).read_text(encoding="utf-8")[:200]
    assert f"plotly.js (portal: scatter, bar, heatmap - minified) v{get_plotlyjs_version()}\n" in header


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

    assert re.fullmatch(r"/static/vendor/plotly/plotly-portal-4\.1\.1\.min\.[0-9a-f]{12}\.js", url), url
    assert (tmp_path / url.removeprefix("/static/")).stat().st_size == Path(finders.find(PLOTLY_BUNDLE)).stat().st_size


def test_every_trace_type_the_charts_draw_is_in_the_bundle():
    # The bundle carries scatter (Plotly's core) and what docs/plotly-bundle/entry.js registers; a chart of any
    # other type would draw nothing. The chart modules name their types as _trace("kind", ...) or go.Kind(...).
    root = Path(__file__).resolve().parents[2]
    entry = (root / "docs" / "plotly-bundle" / "entry.js").read_text(encoding="utf-8")
    bundled = {"scatter", *re.findall(r"require\('plotly\.js/lib/(\w+)'\)", entry)} - {"core"}
    used = set()
    for module in (root / "apps").rglob("*.py"):
        source = module.read_text(encoding="utf-8")
        used |= set(re.findall(r"_trace\(\"(\w+)\"", source))
        used |= {name.lower() for name in re.findall(r"\bgo\.(\w+)\(", source)} - {"figure"}

    assert used, "no chart trace found: the pattern above no longer matches the chart modules"
    assert used <= bundled, f"charts draw {sorted(used - bundled)}, which the Plotly bundle does not carry"
