"""Every domain's input errors reach the API through one handler: 400 (409 for a conflict) with the field errors
as the body, whatever view raised them, and a management command's message names each field."""

from __future__ import annotations

import pytest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from dsta.core.contracts import PUBLIC
from dsta.core.notifications import NotificationError
from dsta.kernel.errors import Conflict, InputError
from dsta.ml.contracts import MLInputError
from dsta.trading.orders import ClientOrderIdTaken, OrderInputError
from dsta.trading.stops import StopStateConflict


def view_raising(error: Exception) -> APIView:
    class Raising(APIView):
        required_permission = PUBLIC
        authentication_classes: list = []

        def post(self, request: Request) -> Response:
            raise error

    return Raising.as_view()


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (OrderInputError({"quantity": "must be positive"}), 400, {"quantity": "must be positive"}),
        (
            MLInputError({"model_name": ["letters, digits, '-' and '_' only"]}),
            400,
            {"model_name": ["letters, digits, '-' and '_' only"]},
        ),
        (
            NotificationError({"body": ["a body or a template is required"]}),
            400,
            {"body": ["a body or a template is required"]},
        ),
        (ClientOrderIdTaken({"client_order_id": "already used"}), 409, {"client_order_id": "already used"}),
        (StopStateConflict({"status": "the stop is triggered"}), 409, {"status": "the stop is triggered"}),
    ],
)
def test_a_domain_input_error_is_answered_with_its_status_and_field_errors(error, status, body):
    response = view_raising(error)(APIRequestFactory().post("/x", {}, format="json"))
    assert response.status_code == status
    assert response.data == body


def test_every_domain_input_error_is_one_kernel_type_and_reads_as_field_messages():
    for kind in (OrderInputError, MLInputError, NotificationError, ClientOrderIdTaken, StopStateConflict):
        assert issubclass(kind, InputError)
    assert issubclass(ClientOrderIdTaken, Conflict) and issubclass(StopStateConflict, Conflict)
    assert Conflict({"id": "taken"}).status_code == 409 and InputError({"id": "bad"}).status_code == 400
    assert str(MLInputError({"kind": ["unknown", "see /ml/kinds"], "symbol": ["required"]})) == (
        "kind: unknown see /ml/kinds; symbol: required"
    )
    assert str(OrderInputError({"quantity": "must be positive"})) == "quantity: must be positive"


def test_an_error_that_is_not_input_stays_a_server_error():
    with pytest.raises(RuntimeError):
        view_raising(RuntimeError("a bug"))(APIRequestFactory().post("/x", {}, format="json"))
