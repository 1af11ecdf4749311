from django.urls import path

# The OpenAPI security schemes register with drf_spectacular when the URL conf (and so the schema view) loads,
# not in AppConfig.ready: management commands and workers then never import drf_spectacular.
from dsta.core import schema, views  # noqa: F401

urlpatterns = [
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/validate", views.ValidateView.as_view(), name="auth-validate"),
    path("auth/api-keys", views.ApiKeyListCreateView.as_view(), name="auth-api-keys"),
    path("auth/api-keys/<int:key_id>", views.ApiKeyRevokeView.as_view(), name="auth-api-key"),
    path("users/profile", views.ProfileView.as_view(), name="users-profile"),
    path("users/preferences", views.PreferencesView.as_view(), name="users-preferences"),
    path("users/audit-log", views.AuditLogView.as_view(), name="users-audit-log"),
]

urlpatterns += [
    path("config/secrets/<path:key>", views.SecretView.as_view(), name="config-secret"),
    path("config/flags/<str:name>", views.FeatureFlagView.as_view(), name="config-flag"),
    path("config/<str:key>/history", views.ConfigHistoryView.as_view(), name="config-history"),
    path("config/<str:key>/rollback", views.ConfigRollbackView.as_view(), name="config-rollback"),
    path("config/<str:key>", views.ConfigValueView.as_view(), name="config-value"),
]

urlpatterns += [
    path("notifications/send", views.NotificationSendView.as_view(), name="notifications-send"),
    path("notifications/history", views.NotificationHistoryView.as_view(), name="notifications-history"),
    path("notifications/templates", views.NotificationTemplateView.as_view(), name="notifications-templates"),
]
