"""The pure parts of bench/load_run.py: statistics, report, access-log parsing, login form parsing, workload."""

import importlib.util
import math
import random
from collections import Counter
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "bench" / "load_run.py"
_spec = importlib.util.spec_from_file_location("load_run", _PATH)
load_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(load_run)


def test_it_takes_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert [load_run.percentile(values, q) for q in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert load_run.percentile([0.1, 0.2, 0.9], 50) == 0.2
    assert load_run.percentile([0.3], 99) == 0.3


def test_it_refuses_a_percentile_of_nothing_or_out_of_range():
    with pytest.raises(ValueError):
        load_run.percentile([], 50)
    with pytest.raises(ValueError):
        load_run.percentile([1.0], 0)


def test_it_summarizes_client_and_server_times_of_a_page():
    stats = load_run.summarize("model page", [0.4, 0.1, 0.3, 0.2], errors=1, seconds=2.0, server=[0.05, 0.01])
    assert (stats.requests, stats.errors, stats.rate) == (4, 1, 2.0)
    assert (stats.p50, stats.p95, stats.p99, stats.max) == (0.2, 0.4, 0.4, 0.4)
    assert (stats.server_p50, stats.server_p95) == (0.01, 0.05)


def test_a_page_without_requests_has_no_figures():
    stats = load_run.summarize("dashboard", [], errors=0, seconds=60.0)
    assert stats.requests == 0 and stats.rate == 0.0
    assert math.isnan(stats.p50) and math.isnan(stats.server_p50)


def test_the_table_gives_ratios_against_the_reference_server_p50():
    rows = [
        load_run.summarize("dashboard", [1.0, 2.0], 0, 10.0, server=[0.5, 0.6]),
        load_run.summarize("empty", [], 0, 10.0),
        load_run.summarize("ref", [0.5, 0.5], 0, 10.0, server=[0.01, 0.02]),
    ]
    total = load_run.summarize("all requests", [1.0, 2.0, 0.5, 0.5], 0, 10.0)
    table = load_run.render_table(rows, reference="ref", total=total).splitlines()
    assert table[0].startswith("| page ") and table[1].startswith("|---")
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table[2:]}
    assert cells["dashboard"][-1] == "50.0x"
    assert cells["dashboard"][2:4] == ["1.00 s", "2.00 s"] and cells["dashboard"][7] == "500.0 ms"
    assert cells["ref"][-1] == "1.0x"
    assert cells["empty"][3] == "-" and cells["empty"][-1] == "-"
    assert cells["**all requests**"][0] == "4" and cells["**all requests**"][-1] == ""
    assert len({len(line) for line in table}) == 1  # columns aligned


def test_it_reads_server_times_of_tagged_requests_only():
    lines = ["p0 200 1500", "warm-up 200 999999", "- 200 3000", "p8 200 250", "p0 500 2500", "garbage"]
    times = load_run.server_times(lines, {"p0": "dashboard", "p8": "ref"})
    assert times == {"dashboard": [0.0015, 0.0025], "ref": [0.00025]}


def test_every_page_has_its_own_access_log_key():
    assert sorted(load_run.PAGE_KEYS.values()) == sorted(p.name for p in load_run.PAGES)
    assert load_run.REFERENCE in load_run.PAGE_KEYS.values()


def test_it_reads_the_csrf_token_of_the_login_form():
    html = '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="abc123XYZ"></form>'
    assert load_run.csrf_from_form(html) == "abc123XYZ"
    with pytest.raises(ValueError):
        load_run.csrf_from_form("<form></form>")


def test_it_keeps_the_cookies_a_response_sets():
    headers = ["csrftoken=tok; expires=Thu, 25 Nov 2027 21:00:00 GMT; Path=/; SameSite=Lax; Secure",
               "sessionid=sess; HttpOnly; Path=/; Secure"]
    assert load_run.cookies_from(headers) == {"csrftoken": "tok", "sessionid": "sess"}


def test_the_mix_follows_the_weights():
    rng = random.Random(1)
    counts = Counter(load_run.pick(rng).name for _ in range(20_000))
    total_weight = sum(p.weight for p in load_run.PAGES)
    for page in load_run.PAGES:
        assert counts[page.name] / 20_000 == pytest.approx(page.weight / total_weight, abs=0.01)


def test_every_page_is_a_path_on_the_targets():
    targets = load_run.Targets(models=["model-7"], processes=["claims"], production_pages=3)
    rng = random.Random(2)
    urls = {page.name: page.url(rng, targets) for page in load_run.PAGES}
    assert all(url.startswith("/") for url in urls.values())
    assert urls["model page"] == "/inventory/models/model-7/"
    assert urls["business process"] == "/inventory/processes/claims/"
    assert urls["API model detail"] == "/api/v1/models/model-7/"
    pages = {load_run.PAGES[2].url(rng, targets) for _ in range(200)}
    assert pages == {f"/inventory/?stage=production&sort=name&page={n}" for n in (1, 2, 3)}


def test_it_uses_its_own_database_on_the_given_server():
    admin, load = load_run.server_urls("postgres://user:secret@db.example:6543/portal")
    assert admin == "postgres://user:secret@db.example:6543/postgres"
    assert load == "postgres://user:secret@db.example:6543/portal_load"
    with pytest.raises(SystemExit):
        load_run.server_urls("sqlite:///var/portal.sqlite3")


def test_it_reads_parent_and_cpu_ticks_from_proc_stat():
    text = "4242 (gunicorn: worker [a b]) S 4200 4200 4200 0 -1 4194560 500 0 0 0 731 129 0 0 20 0 1 0 99 0 0"
    assert load_run.parse_stat(text) == (4200, 860)
