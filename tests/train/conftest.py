"""The training tests' small synthetic data (600 users, 120 items, 6 planted intents)."""

import pytest

from elcrec_core.data.sequences import Sequences, sequences_from_events
from elcrec_core.data.synthetic import SyntheticConfig, generate


@pytest.fixture(scope="module")
def seqs() -> Sequences:
    data = generate(SyntheticConfig(n_users=600, n_items=120, n_intents=6, seed=3))
    return sequences_from_events(data.events)[0]
