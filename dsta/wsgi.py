import os

from django.core.wsgi import get_wsgi_application

from dsta.kernel.installation_keys import settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dsta.settings")
settings_or_exit()  # missing or weak keys: their message and exit 1, not a traceback
application = get_wsgi_application()
