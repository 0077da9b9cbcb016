"""The one duration parser (components/durations.py) and the readers built on it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components import durations
from components.config import duration_seconds as config_seconds
from components.monitoring.scrape import duration_seconds as scrape_seconds
from components.vault.document.base import parse_duration as vault_seconds
from policies.rules.common import duration_seconds as policy_seconds

parts = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(durations.UNIT_SECONDS))), min_size=1)


@given(parts)
def test_a_duration_is_the_sum_of_its_parts(ps: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in ps)
    assert durations.seconds(text) == pytest.approx(sum(n * durations.UNIT_SECONDS[u] for n, u in ps))
    assert policy_seconds(f" {text} ") == pytest.approx(durations.seconds(text))


@pytest.mark.parametrize("bad", ["", "5", "s", "-5s", "1.5h", "5 s", "5sec", "5S", "30s\n", "1h-", None, 30])
def test_anything_else_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        durations.seconds(bad)


def test_each_reader_keeps_its_units_and_its_message() -> None:
    assert config_seconds("15d") == 15 * 86400 and config_seconds("1y") == 31536000
    with pytest.raises(ValueError):
        config_seconds("1h30m")  # stack settings take one unit
    assert scrape_seconds("250ms", "scrape_timeout") == 0.25
    with pytest.raises(ValueError, match=r"scrape_interval = '1d' is invalid; accepted: .*\(ms, s, m, h\)"):
        scrape_seconds("1d", "scrape_interval")
    assert vault_seconds("1h30m") == 5400 and vault_seconds("90d") == 90 * 86400
    with pytest.raises(ValueError):
        vault_seconds("1y")  # Vault TTLs have no year unit
    assert policy_seconds("1w2d") == 9 * 86400 and policy_seconds("soon") is None
