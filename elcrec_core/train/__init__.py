"""Training: batches, the loop, its state and checkpoints, warm start, devices, data-parallel launch."""
