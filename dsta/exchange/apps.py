from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "dsta.exchange"
    label = "exchange"
    default_auto_field = "django.db.models.BigAutoField"
    # No actors.py: exchange consumes no event and runs no dramatiq actor (it publishes through its outbox).
