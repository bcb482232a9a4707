from apps.monitoring.charts import HEALTH_COLOURS, drift_chart


def test_the_drift_chart_s_reading_line_labels_sit_on_separate_rows_right_of_their_lines():
    # PSI 2.0 squeezes the 0.1 and 0.2 lines a few pixels apart: labels centred on them overlapped.
    chart = drift_chart({"x1": {"psi": 2.0}, "x2": {"psi": 0.15}, "x3": {"psi": 0.01}})

    labels = {a["text"]: a for a in chart.figure["layout"]["annotations"]}

    assert set(labels) == {"0.1 moderate", "0.2 significant"}
    assert {a["xanchor"] for a in labels.values()} == {"left"}
    assert labels["0.2 significant"]["yshift"] > labels["0.1 moderate"].get("yshift", 0)
    assert chart.figure["layout"]["margin"]["t"] >= 40 + labels["0.2 significant"]["yshift"]


def test_the_drift_chart_colours_and_lines_follow_the_policy_limit_when_the_model_has_one():
    drift = {"x1": {"psi": 0.12}, "x2": {"psi": 0.07}, "x3": {"psi": 0.01}}
    chart = drift_chart(drift, psi_max=0.08)

    labels = {a["text"] for a in chart.figure["layout"]["annotations"]}
    assert labels == {"0.08 policy limit", "0.064 warning"}
    colours = dict(zip(chart.figure["data"][0]["y"], chart.figure["data"][0]["marker"]["color"], strict=True))
    assert colours["x1"] == HEALTH_COLOURS["breach"] and colours["x2"] == HEALTH_COLOURS["warning"]
    assert colours["x3"] not in (HEALTH_COLOURS["breach"], HEALTH_COLOURS["warning"])
    readings = {row[0].text: row[2].text for row in chart.rows}
    assert readings == {"x1": "above the policy limit", "x2": "warning", "x3": "within the policy"}
    assert "above the policy's limit (0.08) are red" in chart.summary
    # Without a limit, 0.12 is only a moderate reading (amber), not red.
    unruled = drift_chart(drift)
    assert dict(zip(unruled.figure["data"][0]["y"], unruled.figure["data"][0]["marker"]["color"],
                    strict=True))["x1"] == HEALTH_COLOURS["warning"]
