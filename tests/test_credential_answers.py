"""``key_exists``: which refusals of a credential create mean "the key is already in the portal" (then, after
a send that may have landed, the runner looks the key up: it may be ours). A refusal that says something does
*not* exist is never one, though it names the KeyID field."""

from __future__ import annotations

import pytest

from tyk_migrate.errors import Rejected
from tyk_migrate.run.credential_answers import key_exists


def refusal(status: int, *errors: str) -> Rejected:
    return Rejected(f"{status}", method="POST", path="/apps/1/custom_credentials", status=status, errors=errors)


@pytest.mark.parametrize(
    "message",
    ["KeyID already exists", "keyid exists", "a credential with this KeyID exists already", "KeyID: exists"],
)
def test_a_key_named_as_existing_is_key_exists(message: str) -> None:
    assert key_exists(refusal(422, message))


@pytest.mark.parametrize(
    "message",
    [
        "KeyID: organisation does not exist",
        "KeyID: policy doesn't exist",
        "KeyID: the plan doesnt exist",
        "KeyID refers to a plan that does NOT exist",
        "KeyID: no such organisation exists",
        "KeyID: product is nonexistent",
        "KeyID: product is non-existent",
        "KeyID must be at least 8 characters",
    ],
)
def test_a_refusal_denying_existence_is_never_key_exists(message: str) -> None:
    assert not key_exists(refusal(422, message))


def test_409_is_key_exists_whatever_it_says_and_one_message_of_several_is_enough() -> None:
    assert key_exists(refusal(409, "conflict"))
    assert key_exists(refusal(422, "KeyID: organisation does not exist", "KeyID already exists"))
