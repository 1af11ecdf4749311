"""What a worker process holds after `dsta.worker` boots it (dramatiq imports that module in each process)."""

from __future__ import annotations

import subprocess
import sys

from dsta.kernel.tests.processes import child_env

_BOOT = "import gc, dsta.worker; print(gc.get_freeze_count())"


def test_the_worker_boot_keeps_what_it_loaded_out_of_the_collectors_full_passes():
    frozen = subprocess.run(
        [sys.executable, "-c", _BOOT], env=child_env(), capture_output=True, text=True, timeout=120, check=True
    )
    # Django and every domain: hundreds of thousands of objects a full pass would walk otherwise
    assert int(frozen.stdout.strip().splitlines()[-1]) > 50_000
