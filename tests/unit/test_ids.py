"""``derived_id`` must be ``uuid.uuid5`` exactly: ids derived before it existed are in every log and table."""

from __future__ import annotations

import copy
import pickle
import uuid

from hypothesis import given
from hypothesis import strategies as st

from schemas.ids import derived_id


@given(namespace=st.uuids(), name=st.text())
def test_derived_id_is_the_name_based_uuid_of_rfc_9562(namespace: uuid.UUID, name: str) -> None:
    expected = uuid.uuid5(namespace, name)
    derived = derived_id(namespace, name)
    assert derived == expected
    assert str(derived) == str(expected)
    assert hash(derived) == hash(expected)
    assert (derived.version, derived.variant, derived.is_safe) == (5, uuid.RFC_4122, uuid.SafeUUID.unknown)


def test_a_derived_id_behaves_as_any_uuid() -> None:
    derived = derived_id(uuid.UUID(int=0), "event-0")
    assert derived == uuid.UUID(str(derived))
    assert pickle.loads(pickle.dumps(derived)) == derived
    assert copy.deepcopy(derived) == derived
    assert {derived: 1}[uuid.UUID(bytes=derived.bytes)] == 1


def test_known_value() -> None:
    # RFC 9562 appendix A.4: uuid5 of "www.example.com" in the DNS namespace
    assert str(derived_id(uuid.NAMESPACE_DNS, "www.example.com")) == "2ed6657d-e927-568b-95e1-2665a8aea6a2"
