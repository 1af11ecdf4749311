"""Django admin for core: roles, API keys, config, feature flags, notifications, and the audit log (read-only).
Users are Django's own admin (auth.User); roles are assigned from the role page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from dsta.core import audit, auth
from dsta.core.models import (
    ApiKey,
    AuditEntry,
    ConfigEntry,
    ConfigVersion,
    DeliveryAttempt,
    FeatureFlag,
    Notification,
    NotificationTemplate,
    Role,
    Secret,
)


class CheckedAdminLoginForm(AdminAuthenticationForm):
    """/admin/login/ through core's one credentials check: the API's throttle, lockout and audit log apply."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            ip = (self.request.META.get("REMOTE_ADDR") if self.request else None) or "unknown"
            try:
                self.user_cache = auth.credentials_check(username=username, password=password, ip=ip)
            except auth.LoginThrottled as exc:
                raise ValidationError(
                    "Too many login attempts; try again in %(seconds)s s.",
                    code="throttled",
                    params={"seconds": exc.retry_after},
                ) from None
            except auth.AuthError:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
            audit.record(
                actor_id=self.user_cache.pk,
                action="auth.login",
                target=f"user:{self.user_cache.pk}",
                details={"via": "admin"},
                ip=ip,
            )
        return self.cleaned_data


admin.site.login_form = CheckedAdminLoginForm


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    filter_horizontal = ("users",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created through the API (the key is shown once); here they can be inspected and revoked."""

    list_display = ("name", "prefix", "user", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("revoked_at",)
    readonly_fields = ("user", "prefix", "key_hash", "created_at", "last_used_at")
    fields = ("name", "user", "prefix", "key_hash", "scopes", "expires_at", "revoked_at", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Secret)
class SecretAdmin(ReadOnlyAdmin):
    """Metadata only: the ciphertext and the value never reach the admin."""

    list_display = ("key", "version", "updated_at", "updated_by_id")
    fields = ("key", "version", "updated_at", "updated_by_id")


@admin.register(ConfigEntry)
class ConfigEntryAdmin(ReadOnlyAdmin):
    """Writes go through the API (schema validation, history, event, watchers); the admin shows them."""

    list_display = ("key", "version", "updated_at", "updated_by_id")
    search_fields = ("key",)


@admin.register(ConfigVersion)
class ConfigVersionAdmin(ReadOnlyAdmin):
    list_display = ("key", "version", "created_at", "created_by_id", "comment")
    search_fields = ("key",)


@admin.register(FeatureFlag)
class FeatureFlagAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "rollout_percent", "updated_at")


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "subject", "updated_at")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("attempted_at", "succeeded", "detail")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "channel", "recipient", "priority", "status", "attempts", "created_at", "sent_at")
    list_filter = ("channel", "status", "priority")
    inlines = [DeliveryAttemptInline]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "actor_id", "action", "target", "ip_address")
    list_filter = ("action",)
    search_fields = ("target",)


class RoleMembershipInline(admin.TabularInline):
    model = Role.users.through
    extra = 0
    verbose_name = "role"
    verbose_name_plural = "roles"


class UserWithRolesAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, RoleMembershipInline]


admin.site.unregister(User)
admin.site.register(User, UserWithRolesAdmin)
