from django.db import migrations

from dsta.kernel.sql import tune_hot_rows


class Migration(migrations.Migration):
    dependencies = [("exchange", "0004_paper_fill_by_order")]

    # every paper order locks the account row and updates two balance rows
    operations = [tune_hot_rows("paper_account"), tune_hot_rows("paper_balance")]
