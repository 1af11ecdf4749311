from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "dsta.web"
    label = "web"
    verbose_name = "Web app"
