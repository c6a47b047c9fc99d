"""Training: the ``auto`` preset, batches, the objective, the loop, its state and checkpoints, warm start, devices,
data-parallel launch."""
