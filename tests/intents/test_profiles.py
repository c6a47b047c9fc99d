"""Intent profiling: the maps, and the evidence that the learned intents find the planted ones."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from elcrec_core.config.settings import load_preset, merge_overrides
from elcrec_core.data.sequences import sequences_from_events
from elcrec_core.data.synthetic import SyntheticConfig, generate
from elcrec_core.evaluate.statistics import planted_agreement
from elcrec_core.intents.profiles import assign_user_intents
from elcrec_core.report.plots import intent_map, map_coordinates
from elcrec_core.train.checkpoint import load_model
from elcrec_core.train.loop import train


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_intent_map_draws_a_sample_of_users_that_keeps_intents_apart(tmp_path: Path, method: str):
    """Three well separated intents: the map places 100 distinct sampled users, and each point's nearest
    neighbour on the map has its intent."""
    rng = np.random.default_rng(0)
    intents = np.repeat(np.arange(3), 60)
    representation = rng.normal(size=(180, 8)) * 0.1 + np.eye(8)[intents]
    xy, pick = map_coordinates(representation, method=method, sample=100)
    assert xy.shape == (100, 2) and len(set(pick.tolist())) == 100
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.diag(np.full(100, np.inf))
    assert (intents[pick][distances.argmin(1)] == intents[pick]).all()
    path = intent_map(representation, intents, tmp_path / f"{method}.png", method=method, sample=100)
    with Image.open(path) as image:
        colours = {tuple(pixel) for pixel in np.asarray(image.convert("RGB")).reshape(-1, 3).tolist()}
    assert image.format == "PNG" and len(colours) > 50  # the points in three colours, blended by alpha


def test_intent_map_refuses_an_unknown_method(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown map method 'umap': pca or tsne"):
        intent_map(np.zeros((10, 4)), np.zeros(10, dtype=int), tmp_path / "x.png", method="umap")


def test_learned_intents_find_the_planted_ones(tmp_path: Path):
    """The evidence that the clustering learns intents: on synthetic data with planted intents, the users'
    learned intents (nearest centre) agree with their planted primary intents far beyond chance."""
    synthetic = generate(SyntheticConfig(n_users=2000, n_items=240, n_intents=4, seed=5))
    seqs, _ = sequences_from_events(synthetic.events)
    exp = load_preset("synthetic")
    exp = merge_overrides(exp, {"n_intents": 8, "hidden": 32}, {"epochs": 12, "patience": 12})
    result = train(seqs, exp, tmp_path, log=lambda _: None)
    model, _ = load_model(result.checkpoint)
    learned = assign_user_intents(model, seqs).intent
    planted = synthetic.user_intents.sort("user_id")["primary_intent"].to_numpy()[seqs.user_ids.astype(int) - 1]
    agreement = planted_agreement(planted, learned)
    assert agreement.nmi >= 0.3 and agreement.nmi >= 5 * agreement.shuffled_nmi, agreement
    assert agreement.ari >= 0.15 and agreement.ari >= 5 * abs(agreement.shuffled_ari), agreement


def test_pooling_averages_the_item_positions_or_the_whole_window():
    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.model.elcrec import ELCRec

    hidden = torch.arange(12, dtype=torch.float32).view(2, 3, 2)  # 2 users, 3 positions, d = 2
    items = torch.tensor([[0, 0, 5], [0, 4, 7]])  # left padding
    by_items = ELCRec(ModelConfig(n_items=9, hidden=2, n_heads=1, n_intents=2, pooling="items"))
    assert by_items.pool(hidden, items).tolist() == [[4.0, 5.0], [9.0, 10.0]]
    everything = ELCRec(ModelConfig(n_items=9, hidden=2, n_heads=1, n_intents=2))  # the reference
    assert everything.pool(hidden, items).tolist() == [[2.0, 3.0], [8.0, 9.0]]


def test_category_purity_of_a_model_reads_the_genres_of_the_warehouse(tmp_path: Path):
    """What the evaluation report calls: the model's intents over the users, the item categories from the
    warehouse's item_metadata (by item id), and the same numbers as the statistics on those inputs."""
    import polars as pl

    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.data import warehouse
    from elcrec_core.data.sequences import Sequences
    from elcrec_core.evaluate.statistics import category_purity
    from elcrec_core.intents.profiles import intent_category_purity, item_categories
    from elcrec_core.model.elcrec import ELCRec

    db = tmp_path / "warehouse.duckdb"
    item_ids = np.array(["m1", "m2", "m3", "m4"])  # index 1..4
    meta = pl.DataFrame({"item_id": ["m3", "m1", "m2", "zz"], "title": ["c", "a", "b", "z"],
                         "categories": [["Drama", "War"], ["Comedy"], [], ["Drama"]]})
    warehouse.load_item_metadata(meta, pl.DataFrame(schema={"source_file": pl.String, "source_row": pl.Int64,
                                                            "reason": pl.String, "detail": pl.String}), "x", db)
    categories = item_categories(db, item_ids)
    assert sorted(categories.rows()) == [(1, "Comedy"), (3, "Drama"), (3, "War")]  # m2: none, m4: no metadata
    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=4, hidden=8, n_heads=1, n_intents=3, max_len=5))
    seqs = Sequences(np.array(["u1", "u2", "u3"]), np.array([1, 2, 3, 3, 4, 1, 1]), np.array([0, 2, 5, 7]), 4)
    result = intent_category_purity(model, seqs, item_ids, db, shuffles=2, seed=3)
    intents = assign_user_intents(model, seqs).intent
    expected = category_purity(intents, np.array([0, 0, 1, 1, 1, 2, 2]), seqs.items, categories, shuffles=2, seed=3)
    assert (result.purity, result.shuffled) == (expected.purity, expected.shuffled)
    assert result.per_intent["users"].sum() == 3
    assert intent_category_purity(model, seqs, np.array(["x1", "x2", "x3", "x4"]), db) is None  # no categories


