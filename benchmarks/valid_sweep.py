"""Train ELCRec (ours), its ablation and variants with several seeds, and compare them on the valid split only.

The test split's figures are never read or printed, so a variant chosen here is not chosen on test (issue #11's
rule); the training loop still ranks it and stores it in each run's folder (``metrics.json``, ``best.pt``), as for
any training run, where nothing here looks.

A variant is ``name`` or ``name:key=value,key=value``: ``control`` is ELCRec (ours), preset ``auto`` as
:func:`quality_matrix.ours_config` builds it for the data; ``sasrec_ce`` its SASRec ablation
(:func:`elcrec_core.evaluate.baselines.sasrec_config`); any other name is the control with the given settings
(``model.n_intents=256``, ``train.temperature=0.5``; values are read as JSON, else kept as text), and ``ablation``
as a key (``name:ablation,train.lr=0.002``) starts from the ablation instead. Every (data, variant, seed) run trains
in its own process (``--jobs`` at a time: on a GPU several small runs share the device) into
``--out``/<data>/<variant>/seed<seed>/ and prints one line; a run whose ``valid.json`` exists is read back, not
retrained (its line says so), and refused where it holds other settings than the variant now gives.

The summary gives, per data set and variant, the best valid NDCG@20 of each seed, their mean and standard deviation,
and the mean paired difference from the control over the seeds both ran (with its standard error), so a variant's
gain can be set against the spread of the seeds.

    python benchmarks/valid_sweep.py --data beauty sports --seeds 2024 1 2 \\
        --variant control --variant sasrec_ce --variant intents256:model.n_intents=256 --jobs 6 --json sweep.json

Data sets are :data:`quality_matrix.DATASETS`, read from ``--shared`` as there (:func:`read_data`). ``--precision
fp32`` (the default) keeps the figures comparable with the quality matrix's CPU cells.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from quality_matrix import DATASETS, SHARED, load_dataset, ours_config

from elcrec_core.config.settings import ExperimentConfig, merge_overrides
from elcrec_core.data.sequences import Sequences, read_sequence_file
from elcrec_core.evaluate.baselines import sasrec_config

BUILT_IN = ("control", "sasrec_ce")
VALID = "valid.json"


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``name[:key=value,...]`` as (name, {key: value}); raises ValueError for a key without ``model.`` or
    ``train.`` (other than ``ablation``) or a built-in name given settings."""
    name, _, rest = text.partition(":")
    settings: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if key == "ablation" and not eq:
            settings[key] = True
            continue
        if not eq or key.split(".")[0] not in ("model", "train") or key.count(".") != 1:
            raise ValueError(f"variant {text!r}: {part!r} is not model.<field>=<value> or train.<field>=<value>")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    if not name:
        raise ValueError(f"variant {text!r}: give it a name before the ':' (such as intents256:model.n_intents=256)")
    if name in BUILT_IN and settings:
        raise ValueError(f"variant {text!r}: {name} is built in and takes no settings; give the variant another "
                         "name (such as wide:model.hidden=128)")
    return name, settings


def check_variant(text: str, precision: str) -> None:
    """Raise ValueError where variant ``text`` is malformed or names an unknown setting or a value the settings
    refuse (checked on the reference settings, before any data is read)."""
    name, settings = parse_variant(text)
    try:
        variant_config(ExperimentConfig(), name, settings, 0, precision).model_config(100)
    except ValueError as exc:
        raise ValueError(f"variant {text!r}: {exc}") from None


def variant_config(base: ExperimentConfig, name: str, settings: dict[str, Any], seed: int,
                   precision: str) -> ExperimentConfig:
    """The settings of one run: ``base`` (ELCRec (ours) for the data), its ablation for ``sasrec_ce`` or the
    ``ablation`` key, the variant's settings, then ``seed`` and ``precision``."""
    exp = sasrec_config(base) if name == "sasrec_ce" or settings.get("ablation") else base
    model = {k.split(".")[1]: v for k, v in settings.items() if k.startswith("model.")}
    train = {k.split(".")[1]: v for k, v in settings.items() if k.startswith("train.")}
    return merge_overrides(exp, model, {**train, "seed": seed, "precision": precision})


def read_data(data_name: str, shared: Path) -> Sequences:
    """Data set ``data_name`` as the quality matrix reads it. The benchmark line format (Beauty, Sports) is read
    with :func:`read_sequence_file`, which gives the same item lists in the same order as the matrix's reader (checked
    on both) and needs no DuckDB (a GPU machine may lack it); other formats go through the matrix's reader."""
    spec = DATASETS[data_name]
    if spec.options.format == "sequence":
        return read_sequence_file(shared / spec.path)
    return load_dataset(data_name, shared, 2024).sequences


