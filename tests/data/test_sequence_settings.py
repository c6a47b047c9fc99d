"""How two sequence builds' settings differ (elcrec_core.data.sequence_settings)."""

from elcrec_core.data.events_to_sequences import SequenceConfig
from elcrec_core.data.sequence_settings import event_type_set, setting_changes


def test_each_setting_that_differs_is_named_with_both_values_in_the_settings_order():
    before = SequenceConfig(min_rating=3.5, event_types=("play", "like"), dedupe=True, k_core=5)
    assert setting_changes(before, SequenceConfig()) == [  # k_core 5 both: not named
        "min_rating 3.5 then, none now", "event_types 'play', 'like' then, every type now",
        "dedupe true then, false now"]
    assert setting_changes(SequenceConfig(), SequenceConfig(k_core=0, min_rating=4)) == [
        "min_rating none then, 4 now", "k_core 5 then, 0 now"]
    assert setting_changes(before, before) == []


def test_event_types_compare_as_the_filters_read_them():
    """Case and outer space are no change (the filters read ' Like' as like); repeats and order are none."""
    assert event_type_set((" Like", "play", "PLAY")) == ["like", "play"] and event_type_set(None) is None
    assert setting_changes(SequenceConfig(event_types=("play", "like")),
                           SequenceConfig(event_types=("LIKE ", "play", "play"))) == []
    assert setting_changes(SequenceConfig(event_types=("play",)), SequenceConfig(event_types=("play", "like"))) == [
        "event_types 'play' then, 'play', 'like' now"]
    assert setting_changes(SequenceConfig(), SequenceConfig(event_types=(" Purchase",))) == [
        "event_types every type then, ' Purchase' now"]  # the outer space shown (helper-225)
