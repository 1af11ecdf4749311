from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "dsta.trading"
    label = "trading"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dsta.trading import actors  # noqa: F401  (registers this domain's actors and event handlers)
        from dsta.trading.market_subscriptions import connect

        connect()  # enabled instances' markets go to the live feed
