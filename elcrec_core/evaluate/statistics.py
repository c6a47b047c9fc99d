"""Statistics for reports and profiles: bootstrap intervals, item lift, agreement with planted intents."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from elcrec_core.config.field_types import require_count


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided bootstrap percentile interval."""

    estimate: float
    low: float
    high: float


# The fewest users from which a 95% interval of a mean over users is published. With n users who all favour one
# model, the exact two-sided sign test gives p = 2 / 2^n: 0.0625 for 5 users, 0.031 for 6. With fewer, the
# percentile bootstrap resamples only a handful of values and narrows to a certainty that no test supports (one
# user: [v, v]; with 1-5 users who each favour one of two equal models at random, its interval excludes 0 with
# probability 1, 1/2, 1/4, 1/8, 1/16, against the 5% it claims). A floor, not a guarantee: a little above it the
# interval stays approximate (8 users, 7 of them favouring one model by the same amount: "better", where the sign
# test's p is 0.07); with 10 to 1,000 users and no true difference it claimed one in 2-4.5% of simulated cases.
FEWEST_USERS_FOR_AN_INTERVAL = 6

BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22  # resampled values drawn at once: 32 MiB of indices, whatever the users
RESAMPLES = 1000  # the bootstrap's resamples of the users: the 4th decimal of an interval's ends varies with the seed


def bootstrap_mean(values: np.ndarray, n_boot: int = RESAMPLES, level: float = 0.95, seed: int = 0) -> Interval:
    """The mean of per-user ``values`` with a percentile bootstrap interval (users resampled with replacement).
    The resamples are drawn in chunks of about :data:`BOOTSTRAP_CHUNK_ELEMENTS` values (the same draws as all at
    once): memory stays bounded for any number of users (all at once took 16 KB per user: 16 GB for 1M). Raises
    ValueError for no values, a NaN among them (the interval was NaN, unsaid), an ``n_boot`` that is no whole number
    of 1 or more (helper-219) or a ``level`` outside (0, 1) (95 for 0.95 gave numpy's error: helper-193)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("no values to bootstrap")
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} of the {len(values)} values to bootstrap are NaN")
    require_count(n_boot, "n_boot, the bootstrap's resamples,")  # 2.5 gave numpy's TypeError, true was 1
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1) (0.95 for 95%), not {level}")
    rng = np.random.default_rng(seed)
    rows = max(1, BOOTSTRAP_CHUNK_ELEMENTS // len(values))
    means = np.concatenate([values[rng.integers(0, len(values), size=(min(rows, n_boot - lo), len(values)))].mean(1)
                            for lo in range(0, n_boot, rows)])
    tail = (1.0 - level) / 2
    return Interval(float(values.mean()), float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail)))


def item_lift(intents: np.ndarray, users: np.ndarray, items: np.ndarray, min_count: int = 3,
              top: int = 10) -> pl.DataFrame:
    """The items that characterise each intent: ranked by the lower bound of their lift's 95% interval.

    ``intents[u]`` is user u's intent; ``users``/``items`` list the interactions. lift = P(item | the intent's
    users' interactions) / P(item) = P(intent | item) / P(intent): ``count * total / (intent_total * item_total)``,
    one division of exact int64 products (up to about 3e9 interactions), so equal lifts are equal floats.
    ``lift_low`` = the Clopper-Pearson lower bound (two-sided 95%, :func:`scipy.stats.beta.ppf`) of P(intent | item)
    from ``count`` of the item's ``item_total`` interactions, over P(intent): an item seen 3 times, all in the
    intent, has the largest lift but a low bound (the largest lift of a small intent is reached by any item only
    its users picked, often an obscure one), so that items both frequent and characteristic come first (ml-100k:
    BENCHMARKS.md, "Intent profiles"). Items seen fewer than ``min_count`` times within an intent are left out.
    Returns intent, item, count, lift, lift_low: the ``top`` items of each intent by ``lift_low`` (ties: the lower
    item; two items of an intent with the same bound have the same count and total, so the same lift).
    """
    frame = pl.DataFrame({"intent": intents[users], "item": items})
    total = len(frame)
    per_item = frame.group_by("item").len("item_total")
    per_intent = frame.group_by("intent").len("intent_total")
    table = (
        frame.group_by("intent", "item").len("count")
        .filter(pl.col("count") >= min_count)
        .join(per_item, on="item").join(per_intent, on="intent")
        .with_columns(lift=_ratio(("count", total), ("intent_total", "item_total")))
    )
    from scipy.stats import beta  # seconds to import: at the first use (helper-265)

    share_low = beta.ppf(0.025, table["count"].to_numpy(), (table["item_total"] - table["count"] + 1).to_numpy())
    return (
        table.with_columns(lift_low=pl.Series(share_low, dtype=pl.Float64) * total / pl.col("intent_total"))
        .sort(["intent", "lift_low", "item"], descending=[False, True, False])
        .group_by("intent", maintain_order=True).head(top)
        .select("intent", "item", "count", "lift", "lift_low")
    )


def _ratio(numerator: tuple[str | int, str | int], denominator: tuple[str | int, str | int]) -> pl.Expr:
    """a * b / (c * d) for the columns (names) or numbers ``numerator`` (a, b) and ``denominator`` (c, d): the int64
    products, then one correctly rounded division, so that two equal ratios give the same float (a chain of
    divisions may differ in the last bit)."""
    def product(factors: tuple[str | int, str | int]) -> pl.Expr:
        a, b = (pl.col(f) if isinstance(f, str) else pl.lit(f) for f in factors)
        return a.cast(pl.Int64) * b.cast(pl.Int64)
    return product(numerator) / product(denominator)


@dataclass(frozen=True)
class Agreement:
    """How well learned intents recover planted ones, beside a shuffled assignment of the same sizes."""

    nmi: float
    ari: float
    shuffled_nmi: float
    shuffled_ari: float


def planted_agreement(planted: np.ndarray, learned: np.ndarray, seed: int = 0) -> Agreement:
    """NMI and ARI between planted and learned intents, and the same for a random permutation of ``learned``."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # seconds to import

    shuffled = np.random.default_rng(seed).permutation(learned)
    return Agreement(
        float(normalized_mutual_info_score(planted, learned)), float(adjusted_rand_score(planted, learned)),
        float(normalized_mutual_info_score(planted, shuffled)), float(adjusted_rand_score(planted, shuffled)),
    )


