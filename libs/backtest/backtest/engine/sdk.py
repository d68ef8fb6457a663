"""`backtest.engine.sdk` is `quant.sdk`: this module replaces itself with it on import."""

import sys

from quant import sdk

sys.modules[__name__] = sdk
