from django.db import migrations

from dsta.kernel.sql import tune_hot_rows


class Migration(migrations.Migration):
    dependencies = [("trading", "0006_open_orders_index")]

    # every fill updates its market's position row
    operations = [tune_hot_rows("position")]
