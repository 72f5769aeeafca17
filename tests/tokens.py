"""Altering a signed link's signature so that it can never still verify."""


def tampered(signed: str) -> str:
    """``signed`` with the first character of its signature changed.

    Not the last: base64 leaves a signature's last character with padding bits that decoders
    ignore, so swapping it (or the last two) yields the same bytes about once in a thousand runs.
    The first character carries six whole bits, so any other letter changes the signature."""
    head, dot, signature = signed.rpartition(".")
    assert dot and signature, f"{signed!r} has no signature"
    swapped = "B" if signature[0] == "A" else "A"
    return f"{head}.{swapped}{signature[1:]}"
