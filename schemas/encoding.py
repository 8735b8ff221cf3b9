"""JSON bytes of pydantic models, written by orjson from the models' own fields.

Every command, event, notice and reply is encoded on the hot path, several per job. pydantic's
``model_dump`` first copies a model into dicts, field by field, and orjson then writes those;
handing orjson the model and, through ``default``, its ``__dict__`` (where pydantic keeps exactly the
field values) skips the copy: the same bytes in ~40% of the time (an event envelope 2.9 against
7.2 µs). The bytes are the same as ``orjson.dumps(model.model_dump())`` for our models, which
declare no serializers, aliases, computed fields or extra fields; ``tests/unit/test_encoding.py``
checks that for every message type.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel


def model_fields(obj: object) -> dict[str, Any]:
    """orjson's fallback for a pydantic model: its field values (nested models come back here)."""
    if isinstance(obj, BaseModel):
        return obj.__dict__
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def model_json(value: Any, option: int = 0) -> bytes:
    """``value`` (a model, or plain data holding models) as JSON, models written field by field."""
    return orjson.dumps(value, default=model_fields, option=option)
