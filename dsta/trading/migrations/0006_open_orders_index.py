from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("trading", "0005_vwap_drawdown_stops")]

    operations = [
        # The pre-trade check counts open orders on every order; a partial index holds only those (a handful),
        # where the status index holds every order ever placed.
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                fields=["exchange"],
                condition=models.Q(status__in=["submitted", "partially_filled"]),
                name="order_open_by_exchange",
            ),
        ),
    ]