def test_a_history_with_items_newer_than_the_model_is_assigned_on_the_items_it_knows():
    """Items 6 and 7 came after the model (5 items): the user's intent is that of the history without them, the
    last max_len known items [1, 2, 3], as the recommender reads it, not of a window with holes where they were."""
    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.data.sequences import Sequences
    from elcrec_core.model.elcrec import ELCRec

    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=1, n_layers=1, max_len=3, n_intents=4)).eval()
    seqs = Sequences.from_lists(["u"], [[1, 2, 6, 7, 3]], n_items=7)
    window = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        pooled = torch.nn.functional.normalize(model.pool(model(window), window).float(), dim=1)
        distances = torch.cdist(pooled, torch.nn.functional.normalize(model.centres.float(), dim=1)).square()[0]
    assigned = assign_user_intents(model, seqs)
    assert assigned.intent.tolist() == [int(distances.argmin())]
    assert assigned.distance[0] == pytest.approx(float(distances.min()), rel=1e-5)
    training = model.train()
    assert assign_user_intents(training, seqs).intent.tolist() == [int(distances.argmin())]  # dropout off
    assert training.training  # as it came: it was left in eval mode (helper-177)


def test_a_user_whose_representation_is_not_finite_has_no_intent():
    """A model with a NaN item embedding (a damaged checkpoint): the users whose windows hold that item have NaN
    distances to every centre, and the argmin of NaNs named an arbitrary intent (elcrec recommend printed "intent
    6" beside no items). They have no intent now; the others keep theirs."""
    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.data.sequences import Sequences
    from elcrec_core.intents.profiles import NO_INTENT
    from elcrec_core.model.elcrec import ELCRec

    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=1, n_layers=1, max_len=3, n_intents=4)).eval()
    seqs = Sequences.from_lists(["a", "b"], [[1, 2, 3], [4, 5]], n_items=5)
    before = assign_user_intents(model, seqs)
    with torch.no_grad():
        model.item_emb.weight[5] = float("nan")
    after = assign_user_intents(model, seqs)
    assert after.intent.tolist() == [before.intent[0], NO_INTENT] and after.runner_up[1] == NO_INTENT
    assert after.distance[0] == before.distance[0] and np.isnan(after.distance[1])


