"""Each intent's top items by lift beside the same by the lower bound of the lift's 95% interval (the profiles' rank).

Reads a pipeline data folder after a daily run (its warehouse's user_intents, sequences, item_index and
item_metadata) and prints, per intent, the ``--top`` items of both rankings with their counts (the intent's
interactions with the item / all the item's interactions), lifts, bounds and titles:

    python benchmarks/intent_profiles.py --data-dir data-ml-100k --top 8

The profiles rank by the bound (``elcrec_core.evaluate.statistics.item_lift``); BENCHMARKS.md, "Intent profiles".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from elcrec_core.evaluate.statistics import item_lift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the pipeline's ELCREC_DATA_DIR")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    with duckdb.connect(str(args.data_dir / "warehouse.duckdb"), read_only=True) as con:
        intents = con.sql("SELECT user_id, intent FROM user_intents WHERE intent IS NOT NULL").pl()
        events = (con.sql("SELECT user_id, items FROM sequences").pl().join(intents, on="user_id")
                  .explode("items"))
        titles = con.sql("SELECT i.item_index AS item, m.title FROM item_index i "
                         "LEFT JOIN item_metadata m USING (item_id)").pl()
    users = events["user_id"].cast(pl.Categorical).to_physical().to_numpy()
    per_user = events.select(pl.col("user_id").cast(pl.Categorical).to_physical(), "intent").unique()
    intent_of = np.zeros(int(users.max()) + 1, dtype=np.int64)
    intent_of[per_user["user_id"].to_numpy()] = per_user["intent"].to_numpy()
    totals = events.group_by(pl.col("items").alias("item")).len("item_total")
    table = (item_lift(intent_of, users, events["items"].to_numpy(), top=10**9)
             .join(totals, on="item").join(titles, on="item", how="left", maintain_order="left"))
    print(f"{'by lift':>64} | by the lift's lower bound")
    for intent in sorted(table["intent"].unique().to_list()):
        rows = table.filter(intent=intent).sort(["lift_low", "item"], descending=[True, False])  # as item_lift
        users_in = int((per_user["intent"] == intent).sum())
        print(f"intent {intent}: {users_in} users, {len(rows)} items its users picked 3 times or more")
        by_lift = rows.sort(["lift", "count", "item"], descending=[True, True, False]).head(args.top)
        for a, b in zip(by_lift.iter_rows(named=True), rows.head(args.top).iter_rows(named=True)):
            print(f"  {_line(a, 'lift')} | {_line(b, 'lift_low')} (lift {b['lift']:.2f})")


def _line(row: dict, key: str) -> str:
    """One item: the ranking's value, its count in the intent of all its interactions, its title (else index)."""
    share = f"{row['count']}/{row['item_total']}"
    return f"{row[key]:5.2f} {share:>8} {str(row['title'] or row['item'])[:36]:36}"


if __name__ == "__main__":
    main()
