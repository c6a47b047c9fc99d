"""Settings: the experiment's settings schema and the paper's named presets."""
