"""Cron expressions of `schedule`: five fields, and only ones that can fire."""

import pytest

from cleanops.pipelines.schema import Schedule, is_valid_cron


@pytest.mark.parametrize("expression", ["0 2 * * *", "@daily", "*/15 * * * *", "0 0 * * 1-5", "0 0 29 2 *",
                                        "0 0 1,30 2 *"])
def test_five_field_expressions_that_can_fire_are_valid(expression):
    assert is_valid_cron(expression)
    assert Schedule(type="cron", expression=expression).expression == expression


@pytest.mark.parametrize("expression", ["* * * * * *", "0 0 30 2 *", "0 0 31 2 *", "bogus", "61 * * * *", ""])
def test_seconds_fields_impossible_dates_and_nonsense_are_refused(expression):
    assert not is_valid_cron(expression)
    with pytest.raises(ValueError, match="cron"):
        Schedule(type="cron", expression=expression)
