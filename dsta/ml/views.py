from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.ml import api, services
from dsta.ml.contracts import MLInputError, TrainingJobInfo
from dsta.ml.serializers import (
    ABSplitInfoSerializer,
    ABSplitSerializer,
    FeatureMatrixInfoSerializer,
    FeaturesExtractSerializer,
    FeaturesQuerySerializer,
    FeaturesSerializer,
    ImportanceQuerySerializer,
    ImportanceSerializer,
    ModelInfoSerializer,
    ModelsQuerySerializer,
    PredictBatchResultSerializer,
    PredictBatchSerializer,
    PredictionSerializer,
    PredictSerializer,
    RollbackSerializer,
    TrainingJobSerializer,
    TrainingJobStatusSerializer,
    TrainingMetricsSerializer,
    TrainSerializer,
)

READ = "ml.read"
TRAIN = "ml.train"
MANAGE = "ml.model.manage"
PREDICT = "ml.predict"


def _symbol(value: str) -> str:
    """`BTC-USDT`, `BTC_USDT` and `BTC/USDT` all name BTC/USDT (a slash cannot sit in one path segment)."""
    return re.sub(r"[-_]", "/", value.upper(), count=1)


def _valid(serializer_class: type[drf_serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class FeaturesView(APIView):
    required_permission = READ

    @extend_schema(parameters=[FeaturesQuerySerializer], responses=FeaturesSerializer)
    def get(self, request: Request, symbol: str) -> Response:
        query = _valid(FeaturesQuerySerializer, request.query_params)
        table = api.features_get(
            exchange=query["exchange"],
            symbol=_symbol(symbol),
            timeframe=query["timeframe"],
            feature_set=query["feature_set"],
            version=query["version"],
            limit=query["limit"],
        )
        if table is None:
            raise NotFound("no features extracted for this series and feature set; POST features/extract first")
        times = table.open_time.astype("datetime64[ms]").astype(str)
        rows = [
            {
                "open_time": f"{time}Z",
                **{
                    name: (None if value != value else float(value))
                    for name, value in zip(table.info.columns, row, strict=True)
                },
            }
            for time, row in zip(times, table.values.tolist(), strict=True)
        ]
        return Response({"info": asdict(table.info), "rows": rows})


class FeaturesExtractView(APIView):
    required_permission = TRAIN

    @extend_schema(request=FeaturesExtractSerializer, responses={201: FeatureMatrixInfoSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(FeaturesExtractSerializer, request.data)
        info = api.features_extract(
            exchange=data["exchange"],
            symbol=_symbol(data["symbol"]),
            timeframe=data["timeframe"],
            feature_set=data["feature_set"],
            version=data["version"],
            start=data["start"],
            end=data["end"],
        )
        return Response(asdict(info), status=status.HTTP_201_CREATED)


def _train(request: Request) -> Response:
    data = _valid(TrainSerializer, request.data)
    job = api.training_start(
        kind=data["kind"],
        model_name=data["model_name"],
        exchange=data["exchange"],
        symbol=_symbol(data["symbol"]),
        timeframe=data["timeframe"],
        feature_set=data["feature_set"],
        feature_set_version=data["feature_set_version"],
        params=data["params"],
        requested_by=request.user.pk,
        wait=data["wait"],
    )
    return Response(asdict(job), status=status.HTTP_200_OK if data["wait"] else status.HTTP_202_ACCEPTED)


# A training request: 202 with the queued job, or with `wait` 200 with the job once it has run.
TRAINING = extend_schema(request=TrainSerializer, responses={200: TrainingJobSerializer, 202: TrainingJobSerializer})


class TrainView(APIView):
    required_permission = TRAIN

    @TRAINING
    def post(self, request: Request) -> Response:
        return _train(request)


def _job(job_id: str) -> TrainingJobInfo:
    job = api.training_job_get(job_id=job_id)
    if job is None:
        raise NotFound("no such training job")
    return job


class TrainingStatusView(APIView):
    required_permission = READ

    @extend_schema(responses=TrainingJobStatusSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = _job(str(job_id))
        body = asdict(job)
        body.pop("metrics")
        return Response(body)


class TrainingMetricsView(APIView):
    required_permission = READ

    @extend_schema(responses=TrainingMetricsSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = _job(str(job_id))
        return Response({"job_id": job.job_id, "status": job.status, "model_id": job.model_id, "metrics": job.metrics})


class ModelListView(APIView):
    required_permission = {"GET": READ, "POST": MANAGE}

    @extend_schema(parameters=[ModelsQuerySerializer], responses=ModelInfoSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = _valid(ModelsQuerySerializer, request.query_params)
        return Response([asdict(model) for model in api.models_list(name=query["name"])])

    @TRAINING
    def post(self, request: Request) -> Response:
        """A new model version is a training run: it registers in staging when the job succeeds."""
        return _train(request)


class ModelDetailView(APIView):
    required_permission = {"GET": READ, "DELETE": MANAGE}

    @extend_schema(responses=ModelInfoSerializer)
    def get(self, request: Request, model_id: int) -> Response:
        model = api.model_get(model_id=model_id)
        if model is None:
            raise NotFound("no such model")
        return Response(asdict(model))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, model_id: int) -> Response:
        deleted = api.model_delete(model_id=model_id)
        if not deleted:
            raise NotFound("no such model")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelPromoteView(APIView):
    required_permission = MANAGE

    @extend_schema(request=None, responses=ModelInfoSerializer)
    def post(self, request: Request, model_id: int) -> Response:
        if api.model_get(model_id=model_id) is None:
            raise NotFound("no such model")
        return Response(asdict(api.model_promote(model_id=model_id)))


class ModelRollbackView(APIView):
    required_permission = MANAGE

    @extend_schema(request=RollbackSerializer, responses=ModelInfoSerializer)
    def post(self, request: Request) -> Response:
        data = _valid(RollbackSerializer, request.data)
        return Response(asdict(api.model_rollback(name=data["name"])))


class ImportanceView(APIView):
    required_permission = READ

    @extend_schema(parameters=[ImportanceQuerySerializer], responses=ImportanceSerializer)
    def get(self, request: Request) -> Response:
        query = _valid(ImportanceQuerySerializer, request.query_params)
        model = services.model_resolve(model_id=query["model_id"], name=query["name"] or None)
        importance = model.metrics.get("permutation_importance")
        if importance is None:
            raise NotFound(f"{model.kind} models carry no permutation importance")
        return Response({"model_id": model.pk, "name": model.name, "version": model.version, "importance": importance})


def _predict(data: dict[str, Any]) -> dict[str, Any]:
    result = api.predict(
        model_id=data["model_id"],
        name=data["name"] or None,
        exchange=data["exchange"],
        symbol=_symbol(data["symbol"]) if data["symbol"] else None,
        timeframe=data["timeframe"],
        at=data["at"],
    )
    return asdict(result)


class PredictView(APIView):
    required_permission = PREDICT

    @extend_schema(request=PredictSerializer, responses={201: PredictionSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(PredictSerializer, request.data)
        return Response(_predict(data), status=status.HTTP_201_CREATED)


class PredictBatchView(APIView):
    required_permission = PREDICT

    @extend_schema(request=PredictBatchSerializer, responses=PredictBatchResultSerializer)
    def post(self, request: Request) -> Response:
        """Each request is answered on its own: a prediction, or the errors that prevented it."""
        data = _valid(PredictBatchSerializer, request.data)
        results: list[dict[str, Any]] = []
        for item in data["requests"]:
            try:
                results.append({"prediction": _predict(dict(item))})
            except MLInputError as exc:
                results.append({"errors": exc.errors})
        return Response({"results": results})


class PredictionDetailView(APIView):
    required_permission = READ

    @extend_schema(responses=PredictionSerializer)
    def get(self, request: Request, prediction_id: str) -> Response:
        result = api.prediction_get(prediction_id=str(prediction_id))
        if result is None:
            raise NotFound("no such prediction")
        return Response(asdict(result))


class ABSplitView(APIView):
    required_permission = MANAGE

    @extend_schema(request=ABSplitSerializer, responses=ABSplitInfoSerializer)
    def put(self, request: Request, name: str) -> Response:
        data = _valid(ABSplitSerializer, request.data)
        split = api.ab_split_set(
            name=name, model_a_id=data["model_a"], model_b_id=data["model_b"], share_b=data["share_b"]
        )
        return Response(asdict(split))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, name: str) -> Response:
        if not api.ab_split_clear(name=name):
            raise NotFound("no A/B split for this model name")
        return Response(status=status.HTTP_204_NO_CONTENT)
