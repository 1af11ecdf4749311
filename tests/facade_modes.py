"""Run the same test bodies against a facade in-process and served in its own process (`mode` fixtures).

Every public function called in a mode is recorded, so a suite can prove it covered its whole facade.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from dsta.kernel.rpc.facades import facade_module, public_functions
from dsta.kernel.tests.served import ServedDomains, remote

MODES = ["in_process", "remote"]


@contextlib.contextmanager
def recording(domain: str, called: set[str]) -> Iterator[None]:
    module = facade_module(domain)
    current = public_functions(module)

    def recorder(name, function):  # type: ignore[no-untyped-def]
        @functools.wraps(function)
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            called.add(name)
            return function(*args, **kwargs)

        return call

    for name, function in current.items():
        setattr(module, name, recorder(name, function))
    try:
        yield
    finally:
        for name, function in current.items():
            setattr(module, name, function)


@contextlib.contextmanager
def facade_mode(mode: str, domain: str, served: ServedDomains, called: set[str]) -> Iterator[str]:
    """`domain`'s facade in this process (`in_process`) or over HTTP to its served process (`remote`)."""
    with contextlib.ExitStack() as stack:
        if mode == "remote":
            stack.enter_context(remote(domain, served=served))
        stack.enter_context(recording(domain, called))
        yield mode
