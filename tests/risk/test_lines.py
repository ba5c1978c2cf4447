"""A reading in the decision log shows the figure its rule compared."""

from __future__ import annotations

from risk.lines import Reading


def test_the_rule_figure_is_the_value_and_the_detail_keeps_its_own() -> None:
    # gross_margin_yoy_pp: the change is the rule's figure, the detail carries the margin
    reading = Reading(-1.1, {"metric": "gross_margin", "value": 17.3, "prior_value": 18.4})
    assert reading.as_dict() == {
        "metric": "gross_margin",
        "value": -1.1,
        "latest_value": 17.3,
        "prior_value": 18.4,
    }
    assert Reading(3.0, {"period": "2024Q1"}).as_dict() == {"value": 3.0, "period": "2024Q1"}
    assert Reading(None, {"note": "none"}).as_dict() == {"value": None, "note": "none"}
