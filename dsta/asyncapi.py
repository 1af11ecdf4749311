"""The domain events as a published contract: an AsyncAPI 3 document generated from every domain's events.

Each event is a channel (its address is the event name), a message per version with the payload's JSON Schema
(msgspec, from the dataclass), one `send` operation by its producing domain and one `receive` operation per
registered handler (`dsta.kernel.handlers`). Served at /api/schema/asyncapi.json.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import msgspec
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dsta.domains import DOMAINS
from dsta.kernel.events import DomainEvent
from dsta.kernel.handlers import Subscription, subscriptions


def domain_events() -> list[tuple[str, type[DomainEvent]]]:
    """(producing domain, event class) for every event class a domain declares: in `dsta/events/<domain>.py`
    (re-exported by the domain's events.py) or, not yet moved there, in the domain's events.py itself."""
    found: dict[type[DomainEvent], str] = {}
    for domain in DOMAINS:
        declared_in = (f"dsta.events.{domain.name}", f"dsta.{domain.name}.events")
        for module_name in declared_in:
            module = importlib.import_module(module_name)
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, DomainEvent) and value.__module__ in declared_in and hasattr(value, "event_name"):
                    found.setdefault(value, domain.name)
    return [(producer, event) for event, producer in found.items()]


def product_subscriptions() -> list[Subscription]:
    """The registered handlers, less those test modules register (probes)."""
    return [s for s in subscriptions() if ".tests." not in s.handler.__module__]


def _key(name: str) -> str:
    return name.replace(".", "_")  # AsyncAPI component keys allow letters, digits, _ and -


def asyncapi_document() -> dict[str, Any]:
    events = domain_events()
    _, schemas = msgspec.json.schema_components(
        [event for _, event in events], ref_template="#/components/schemas/{name}"
    )
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for producer, event in events:
        channel, message = _key(event.event_name), f"{_key(event.event_name)}_v{event.event_version}"
        messages[message] = {
            "name": event.event_name,
            "title": event.__name__,
            "summary": (event.__doc__ or "").strip().splitlines()[0] if event.__doc__ else event.__name__,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{event.__name__}"},
            "x-event-version": event.event_version,
            "x-producer": producer,
        }
        channels[channel] = {
            "address": event.event_name,
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        operations[f"{channel}_send"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
            "x-producer": producer,
        }
    for subscription in sorted(product_subscriptions(), key=lambda s: s.consumer):
        for name in sorted(subscription.event_names):
            channel = _key(name)
            if channel not in channels:  # a handler for an event no domain declares: shown, not hidden
                channels[channel] = {
                    "address": name,
                    "description": "consumed, but no domain declares this event",
                    "x-unpublished": True,
                }
            operations[f"{_key(subscription.consumer)}_receive_{channel}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel}"},
                "x-consumer": subscription.consumer,
                "x-database": subscription.using,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "DSTA domain events",
            "version": "1.0.0",
            "description": "Events each domain commits to its outbox; the relay hands them to the broker, and "
            "each consumer applies them once (its inbox).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


class AsyncApiView(APIView):
    """Served like the OpenAPI schema (dsta/urls.py gives it core's ApiDocsPermission): public in debug, for
    signed-in callers otherwise."""

    renderer_classes = [JSONRenderer]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(asyncapi_document())
