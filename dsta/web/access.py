"""Who may open a page: signed in through the session, and holding the page's permission (core's RBAC)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from dsta.core import api as core_api

View = Callable[..., HttpResponse]

# Pages in the navigation, with the permission each one needs.
NAVIGATION = (
    ("dashboard", "Dashboard", "trading.read"),
    ("bots", "Bots", "trading.read"),
    ("chart", "Chart", "market_data.read"),
    ("backtests", "Backtests", "data.backtest.read"),
    ("ml-models", "ML models", "ml.read"),
    ("notifications", "Notifications", "notifications.read"),
)


def allowed(request: HttpRequest, permission: str) -> bool:
    return request.user.is_authenticated and core_api.user_permission_check(
        user_id=request.user.pk, permission=permission
    )


def page_permission(permission: str | Mapping[str, str]) -> Callable[[View], View]:
    """Anonymous callers go to the login page (htmx calls get HX-Redirect); signed-in callers without the
    permission (or the method's permission, given a dict) get 403."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                login = f"{settings.LOGIN_URL}?{urlencode({'next': request.get_full_path()})}"
                if request.headers.get("HX-Request"):
                    return HttpResponse(status=401, headers={"HX-Redirect": login})
                return HttpResponseRedirect(login)
            needed = permission if isinstance(permission, str) else permission.get(request.method or "GET")
            if needed is None or not core_api.user_permission_check(user_id=request.user.pk, permission=needed):
                context = {"permission": needed, "nav_pages": navigation(request)}
                return render(request, "web/forbidden.html", context, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def navigation(request: HttpRequest) -> list[tuple[str, str]]:
    """The pages this user may open (links to the others are not shown)."""
    return [(name, title) for name, title, permission in NAVIGATION if allowed(request, permission)]
