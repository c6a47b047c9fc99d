"""Settings: the experiment's dataclasses, the paper's named presets and the ``auto`` preset."""
