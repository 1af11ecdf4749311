from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dsta.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsta.core import actors  # noqa: F401  (registers actors and event handlers; OpenAPI schemes: urls.py)
