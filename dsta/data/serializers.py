from rest_framework import serializers


class SeriesSummarySerializer(serializers.Serializer):
    exchange = serializers.CharField()
    symbol = serializers.CharField()
    timeframe = serializers.CharField()
    candles = serializers.IntegerField()
    first_open_time = serializers.DateTimeField()
    last_open_time = serializers.DateTimeField()
