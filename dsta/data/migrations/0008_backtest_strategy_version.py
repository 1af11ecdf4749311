from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("data", "0007_tracked_markets"),
    ]

    operations = [
        migrations.AddField(
            model_name="backtestjob",
            name="strategy_version",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
    ]