# --- item categories (genres) of the intents ---------------------------------------------------------------


def _category_counts(groups: np.ndarray, items: np.ndarray,
                     categories: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per group: its described interactions (``total``: interactions with an item that has a category) and, per
    category, how many of them are with an item of that category (``count``)."""
    frame = pl.DataFrame({"group": np.asarray(groups), "item": np.asarray(items)})
    pairs = categories.select(pl.col("item").cast(frame["item"].dtype), pl.col("category").cast(pl.String)).unique()
    described = frame.join(pairs.select("item").unique(), on="item", how="semi")
    totals = described.group_by("group").len("total")
    counts = described.join(pairs, on="item").group_by("group", "category").len("count")
    return totals, counts


def category_lift(intents: np.ndarray, users: np.ndarray, items: np.ndarray, categories: pl.DataFrame,
                  min_count: int = 3, top: int = 5) -> pl.DataFrame:
    """The categories (genres) that characterise each intent, by lift.

    ``intents[u]`` is user u's intent; ``users``/``items`` list the interactions; ``categories`` has one row per
    (``item``, ``category``) pair (an item may have several). Only described interactions count: those with an
    item that has at least one category. For intent k and category c, ``share`` = (described interactions of k's
    users with an item of category c) / (described interactions of k's users), and ``lift`` = share / the same
    share over all users' described interactions: 2 means the intent's users pick the category twice as often
    as everybody does. An item of several categories counts for each (shares of an intent may sum over 1).
    Categories seen fewer than ``min_count`` times within an intent are left out. Returns intent, category,
    count, share, lift: the ``top`` categories of each intent by lift (ties: more interactions first; the lift is
    one division of exact integer products, as in :func:`item_lift`, so that equal lifts tie exactly).
    """
    totals, counts = _category_counts(np.asarray(intents)[users], items, categories)
    described = int(totals["total"].sum())
    overall = counts.group_by("category").agg(pl.col("count").sum().alias("category_total"))
    return (
        counts.filter(pl.col("count") >= min_count)
        .join(totals, on="group").join(overall, on="category")
        .with_columns(share=pl.col("count") / pl.col("total"))
        .with_columns(lift=_ratio(("count", described), ("total", "category_total")))
        .rename({"group": "intent"})
        .sort(["intent", "lift", "count", "category"], descending=[False, True, True, False])
        .group_by("intent", maintain_order=True).head(top)
        .select("intent", "category", "count", "share", "lift")
    )


@dataclass(frozen=True)
class CategoryPurity:
    """Category purity of the intents beside the same for shuffled assignments (see :func:`category_purity`)."""

    purity: float
    shuffled: float  # mean over the shuffles
    shuffled_std: float  # their sample standard deviation (n - 1); NaN for fewer than 2 shuffles
    shuffles: int
    per_intent: pl.DataFrame  # intent, users, interactions, main_category, purity


def _purity(intents: np.ndarray, user_totals: pl.DataFrame, user_counts: pl.DataFrame) -> tuple[float, pl.DataFrame]:
    assigned = pl.DataFrame({"group": np.arange(len(intents)), "intent": np.asarray(intents)})
    sizes = user_totals.join(assigned, on="group").group_by("intent").agg(
        users=pl.len(), interactions=pl.col("total").sum())
    main = (
        user_counts.join(assigned, on="group").group_by("intent", "category").agg(pl.col("count").sum())
        .sort(["intent", "count", "category"], descending=[False, True, False])
        .group_by("intent", maintain_order=True).first()
    )
    per_intent = (
        sizes.join(main, on="intent")
        .with_columns(purity=pl.col("count") / pl.col("interactions"))
        .select("intent", "users", "interactions", pl.col("category").alias("main_category"), "purity")
        .sort("intent")
    )
    weights = per_intent["users"].to_numpy().astype(np.float64)
    return float((per_intent["purity"].to_numpy() * weights).sum() / weights.sum()), per_intent


def category_purity(intents: np.ndarray, users: np.ndarray, items: np.ndarray, categories: pl.DataFrame,
                    shuffles: int = 5, seed: int = 0) -> CategoryPurity | None:
    """How much the intents group users by category (genre), against chance.

    ``intents[u]`` is user u's intent; ``users``/``items`` list the interactions; ``categories`` has one row per
    (``item``, ``category``) pair. Only described interactions count (with an item that has a category), and
    only users with one. The purity of intent k is the share of its users' described interactions that are with
    an item of its most frequent category: max over c of (described interactions of k's users with category c)
    / (described interactions of k's users). The category purity of the intents is the mean of the intents'
    purities weighted by their users: sum_k users_k * purity_k / sum_k users_k. ``shuffled`` is the same for a
    random permutation of the intents of the users that count (the same intent sizes among them), averaged over
    ``shuffles`` permutations drawn with ``seed``: what intents that know nothing of the users would score (more
    than the share of the most common category, since small intents are purer by chance). None without any
    described interaction.
    """
    user_totals, user_counts = _category_counts(users, items, categories)
    if user_totals.is_empty():
        return None
    purity, per_intent = _purity(intents, user_totals, user_counts)
    rng = np.random.default_rng(seed)
    counted = np.sort(user_totals["group"].to_numpy())  # in user order: the same draws give the same shuffle

    def shuffled() -> np.ndarray:  # only among the users that count: over all, their intents' sizes changed
        permuted = np.array(intents, copy=True)
        permuted[counted] = rng.permutation(permuted[counted])
        return permuted

    chance = np.array([_purity(shuffled(), user_totals, user_counts)[0] for _ in range(shuffles)])
    return CategoryPurity(purity, float(chance.mean()) if shuffles else float("nan"),
                          float(chance.std(ddof=1)) if shuffles > 1 else float("nan"), shuffles, per_intent)
