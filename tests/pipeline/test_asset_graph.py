"""The asset graph declares what each asset reads (the UI's lineage and a selection's upstream follow it): the
challengers, the gate, the report, the intents and the recommendations are made from the day's sequences as well as
from the models (a new user's trial found the graph showing only the serving model above the last three)."""

import dagster as dg

from elcrec_pipeline.definitions import defs


def _parents() -> dict[str, set[str]]:
    graph = defs().resolve_asset_graph()
    return {key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
            for key in graph.get_all_asset_keys()}


def test_each_asset_names_the_assets_it_reads() -> None:
    assert _parents() == {
        "raw_interactions": set(),
        "rejected_interactions": {"raw_interactions"},
        "interaction_sequences": {"raw_interactions", "interaction_sequences"},  # the day before numbers items first
        "elcrec_model": {"interaction_sequences", "elcrec_model"},  # the day before's model, to start from
        "challengers": {"elcrec_model", "interaction_sequences"},
        "serving_model": {"elcrec_model", "challengers", "interaction_sequences", "serving_model"},
        "evaluation_report": {"serving_model", "interaction_sequences"},
        "intent_profiles": {"serving_model", "interaction_sequences"},
        "user_recommendations": {"serving_model", "interaction_sequences"},
    }


def test_the_sequences_of_the_day_are_upstream_of_what_serves_users() -> None:
    graph = defs().resolve_asset_graph()
    downstream = {key.to_user_string() for key in graph.get(dg.AssetKey("interaction_sequences")).child_keys}
    assert downstream == {"interaction_sequences", "elcrec_model", "challengers", "serving_model", "evaluation_report",
                          "intent_profiles", "user_recommendations"}
