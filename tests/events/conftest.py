from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.events.receiver import Receiver

README = Path(__file__).resolve().parent.parent.parent / "README.md"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.url = r.start()  # type: ignore[attr-defined]
    yield r
    r.stop()


@pytest.fixture(scope="session")
def verify_signature() -> Callable[[bytes, str, str], bool]:
    """The README's verification snippet, executed as documented."""
    text = README.read_text()
    snippet = re.search(r"<!-- verify-signature -->\n```python\n(.*?)```", text, re.S)
    assert snippet, "README lost its signature snippet"
    namespace: dict[str, object] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_signature"]  # type: ignore[return-value]
