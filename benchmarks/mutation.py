"""Mutation testing of the modules that compute what users read (issue #15): mutmut changes one operator, constant
or call at a time in them and runs the tests that reach the changed function; a mutant that no test fails
*survives*. Prints, per module, the mutants and how many were killed, survived, timed out or reached no test, and
writes the list of survivors.

The modules and the tests are mutmut's settings in pyproject.toml (``[tool.mutmut]``); mutmut keeps its work in
``mutants/`` (git-ignored) and resumes where it stopped, so the script can be run again after an interruption or
after a test is added (it re-checks only what changed). Not part of the default test run: a full pass runs the
selected tests once per mutant (hours on 2 cores). See TESTING.md for the results and the survivors' analysis.

    .venv/bin/python -m pip install -c requirements.lock -e ".[mutation]"
    .venv/bin/python benchmarks/mutation.py                        # every module in [tool.mutmut] only_mutate
    .venv/bin/python benchmarks/mutation.py --modules statistics promotion --max-children 2
    .venv/bin/python benchmarks/mutation.py --recheck              # survivors again, after adding tests
    .venv/bin/python benchmarks/mutation.py --summary-only         # the table from the last run's results
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# mutmut's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code), grouped as this report counts them
STATUS = {1: "killed", 3: "killed", 37: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
COLUMNS = ("killed", "survived", "timeout", "no tests", "not checked", "other")


def mutated_modules() -> list[str]:
    """The files of ``[tool.mutmut] only_mutate`` in pyproject.toml, e.g. ``elcrec_core/evaluate/statistics.py``."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]


def outcomes(module: str) -> dict[str, str]:
    """{mutant name: status} of ``module`` from mutmut's record ``mutants/<module>.meta`` ({} before a run)."""
    meta = REPO / "mutants" / f"{module}.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: STATUS.get(code, "other") for name, code in codes.items()}


def summary(modules: list[str]) -> list[dict]:
    """One row per module: mutants, counts per status and the survival rate (survived / (killed + survived))."""
    rows = []
    for module in modules:
        counts = Counter(outcomes(module).values())
        decided = counts["killed"] + counts["survived"]
        rows.append({"module": module, "mutants": sum(counts.values()), **{c: counts[c] for c in COLUMNS},
                     "survival": round(counts["survived"] / decided, 3) if decided else None})
    return rows


def print_table(rows: list[dict]) -> None:
    header = ("module", "mutants", *COLUMNS, "survival")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        survival = "-" if row["survival"] is None else f"{100 * row['survival']:.1f}%"
        print("| " + " | ".join([row["module"], str(row["mutants"]), *(str(row[c]) for c in COLUMNS), survival])
              + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="+", metavar="NAME",
                        help="only these modules of only_mutate, by file name without .py (default: all)")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                        help="mutants tested at once (default: the CPUs less one)")
    parser.add_argument("--recheck", action="store_true",
                        help="test again the mutants that survived, reached no test or timed out in the last run "
                             "(after tests were added; mutmut keeps other results)")
    parser.add_argument("--summary-only", action="store_true", help="print the last run's table, run nothing")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "mutation",
                        help="folder for summary.json and survivors.txt (default: runs/mutation)")
    args = parser.parse_args(argv)
    modules = mutated_modules()
    chosen = [m for m in modules if Path(m).stem in args.modules] if args.modules else modules
    unknown = set(args.modules or ()) - {Path(m).stem for m in modules}
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(sorted(unknown))}")
    if not args.summary_only:
        # mutant names are module paths with dots, then the function:
        # elcrec_core.evaluate.statistics.x_bootstrap__mutmut_1
        names = [m.removesuffix(".py").replace("/", ".") + ".*" for m in chosen] if args.modules else []
        if args.recheck:
            names = sorted(name for m in chosen for name, status in outcomes(m).items()
                           if status not in ("killed", "not checked"))
            if not names:
                print("nothing to recheck")
        env = {**os.environ, "ELCREC_SHARED_DIR": str(REPO.parent / "shared")}
        mutmut = Path(sys.executable).with_name("mutmut")
        if names or not args.recheck:
            code = subprocess.run([str(mutmut), "run", "--max-children", str(args.max_children), *names],
                                  cwd=REPO, env=env).returncode
            if code:
                print(f"mutmut run exited with {code}", file=sys.stderr)
    rows = summary(modules)  # every module's latest results, also those of earlier runs
    print_table(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    survivors = sorted(name for m in modules for name, status in outcomes(m).items() if status == "survived")
    (args.out / "survivors.txt").write_text("".join(f"{name}\n" for name in survivors))
    print(f"{len(survivors)} survivors in {args.out / 'survivors.txt'} (inspect one: mutmut show NAME)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
