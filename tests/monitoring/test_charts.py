from apps.monitoring.charts import drift_chart


def test_the_drift_chart_s_reading_line_labels_sit_on_separate_rows_right_of_their_lines():
    # PSI 2.0 squeezes the 0.1 and 0.2 lines a few pixels apart: labels centred on them overlapped.
    chart = drift_chart({"x1": {"psi": 2.0}, "x2": {"psi": 0.15}, "x3": {"psi": 0.01}})

    labels = {a["text"]: a for a in chart.figure["layout"]["annotations"]}

    assert set(labels) == {"0.1 moderate", "0.2 significant"}
    assert {a["xanchor"] for a in labels.values()} == {"left"}
    assert labels["0.2 significant"]["yshift"] > labels["0.1 moderate"].get("yshift", 0)
    assert chart.figure["layout"]["margin"]["t"] >= 40 + labels["0.2 significant"]["yshift"]
