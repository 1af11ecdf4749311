"""Entry module for `dramatiq dsta.worker`: sets Django up, which declares every domain's actors."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
django.setup()
