from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "dsta.exchange"
    label = "exchange"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsta.exchange import actors  # noqa: F401  (registers this domain's actors and event handlers)
