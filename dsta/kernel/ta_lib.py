"""TA-Lib, imported without the pandas it does not need here.

`import talib` imports pandas (and polars when present) only to let its functions take Series; that is about
0.4 s of every command's start-up. DSTA passes float64 arrays only, so a process that has not loaded pandas
imports talib with pandas and polars hidden for that one import. Only while the process runs a single thread:
hiding a module from a concurrent import elsewhere would make that import fail. A worker with threads imports
talib as it is.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

_SERIES_LIBRARIES = ("pandas", "polars")


def load_talib() -> ModuleType:
    if "talib" in sys.modules:  # an import statement, not sys.modules: it waits for another thread's import
        import talib as loaded

        return loaded
    hidden = [name for name in _SERIES_LIBRARIES if name not in sys.modules] if threading.active_count() == 1 else []
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ModuleNotFoundError
    try:
        import talib as module
    finally:
        for name in hidden:
            if sys.modules.get(name) is None:
                del sys.modules[name]
    return module
