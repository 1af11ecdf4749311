from django.urls import path

from dsta.ml import views

urlpatterns = [
    path("features/extract", views.FeaturesExtractView.as_view(), name="ml-features-extract"),
    path("features/<str:symbol>", views.FeaturesView.as_view(), name="ml-features"),
    path("importance", views.ImportanceView.as_view(), name="ml-importance"),
    path("train", views.TrainView.as_view(), name="ml-train"),
    path("training/<uuid:job_id>/status", views.TrainingStatusView.as_view(), name="ml-training-status"),
    path("training/<uuid:job_id>/metrics", views.TrainingMetricsView.as_view(), name="ml-training-metrics"),
    path("models", views.ModelListView.as_view(), name="ml-models"),
    path("models/rollback", views.ModelRollbackView.as_view(), name="ml-model-rollback"),
    path("models/<int:model_id>", views.ModelDetailView.as_view(), name="ml-model-detail"),
    path("models/<int:model_id>/promote", views.ModelPromoteView.as_view(), name="ml-model-promote"),
    path("ab-splits/<str:name>", views.ABSplitView.as_view(), name="ml-ab-split"),
    path("predict", views.PredictView.as_view(), name="ml-predict"),
    path("predict/batch", views.PredictBatchView.as_view(), name="ml-predict-batch"),
    path("predictions/<uuid:prediction_id>", views.PredictionDetailView.as_view(), name="ml-prediction-detail"),
]
