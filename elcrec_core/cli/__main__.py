"""``python -m elcrec_core.cli``: the ``elcrec`` command (what ``torchrun -m`` starts)."""

import sys

from elcrec_core.cli.entry import main

sys.exit(main())
