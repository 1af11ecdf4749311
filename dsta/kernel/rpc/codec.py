"""Generic JSON encoding of facade calls, driven by each function's type hints (msgspec).

A function's parameters become one msgspec Struct (keyword-only, defaults from the signature, unknown fields
refused), so the server decodes a body straight into typed arguments: frozen dataclasses, enums, Decimal (as
strings, exact), datetime, UUID, lists, tuples, dicts and optionals. numpy arrays (the data domain's column
APIs) travel as dtype, shape and raw little-endian bytes. Declared exceptions travel as their class path, args
and instance fields, and come back as the same class with the same fields.
"""

from __future__ import annotations

import base64
import builtins
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgspec
import numpy as np

# The wire's extension types beyond what msgspec encodes itself.
EXTENSION_TYPES: tuple[type, ...] = (np.ndarray,)


def _enc_hook(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"dtype": array.dtype.newbyteorder("<").str, "shape": list(array.shape), "data": array.tobytes()}
    raise NotImplementedError(f"{type(value).__name__} cannot cross a facade")


def _dec_hook(kind: type, value: Any) -> Any:
    if (kind is np.ndarray or typing.get_origin(kind) is np.ndarray) and isinstance(value, dict):
        raw = base64.b64decode(value["data"])  # msgspec writes bytes as base64
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    raise NotImplementedError(f"{kind!r} cannot cross a facade")


_encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="string")


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def _wire_type(annotation: Any) -> Any:
    # `object` in a facade hint means "any JSON value" (e.g. a config value); msgspec spells that Any.
    return Any if annotation is object else annotation


@dataclass(frozen=True)
class FunctionCodec:
    """How one facade function's arguments and result cross the wire."""

    function: Callable[..., Any]
    name: str

    @cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.function)

    @cached_property
    def hints(self) -> dict[str, Any]:
        return typing.get_type_hints(self.function)

    @cached_property
    def arguments_type(self) -> type[msgspec.Struct]:
        fields: list[Any] = []
        for parameter in self.signature.parameters.values():
            kind = _wire_type(self.hints.get(parameter.name, Any))
            if parameter.default is inspect.Parameter.empty:
                fields.append((parameter.name, kind))
            else:
                fields.append((parameter.name, kind, parameter.default))
        return msgspec.defstruct(
            f"{self.name}_arguments", fields, kw_only=True, forbid_unknown_fields=True, frozen=True
        )

    @cached_property
    def _arguments_decoder(self) -> msgspec.json.Decoder[Any]:
        return msgspec.json.Decoder(type=self.arguments_type, dec_hook=_dec_hook)

    @cached_property
    def _result_decoder(self) -> msgspec.json.Decoder[Any]:
        return msgspec.json.Decoder(type=_wire_type(self.hints.get("return", Any)), dec_hook=_dec_hook)

    def encode_arguments(self, arguments: dict[str, Any]) -> bytes:
        return _encoder.encode(arguments)

    def decode_arguments(self, body: bytes) -> dict[str, Any]:
        """Raises msgspec.ValidationError or msgspec.DecodeError on a body that does not fit."""
        decoded = self._arguments_decoder.decode(body)
        return {field: getattr(decoded, field) for field in decoded.__struct_fields__}

    def encode_result(self, result: Any) -> bytes:
        return _encoder.encode(result)

    def decode_result(self, body: bytes) -> Any:
        return self._result_decoder.decode(body)


# -- errors ---------------------------------------------------------------------------------------------------


class ErrorPayload(msgspec.Struct, kw_only=True):
    error: str  # "domain_error" for a declared exception; otherwise the refusal's code
    detail: str
    request_id: str = ""
    type: str = ""  # dotted class path of a declared exception
    args: list[Any] = []
    fields: dict[str, Any] = {}


_error_decoder = msgspec.json.Decoder(type=ErrorPayload)


def error_encode(payload: ErrorPayload) -> bytes:
    return _encoder.encode(payload)


def error_decode(body: bytes) -> ErrorPayload | None:
    try:
        return _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def class_path(kind: type) -> str:
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def exception_payload(exc: BaseException, *, request_id: str) -> ErrorPayload:
    """A declared exception as data: its args and the attributes it carries (e.g. `retry_after`)."""
    fields = {key: value for key, value in vars(exc).items() if not key.startswith("_")}
    return ErrorPayload(
        error="domain_error",
        detail=str(exc),
        request_id=request_id,
        type=class_path(type(exc)),
        args=list(exc.args),
        fields=fields,
    )


def exception_rebuild(payload: ErrorPayload, declared: dict[str, type[BaseException]]) -> BaseException | None:
    """The same exception class with the same args and fields, or None when the class is not declared."""
    kind = declared.get(payload.type)
    if kind is None:
        return None
    exc = kind.__new__(kind)
    exc.args = tuple(payload.args)
    for key, value in payload.fields.items():
        setattr(exc, key, value)
    return exc


# Builtin exceptions the facades document (e.g. core.config_set raises ValueError on a value that does not fit).
DECLARED_BUILTINS: tuple[type[BaseException], ...] = (builtins.ValueError,)


def declared_exceptions(contracts: Any) -> dict[str, type[BaseException]]:
    """The exceptions a domain declares: every exception class defined in its contracts module, and the
    documented builtins; keyed by class path."""
    declared: dict[str, type[BaseException]] = {class_path(kind): kind for kind in DECLARED_BUILTINS}
    for value in vars(contracts).values():
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == contracts.__name__:
            declared[class_path(value)] = value
    return declared


def is_declared(exc: BaseException, declared: dict[str, type[BaseException]]) -> bool:
    return declared.get(class_path(type(exc))) is type(exc)
