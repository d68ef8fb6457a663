"""Entry point of the sandbox child: `python -I -B -m strategy_management.sandbox` (started by the runner).

Once its answer is written the child ends with `os._exit`: the interpreter's teardown (polars' thread pool,
every module) would cost ~50–150 ms and the runner waits for the exit status."""

import os

from strategy_management.sandbox.child import main

os._exit(main())
