from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dsta.core"
    label = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsta.core import actors, schema  # noqa: F401  (registers actors, event handlers, OpenAPI schemes)
