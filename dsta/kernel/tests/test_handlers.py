"""Subscriptions name event classes: a string (a typo never matches) is refused where the handler is declared."""

from __future__ import annotations

import pytest

from dsta.kernel import handlers
from dsta.kernel.tests.probe import EFFECT_ALIAS, ProbePing


def test_a_subscription_by_event_name_is_refused_at_declaration():
    with pytest.raises(TypeError, match="DomainEvent classes"):
        handlers.event_handler(consumer="probe.by_name", events=["probe.ping"], using=EFFECT_ALIAS)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="DomainEvent classes"):
        handlers.event_handler(consumer="probe.mixed", events=[ProbePing, "probe.pnig"], using=EFFECT_ALIAS)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="subscribes to no event"):
        handlers.event_handler(consumer="probe.nothing", events=[], using=EFFECT_ALIAS)
    assert {"probe.by_name", "probe.mixed", "probe.nothing"}.isdisjoint(s.consumer for s in handlers.subscriptions())


def test_a_subscription_by_class_matches_its_event_name():
    register = handlers.event_handler(consumer="probe.by_class", events=[ProbePing], using=EFFECT_ALIAS)
    try:
        register(lambda envelope: None)
        (subscription,) = [s for s in handlers.subscriptions() if s.consumer == "probe.by_class"]
        assert subscription.event_names == frozenset({ProbePing.event_name})
    finally:
        handlers._subscriptions.pop("probe.by_class", None)
