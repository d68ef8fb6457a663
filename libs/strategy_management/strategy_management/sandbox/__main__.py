"""Entry point of the sandbox child: `python -I -B -m strategy_management.sandbox` (started by the runner)."""

import sys

from strategy_management.sandbox.child import main

sys.exit(main())
