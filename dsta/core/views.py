"""REST endpoints of the core domain: auth, users. Thin: validation here, work in auth/services/selectors."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotAuthenticated, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.core import audit, auth, config, notifications, selectors, services
from dsta.core import serializers as s
from dsta.core.contracts import AUTHENTICATED, PUBLIC, SESSIONS_ONLY, Principal
from dsta.core.drf import request_principal
from dsta.kernel.clock import utc_now


class CredentialsRefused(APIException):
    """401 from a view that runs no authenticator (login, refresh), where DRF would otherwise answer 403."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "invalid_credentials"


def client_ip(request: Request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def principal_of(request: Request) -> Principal:
    principal = request_principal(request)
    if principal is None:  # RBACPermission lets no anonymous call reach a non-public view
        raise NotAuthenticated()
    return principal


def token_pair_response(pair: auth.TokenPair) -> Response:
    return Response(s.TokenPairSerializer({**asdict(pair), "token_type": "Bearer"}).data)


class LoginView(APIView):
    required_permission = PUBLIC
    authentication_classes: list = []  # a stale token must not stand in the way of logging in

    @extend_schema(request=s.LoginSerializer, responses=s.TokenPairSerializer)
    def post(self, request: Request) -> Response:
        body = s.LoginSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            pair = auth.login(**body.validated_data, ip=client_ip(request))
        except auth.LoginThrottled as exc:
            return Response(
                {"detail": "Too many login attempts; try again later."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(exc.retry_after)},
            )
        except auth.AuthError as exc:
            raise CredentialsRefused(str(exc), code=exc.code) from None
        return token_pair_response(pair)


class RefreshView(APIView):
    required_permission = PUBLIC
    authentication_classes: list = []

    @extend_schema(request=s.RefreshSerializer, responses=s.TokenPairSerializer)
    def post(self, request: Request) -> Response:
        body = s.RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            pair = auth.token_refresh(refresh_token=body.validated_data["refresh_token"])
        except auth.AuthError as exc:
            raise CredentialsRefused(str(exc), code=exc.code) from None
        return token_pair_response(pair)


class LogoutView(APIView):
    required_permission = AUTHENTICATED
    required_scope = SESSIONS_ONLY  # ends a token session; an API key is revoked instead

    @extend_schema(request=s.LogoutSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        body = s.LogoutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        principal = principal_of(request)
        if principal.auth_method != "jwt":
            raise ValidationError({"detail": "logout ends a token session; revoke API keys instead"})
        access_token = request.headers["Authorization"].partition(" ")[2].strip()
        auth.logout(access_token=access_token, refresh_token=body.validated_data.get("refresh_token"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ValidateView(APIView):
    """For other services: who does this token belong to, and what may it do."""

    required_permission = AUTHENTICATED
    required_scope = "account.read"

    @extend_schema(responses=s.PrincipalSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.PrincipalSerializer(asdict(principal_of(request))).data)


class ApiKeyListCreateView(APIView):
    required_permission = "auth.api_key.manage"

    @extend_schema(responses=s.ApiKeySummarySerializer(many=True))
    def get(self, request: Request) -> Response:
        keys = auth.api_keys_list(user_id=principal_of(request).user_id)
        return Response(s.ApiKeySummarySerializer([asdict(key) for key in keys], many=True).data)

    @extend_schema(request=s.ApiKeyCreateSerializer, responses={201: s.ApiKeyCreatedSerializer})
    def post(self, request: Request) -> Response:
        body = s.ApiKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        days = body.validated_data.get("expires_in_days")
        created = auth.api_key_create(
            user_id=principal_of(request).user_id,
            name=body.validated_data["name"],
            scopes=body.validated_data["scopes"],
            expires_at=utc_now() + timedelta(days=days) if days else None,
            ip=client_ip(request),
        )
        return Response(s.ApiKeyCreatedSerializer(asdict(created)).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    required_permission = "auth.api_key.manage"

    @extend_schema(responses={204: None})
    def delete(self, request: Request, key_id: int) -> Response:
        if not auth.api_key_revoke(user_id=principal_of(request).user_id, key_id=key_id):
            return Response({"detail": "No such active key."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(APIView):
    required_permission = AUTHENTICATED
    required_scope = "account.read"

    @extend_schema(responses=s.ProfileSerializer)
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        user = selectors.user_get(user_id=principal.user_id)
        assert user is not None
        return Response(
            s.ProfileSerializer(
                {
                    "user_id": user.user_id,
                    "username": user.username,
                    "email": user.email,
                    "roles": principal.roles,
                    "permissions": principal.permissions,
                    "preferences": selectors.preferences_get(user_id=user.user_id),
                }
            ).data
        )


class PreferencesView(APIView):
    required_permission = AUTHENTICATED
    required_scope = {"GET": "account.read", "PUT": "account.write"}

    @extend_schema(responses=s.PreferencesSerializer)
    def get(self, request: Request) -> Response:
        return Response({"preferences": selectors.preferences_get(user_id=principal_of(request).user_id)})

    @extend_schema(request=s.PreferencesSerializer, responses=s.PreferencesSerializer)
    def put(self, request: Request) -> Response:
        body = s.PreferencesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = services.preferences_set(
            user_id=principal_of(request).user_id, values=body.validated_data["preferences"]
        )
        return Response({"preferences": values})


class AuditLogView(APIView):
    """Your own audit trail; with `audit.read` (admin), anyone's (`?actor_id=`) or everyone's."""

    required_permission = AUTHENTICATED
    required_scope = "account.audit.read"  # it holds the addresses you signed in from: not part of account.read

    @extend_schema(parameters=[s.AuditQuerySerializer], responses=s.AuditRecordSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = s.AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        principal = principal_of(request)
        actor_id = query.validated_data.get("actor_id")
        if not auth.permission_granted(principal, "audit.read"):
            actor_id = principal.user_id
        records = audit.entries(
            actor_id=actor_id, action=query.validated_data.get("action"), limit=query.validated_data["limit"]
        )
        return Response(s.AuditRecordSerializer([asdict(record) for record in records], many=True).data)


class ConfigValueView(APIView):
    required_permission = {"GET": "config.read", "PUT": "config.write"}

    @extend_schema(responses=s.ConfigValueSerializer)
    def get(self, request: Request, key: str) -> Response:
        value = config.config_get(key=key)
        if value is None:
            return Response({"detail": "No such config key."}, status=status.HTTP_404_NOT_FOUND)
        return Response(s.ConfigValueSerializer(asdict(value)).data)

    @extend_schema(request=s.ConfigWriteSerializer, responses=s.ConfigValueSerializer)
    def put(self, request: Request, key: str) -> Response:
        body = s.ConfigWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        schema = body.validated_data.get("json_schema", config.KEEP_SCHEMA)
        value = config.config_set(
            key=key,
            value=body.validated_data["value"],
            json_schema=schema,
            actor_id=principal_of(request).user_id,
            comment=body.validated_data["comment"],
        )
        return Response(s.ConfigValueSerializer(asdict(value)).data)


class ConfigHistoryView(APIView):
    required_permission = "config.read"

    @extend_schema(responses=s.ConfigVersionSerializer(many=True))
    def get(self, request: Request, key: str) -> Response:
        return Response(s.ConfigVersionSerializer(config.config_history(key=key), many=True).data)


class ConfigRollbackView(APIView):
    required_permission = "config.write"

    @extend_schema(request=s.ConfigRollbackSerializer, responses=s.ConfigValueSerializer)
    def post(self, request: Request, key: str) -> Response:
        body = s.ConfigRollbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        value = config.config_rollback(
            key=key, version=body.validated_data["version"], actor_id=principal_of(request).user_id
        )
        return Response(s.ConfigValueSerializer(asdict(value)).data)


class SecretView(APIView):
    """The one place a secret's value leaves the server: admin only, and every read is audited."""

    required_permission = "config.secret.read"

    @extend_schema(responses=s.SecretValueSerializer)
    def get(self, request: Request, key: str) -> Response:
        value = services.secret_read(key=key, actor_id=principal_of(request).user_id, ip=client_ip(request))
        if value is None:
            return Response({"detail": "No such secret."}, status=status.HTTP_404_NOT_FOUND)
        response = Response(s.SecretValueSerializer({"key": key, "value": value}).data)
        response["Cache-Control"] = "no-store"
        return response


class FeatureFlagView(APIView):
    """Is this flag on for me?"""

    required_permission = AUTHENTICATED
    required_scope = "config.flag.read"

    @extend_schema(responses=s.FeatureFlagStateSerializer)
    def get(self, request: Request, name: str) -> Response:
        principal = principal_of(request)
        enabled = config.feature_enabled(name=name, user_id=principal.user_id, roles=principal.roles)
        return Response({"name": name, "enabled": enabled})


class NotificationSendView(APIView):
    required_permission = "notifications.send"

    @extend_schema(request=s.NotificationSendSerializer, responses={202: s.NotificationReceiptSerializer})
    def post(self, request: Request) -> Response:
        body = s.NotificationSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        receipt = notifications.notification_send(**body.validated_data, requested_by_id=principal_of(request).user_id)
        return Response(s.NotificationReceiptSerializer(asdict(receipt)).data, status=status.HTTP_202_ACCEPTED)


class NotificationHistoryView(APIView):
    """Notifications and their delivery log, newest first."""

    required_permission = "notifications.read"

    @extend_schema(parameters=[s.NotificationHistoryQuerySerializer], responses=s.NotificationSerializer(many=True))
    def get(self, request: Request) -> Response:
        query = s.NotificationHistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = notifications.history(**query.validated_data)
        data = [{**vars(row), "delivery_attempts": list(row.delivery_attempts.all())} for row in rows]
        return Response(s.NotificationSerializer(data, many=True).data)


class NotificationTemplateView(APIView):
    required_permission = {"GET": "notifications.read", "POST": "notifications.template.write"}

    @extend_schema(responses=s.NotificationTemplateSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.NotificationTemplateSerializer(selectors.templates_list(), many=True).data)

    @extend_schema(request=s.NotificationTemplateSerializer, responses={201: s.NotificationTemplateSerializer})
    def post(self, request: Request) -> Response:
        body = s.NotificationTemplateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        template = notifications.template_save(**body.validated_data, actor_id=principal_of(request).user_id)
        return Response(s.NotificationTemplateSerializer(template).data, status=status.HTTP_201_CREATED)
