from django.apps import AppConfig


class MLConfig(AppConfig):
    name = "dsta.ml"
    label = "ml"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsta.ml import actors  # noqa: F401  (registers this domain's actors and event handlers)