def test_a_nan_centre_is_no_intents_nearest():
    """Centre 1 is NaN: its distances to the others are NaN, and argmin of a row with a NaN named it (or intent 0)
    as every intent's nearest; the others' nearest are the finite ones, its own none."""
    from elcrec_core.intents.profiles import UserIntents, summarise_intents

    centres = np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 1.0], [0.8, 0.6]])
    assigned = UserIntents(np.array([0, 2, 3]), np.array([0.1, 0.2, 0.3]), np.array([3, 3, 0]), np.eye(3, 2))
    nearest = summarise_intents(assigned, centres).per_intent["nearest_intent"].to_list()
    assert nearest == [3, None, 3, 0]


def test_a_user_with_no_item_the_model_knows_has_no_intent_and_counts_nowhere(tmp_path: Path):
    """User b's items (6, 7) all came after the model (5 items): b was put on the centre nearest to an empty
    history (one for every such user) and counted in its size, its lifts and its category purity. b now has no
    intent (a NaN distance, a null in the tables) and every figure is that of the other users alone."""
    import polars as pl

    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.data import warehouse
    from elcrec_core.data.sequences import Sequences
    from elcrec_core.intents.profiles import (
        NO_INTENT,
        intent_category_purity,
        intent_column,
        intent_sizes,
        placed_interactions,
        summarise_intents,
    )
    from elcrec_core.model.elcrec import ELCRec

    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=1, n_layers=1, max_len=4, n_intents=3)).eval()
    lists = {"a": [1, 2, 3], "b": [6, 7, 6], "c": [4, 5, 1, 2]}
    everyone = Sequences.from_lists(list(lists), list(lists.values()), n_items=7)
    known = Sequences.from_lists(["a", "c"], [lists["a"], lists["c"]], n_items=7)
    assigned, alone = assign_user_intents(model, everyone), assign_user_intents(model, known)
    assert assigned.intent.tolist() == [alone.intent[0], NO_INTENT, alone.intent[1]]
    assert assigned.runner_up[1] == NO_INTENT and np.isnan(assigned.distance[1])
    assert assigned.placed.tolist() == [True, False, True]
    nobody = assign_user_intents(model, Sequences.from_lists([], [], n_items=7))  # a day whose k-core removed none
    assert (len(nobody.intent), len(nobody.distance), nobody.representation.shape) == (0, 0, (0, 8))
    assert intent_sizes(assigned.intent, 3).tolist() == intent_sizes(alone.intent, 3).tolist()
    assert intent_sizes(assigned.intent, 3).sum() == 2
    centres = torch.nn.functional.normalize(model.centres.detach(), dim=1).numpy()
    summary, expected = summarise_intents(assigned, centres), summarise_intents(alone, centres)
    assert summary.per_intent.equals(expected.per_intent) and summary.size_quantiles == expected.size_quantiles
    users, items = placed_interactions(assigned, everyone)
    assert users.tolist() == [0, 0, 0, 2, 2, 2, 2] and items.tolist() == [1, 2, 3, 4, 5, 1, 2]
    assert intent_column(assigned.intent).to_list() == [int(alone.intent[0]), None, int(alone.intent[1])]
    # b's items have a category: they counted in the purity of centre 0
    db = tmp_path / "warehouse.duckdb"
    item_ids = np.array([f"m{i}" for i in range(1, 8)])
    meta = pl.DataFrame({"item_id": list(item_ids), "title": list(item_ids),
                         "categories": [["A"], ["B"], ["A"], ["B"], ["A"], ["C"], ["C"]]})
    warehouse.load_item_metadata(meta, pl.DataFrame(schema={"source_file": pl.String, "source_row": pl.Int64,
                                                            "reason": pl.String, "detail": pl.String}), "x", db)
    purity = intent_category_purity(model, everyone, item_ids, db, shuffles=3, seed=1)
    without_b = intent_category_purity(model, known, item_ids, db, shuffles=3, seed=1)
    assert purity.per_intent.equals(without_b.per_intent) and purity.per_intent["users"].sum() == 2
    assert (purity.purity, purity.shuffled) == (without_b.purity, without_b.shuffled)


