from django.apps import AppConfig


class DataConfig(AppConfig):
    name = "dsta.data"
    label = "data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsta.data import actors  # noqa: F401  (registers this domain's actors and event handlers)
