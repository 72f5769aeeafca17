"""The SMTP conversation itself, against aiosmtpd with and without PIPELINING: what the server
answers becomes the right error, the connection stays usable after a refusal, and the body
arrives byte for byte (dot-stuffing undone by the server)."""

from __future__ import annotations

import pytest

from bot.deliver.transport import SmtpConfig, SmtpTransport
from bot.errors import MailSetupError, PermanentError, TransientError, UncertainError
from tests.smtp_server import SmtpServer

SENDER = "digest@papers.example.org"
# Lines that begin with a dot, the body's first among them: each must arrive as it was.
BODY = (b"Subject: dots\r\n\r\n.first line begins with a dot\r\nplain\r\n.\r\n..two\r\n"
        + (b"x" * 76 + b"\r\n") * 900 + b".last")


@pytest.fixture(params=[False, True], ids=["one-at-a-time", "pipelined"])
def transport(request: pytest.FixtureRequest, smtp: SmtpServer) -> SmtpTransport:
    smtp.recorder.pipelining = request.param
    return SmtpTransport(SmtpConfig("127.0.0.1", smtp.port, "none", "", None, 10))


def test_a_message_arrives_byte_for_byte(transport: SmtpTransport, smtp: SmtpServer) -> None:
    transport.send(SENDER, "ada@example.org", BODY)
    transport.send("Paperboy <digest@papers.example.org>", "bob@example.org", b"Subject: two\r\n\r\nsecond\r\n")
    transport.close()
    first, second = smtp.recorder.received
    assert (first.sender, first.recipients, first.data) == (SENDER, ["ada@example.org"], BODY + b"\r\n")
    assert (second.sender, second.recipients) == (SENDER, ["bob@example.org"])


def test_refusals_become_errors_and_the_connection_goes_on(transport: SmtpTransport, smtp: SmtpServer) -> None:
    smtp.recorder.replies = {"gone@example.org": ["550 5.1.1 No such user"],
                             "later@example.org": ["451 4.7.1 Greylisted"]}
    with pytest.raises(PermanentError, match=r"550 5\.1\.1 No such user"):
        transport.send(SENDER, "gone@example.org", BODY)
    with pytest.raises(TransientError, match=r"451 4\.7\.1 Greylisted"):
        transport.send(SENDER, "later@example.org", BODY)
    session = transport._smtp
    transport.send(SENDER, "fine@example.org", BODY)
    assert transport._smtp is session  # the same connection, reset after each refusal
    assert smtp.recorder.per_recipient() == {"fine@example.org": 1}
    if smtp.recorder.pipelining:
        assert session is not None and session.has_extn("pipelining")


def test_a_refused_sender_stops_the_run(transport: SmtpTransport, smtp: SmtpServer) -> None:
    async def refuse(server, session, envelope, address, mail_options):  # type: ignore[no-untyped-def]
        return "553 5.7.1 Sender not allowed"

    smtp.recorder.handle_MAIL = refuse  # type: ignore[attr-defined]
    with pytest.raises(MailSetupError, match="refuses the sender"):
        transport.send(SENDER, "ada@example.org", BODY)
    assert smtp.recorder.count() == 0


def test_a_connection_lost_after_the_body_is_uncertain(transport: SmtpTransport, smtp: SmtpServer) -> None:
    smtp.recorder.drops = {"ada@example.org": 1}
    with pytest.raises(UncertainError, match="after the whole message was sent"):
        transport.send(SENDER, "ada@example.org", BODY)
    transport.send(SENDER, "bob@example.org", BODY)  # a new connection
    assert smtp.recorder.per_recipient() == {"ada@example.org": 1, "bob@example.org": 1}
