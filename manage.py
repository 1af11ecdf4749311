#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
    from django.core.management import execute_from_command_line

    from dsta.kernel.installation_keys import settings_or_exit

    settings_or_exit()  # missing or weak keys: their message and exit 1, not a traceback

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
