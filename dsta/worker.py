"""Entry module for `dramatiq dsta.worker`: sets Django up, which declares every domain's actors."""

import os

import django

from dsta.kernel.installation_keys import settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
settings_or_exit()  # missing or weak keys: their message and exit 1, not a traceback
django.setup()

import gc  # noqa: E402

# What boot loaded (Django, every domain, their caches) lives as long as the process: kept out of the collector's
# full passes, which otherwise walk it all whenever one is due (70-106 ms a pass, stalling the batch or ranking
# in hand; 12-18 ms frozen: bench/optimisation_pool.py's workers, 2026-12-03).
gc.collect()
gc.freeze()
