"""The cards' lines are encoded once per edition with a stand-in for each reader's token: what a
reader gets must decode to exactly their line, in QP lines of at most 76 characters."""

from __future__ import annotations

import binascii
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.deliver.message import Stencil, _qp
from bot.render.email import FEEDBACK_MARK, fill

SAFE = string.ascii_letters + string.digits + "-_."
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=300)


def _line(parts: list[str]) -> str:
    return FEEDBACK_MARK.join(parts)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=2, max_size=6), st.text(SAFE, min_size=1, max_size=74),
       st.text(SAFE, min_size=1, max_size=74))
def test_a_stencil_decodes_to_the_filled_line_for_every_token(parts: list[str], token: str, other: str) -> None:
    line = _line(parts)
    stencil = Stencil(line)
    for value in (token, other, token):  # one stencil serves every reader, of any token length
        encoded = stencil.encode(value, value.encode())
        assert binascii.a2b_qp(encoded.replace(b"=\r\n", b"=\n")) == fill(line, "", "", value).encode()
        assert all(len(row) <= 76 for row in encoded.split(b"\r\n")), encoded


@given(st.lists(TEXT, min_size=2, max_size=4), st.text(min_size=1, max_size=40))
def test_a_token_qp_would_escape_is_encoded_per_message(parts: list[str], token: str) -> None:
    line = _line(parts)
    assert Stencil(line).encode(token, None) == _qp(fill(line, "", "", token))


def test_a_line_that_holds_every_stand_in_is_encoded_per_message() -> None:
    line = _line(["~^`|{}", " and more"])
    assert Stencil(line).encode("abc", b"abc") == _qp(fill(line, "", "", "abc"))