def run_one(data_name: str, shared: Path, variant: str, seed: int, precision: str, folder: Path,
            threads: int | None) -> dict[str, Any]:
    """Train one run (in a worker process, with ``threads`` torch CPU threads where given) and return its record;
    the test metrics ``train`` computes are dropped unread."""
    import torch

    from elcrec_core.train.device import select_device
    from elcrec_core.train.loop import train

    if threads:
        torch.set_num_threads(threads)

    name, settings = parse_variant(variant)
    done = folder / VALID
    if done.exists():
        stored = json.loads(done.read_text())
        if (stored["settings"], stored["precision"]) != (settings, precision):
            raise ValueError(f"{done} holds a run with settings {stored['settings']}, {stored['precision']}, not "
                             f"{settings}, {precision}: give the variant another name, or another --out")
        return {**stored, "read_back": True}
    seqs = read_data(data_name, shared)
    exp = variant_config(ours_config(seqs)[1], name, settings, seed, precision)
    began = time.perf_counter()
    result = train(seqs, exp, folder, resume=False, log=lambda _: None)
    record = {"data": data_name, "variant": name, "settings": settings, "seed": seed,
              "valid_NDCG@20": result.valid["NDCG@20"], "valid_HR@20": result.valid["HR@20"],
              "best_epoch": result.best_epoch, "epochs_run": len(result.history),
              "wall_seconds": time.perf_counter() - began, "device": str(select_device(exp.train.device)),
              "precision": precision}
    done.write_text(json.dumps(record, indent=1) + "\n")
    return record


def summarise(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per data set and variant: seeds' valid NDCG@20, mean, standard deviation, and the mean paired difference
    from ``control`` (same seeds) with its standard error (None with fewer than two shared seeds)."""
    by: dict[tuple[str, str], dict[int, float]] = {}
    for r in records:
        by.setdefault((r["data"], r["variant"]), {})[r["seed"]] = r["valid_NDCG@20"]
    out: dict[str, dict[str, Any]] = {}
    for (data_name, variant), scores in sorted(by.items()):
        values = list(scores.values())
        row: dict[str, Any] = {"seeds": scores, "mean": statistics.fmean(values),
                               "sd": statistics.stdev(values) if len(values) > 1 else None}
        control = by.get((data_name, "control"), {})
        diffs = [scores[s] - control[s] for s in scores if s in control]
        if variant != "control" and len(diffs) > 1:
            row["vs_control"] = statistics.fmean(diffs)
            row["vs_control_se"] = statistics.stdev(diffs) / len(diffs) ** 0.5
        out.setdefault(data_name, {})[variant] = row
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    """The summary as a Markdown table."""
    lines = ["| data | variant | valid NDCG@20 by seed | mean | sd | vs control (paired, ± se) |",
             "|---|---|---|---|---|---|"]
    for data_name, variants in summary.items():
        for variant, row in variants.items():
            seeds = ", ".join(f"{s}: {v:.4f}" for s, v in sorted(row["seeds"].items()))
            sd = f"{row['sd']:.4f}" if row["sd"] is not None else "-"
            diff = (f"{row['vs_control']:+.4f} ± {row['vs_control_se']:.4f}" if "vs_control" in row else "-")
            lines.append(f"| {data_name} | {variant} | {seeds} | {row['mean']:.4f} | {sd} | {diff} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", nargs="+", choices=list(DATASETS), required=True, help="data sets")
    p.add_argument("--variant", action="append", required=True,
                   help="control, sasrec_ce, or name:model.x=v,train.y=w (repeatable; control gives the paired "
                        "differences)")
    p.add_argument("--seeds", nargs="+", type=int, default=[2024, 1, 2],
                   help="training seeds (the synthetic data itself is always generated with seed 2024)")
    p.add_argument("--shared", type=Path, default=SHARED, help="the data folder")
    p.add_argument("--out", type=Path, default=Path("runs/valid_sweep"), help="the runs' folders")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32", help="training precision")
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    p.add_argument("--threads", type=int, help="torch CPU threads of each run (default: torch's choice)")
    p.add_argument("--json", type=Path, help="also write the records and the summary here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        for text in args.variant:
            check_variant(text, args.precision)
        variants = [(text, parse_variant(text)[0]) for text in args.variant]
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    names = [name for _, name in variants]
    if len(set(names)) < len(names):  # one folder per name: two runs of it would write into each other
        raise SystemExit(f"variant names repeat: {names}; give each variant its own name")
    jobs = [(d, text, seed, args.out / d / name / f"seed{seed}") for d in dict.fromkeys(args.data)
            for text, name in variants for seed in dict.fromkeys(args.seeds)]
    records, failed = [], 0
    # spawn: a CUDA context does not survive fork
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_one, d, args.shared, text, seed, args.precision, folder, args.threads):
                   (d, text, seed) for d, text, seed, folder in jobs}
        for future in as_completed(futures):
            try:
                r = future.result()
            except Exception as exc:  # one failed run is reported; the others go on
                failed += 1
                print(f"{futures[future]} failed: {exc!r}", file=sys.stderr, flush=True)
                continue
            shown = f"read back from {args.out}" if r.pop("read_back", False) else f"{r['wall_seconds']:.0f}s"
            records.append(r)
            print(f"{r['data']} {r['variant']} seed {r['seed']}: valid NDCG@20 {r['valid_NDCG@20']:.4f} "
                  f"(best epoch {r['best_epoch']} of {r['epochs_run']}, {shown})", flush=True)
            write_json(args.json, records)  # after each run: a sweep stopped at a time limit keeps what it ran
    print(table(summarise(records)))
    if "control" not in names:
        print("no control variant: no paired differences (add --variant control)")
    return 1 if failed else 0


def write_json(path: Path | None, records: list[dict[str, Any]]) -> None:
    """The records and their summary as JSON at ``path`` (nothing where None)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"records": records, "summary": summarise(records)}, indent=1) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
