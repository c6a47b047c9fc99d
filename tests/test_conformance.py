"""The evaluator and encoder reproduce the paper's published Beauty figures with the authors' checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

PUBLISHED = {"HR@5": 0.0529, "NDCG@5": 0.0355, "HR@20": 0.1079, "NDCG@20": 0.0509}


def test_reference_checkpoint_reproduces_published_figures(shared):
    cmd = [
        sys.executable, "-m", "elcrec_core.cli", "evaluate",
        "--data", str(shared / "data" / "Beauty.txt"),
        "--checkpoint", str(shared / "reference" / "ELCRec-Beauty-1.pt"),
        "--device", "cpu", "--json",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    metrics = json.loads(out.strip().splitlines()[-1])
    assert set(metrics) == {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"}
    for name, published in PUBLISHED.items():
        assert abs(metrics[name] - published) <= 0.0002, (name, metrics[name], published)
