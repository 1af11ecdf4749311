"""TA-Lib loads without pandas in a single-threaded process, and with its Series support where pandas is there."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, threading
{before}
from dsta.kernel.ta_lib import load_talib
import numpy as np
talib = load_talib()
print("pandas loaded:", "pandas" in sys.modules)
print("sma:", talib.SMA(np.arange(6.0), timeperiod=3)[2:].tolist())
import pandas
print("pandas importable afterwards:", pandas.Series([1.0]).sum() == 1.0)
try:
    print("series:", type(talib.SMA(pandas.Series(np.arange(6.0)), timeperiod=3)).__name__)
except TypeError:
    print("series: refused")
"""


def _run(before: str) -> str:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before)], capture_output=True, text=True, timeout=60, check=False
    )
    assert probe.returncode == 0, probe.stderr
    return probe.stdout


def test_a_single_threaded_process_gets_talib_without_loading_pandas() -> None:
    out = _run("")
    assert "pandas loaded: False" in out
    assert "sma: [1.0, 2.0, 3.0, 4.0]" in out
    assert "pandas importable afterwards: True" in out  # hiding it for one import left nothing behind
    assert "series: refused" in out  # the trade: arrays only, which is all DSTA passes


def test_with_another_thread_running_talib_is_imported_as_it_is_series_included() -> None:
    out = _run("threading.Thread(target=threading.Event().wait, daemon=True).start()")
    assert "pandas loaded: True" in out
    assert "series: Series" in out


def test_where_pandas_is_already_loaded_talib_keeps_its_series_support() -> None:
    out = _run("import pandas")
    assert "series: Series" in out