def test_with_a_single_centre_no_user_has_a_runner_up():
    """topk of one centre gave the intent itself as the runner-up."""
    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.data.sequences import Sequences
    from elcrec_core.intents.profiles import NO_INTENT
    from elcrec_core.model.elcrec import ELCRec

    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=1, n_layers=1, max_len=4, n_intents=1)).eval()
    seqs = Sequences.from_lists(["a", "b"], [[1, 2], [3]], n_items=5)
    assigned = assign_user_intents(model, seqs)
    assert assigned.intent.tolist() == [0, 0] and assigned.runner_up.tolist() == [NO_INTENT, NO_INTENT]


def test_the_map_colours_the_nine_largest_intents_and_greys_the_rest(tmp_path: Path):
    """32 intents on a 20-colour palette drew intents 0 and 20 alike; now the 9 largest have a colour each (tab10
    without its grey) and a legend entry with their users, the rest are light grey."""
    from elcrec_core.report.plots import MAP_PALETTE, map_colour_groups

    intents = np.repeat(np.arange(32), np.arange(32) % 7 + 1)  # sizes 1..7 over and over
    groups = map_colour_groups(intents)
    assert groups == [6, 13, 20, 27, 5, 12, 19, 26, 4]  # size 7 (4 intents), size 6 (4), then the first of size 5
    assert map_colour_groups(np.array([3, 3, 1])) == [3, 1]
    rng = np.random.default_rng(0)
    representation = rng.normal(size=(len(intents), 8)) + np.eye(8)[intents % 8] * 3
    path = intent_map(representation, intents, tmp_path / "map.png")
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    blended = 0.7 * np.array([211, 211, 211]) + 0.3 * 255  # light grey at alpha 0.7 on white
    assert (np.abs(pixels - blended).sum(1) < 4).sum() > 20  # grey points are drawn
    assert (127, 127, 127) not in {tuple(c) for c in (np.array(MAP_PALETTE) * 255).astype(int).tolist()}


def test_when_no_user_has_an_item_the_model_knows_none_has_an_intent():
    """Every item of the day newer than the intent model: the histories it reads hold no item at all, and reading
    their windows raised IndexError (the profiles and the recommendations failed); each user has no intent now,
    and a window of such data is all padding."""
    from elcrec_core.config.settings import ModelConfig
    from elcrec_core.data.sequences import Sequences, SequenceTensors
    from elcrec_core.intents.profiles import NO_INTENT
    from elcrec_core.model.elcrec import ELCRec

    torch.manual_seed(0)
    model = ELCRec(ModelConfig(n_items=5, hidden=8, n_heads=1, n_layers=1, max_len=4, n_intents=3)).eval()
    seqs = Sequences.from_lists(["a", "b"], [[6, 7], [7]], n_items=7)
    assigned = assign_user_intents(model, seqs)
    assert assigned.intent.tolist() == [NO_INTENT, NO_INTENT] and assigned.runner_up.tolist() == [NO_INTENT] * 2
    assert np.isnan(assigned.distance).all()
    empty = SequenceTensors.from_sequences(seqs.known(5))
    assert empty.window(torch.tensor([1, 0]), 0, 3).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_the_size_charts_bars_carry_their_intents_ids(tmp_path, monkeypatch):
    """The bars were numbered by size rank (bar 0 the largest intent, whichever it was), while the intent tables
    and the map name intents by id: bar "0" of ml-100k's chart was intent 4."""
    from elcrec_core.report import plots

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    plots.intent_sizes_chart(np.array([0, 5, 313, 5, 40]), tmp_path / "sizes.png")
    (ax,) = drawn[0].axes
    assert [label.get_text() for label in ax.get_xticklabels()] == ["2", "4", "1", "3", "0"]
    assert [bar.get_height() for bar in ax.patches] == [313, 40, 5, 5, 0]
    plots.intent_sizes_chart(np.arange(100), tmp_path / "many.png")  # too many to label
    assert [label.get_text() for label in drawn[1].axes[0].get_xticklabels()] == []
    assert (ax.get_xlabel(), drawn[1].axes[0].get_xlabel()) == ("intent id, largest first",
                                                               "intents, largest first (ids: the intent tables)")
