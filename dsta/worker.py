"""Entry module for `dramatiq dsta.worker`: sets Django up, which declares every domain's actors."""

import os

import django

from dsta.kernel.installation_keys import settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
settings_or_exit()  # missing or weak keys: their message and exit 1, not a traceback
django.setup()
