"""The wire: replies as the server sent them, no line break ever sent, AUTH offered."""

from __future__ import annotations

import logging
import socket

import pytest

from check_smtp_helo.smtp.clock import Clock
from check_smtp_helo.smtp.conversation import auth_offered
from check_smtp_helo.smtp.model import Reply
from check_smtp_helo.smtp.wire import Channel


def test_reply_wire_lines():
    reply = Reply(250, ["mx.test", "PIPELINING", "8BITMIME"], "EHLO")
    assert reply.wire_lines() == ["250-mx.test", "250-PIPELINING", "250 8BITMIME"]
    assert str(reply) == "250 mx.test"
    assert str(Reply(220, [""])) == "220"


def test_channel_refuses_to_send_a_line_break():
    near, far = socket.socketpair()
    with near, far:
        channel = Channel(near, Clock(1.0), logging.getLogger("test"))
        with pytest.raises(ValueError, match="CR, LF or NUL"):
            channel.send("helo", "EHLO a\r\nRCPT TO:<x>")
        far.setblocking(False)
        with pytest.raises(BlockingIOError):
            far.recv(1)


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("AUTH PLAIN LOGIN", ["PLAIN", "LOGIN"]),
        ("AUTH=PLAIN LOGIN", ["PLAIN", "LOGIN"]),
        ("auth cram-md5", ["CRAM-MD5"]),
        ("AUTHX PLAIN", []),
    ],
)
def test_auth_mechanisms_offered_by_ehlo(line, offered):
    assert auth_offered(Reply(250, ["mx.example.com", line])) == offered
