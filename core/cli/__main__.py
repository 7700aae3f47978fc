"""``python -m payer_rules.cli``."""

import sys

from . import main

sys.exit(main())
