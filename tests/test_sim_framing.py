"""Framing fidelity: banner, terminators, quotes, backspace, limits, grammar, no echo (§1)."""
from __future__ import annotations

import pytest

from test_sim_support import ERROR, OK, READY, FWS, make_sim  # noqa: F401


@pytest.fixture(params=FWS)
def host(request, make_sim):
    return make_sim.host(fw=request.param, attached=False)


def test_banner_is_ready_without_leading_crlf(make_sim):
    host = make_sim.connect(make_sim(), banner=False)
    assert host.read_exact(len(READY)) == b"Ready\r\n"
    assert host.drain() == b""


def test_plain_at_and_no_echo(host):
    host.send("AT\r\n")
    # Nothing of the command comes back: only the result.
    assert host.read_exact(len(OK)) == OK
    assert host.drain() == b""


def test_case_insensitive(host):
    assert host.at("at") == OK
    assert host.at("aT+cFuN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert host.at("at#xslmver").startswith(b"\r\n#XSLMVER: ")


def test_modem_command_response_format(host):
    # §1.3: info line, blank line, final result; set form just OK.
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert host.at("AT+CFUN=1") == OK
    assert host.at("AT+CFUN?") == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"


@pytest.mark.parametrize("bad", ["ATE0", "AT+", "AT#", "AT+CFUN?x", "AT+CFUN=?x", "AT+CF-UN",
                                 "AT CFUN", "garbage", "A"])
def test_grammar_errors(host, bad):
    assert host.at(bad) == ERROR


def test_unknown_commands_are_errors(host):
    assert host.at("AT#XNOSUCH") == ERROR
    assert host.at("AT+NOSUCH=1") == ERROR
    assert host.at("AT%NOSUCH?") == ERROR


def test_lone_cr_and_lf_are_part_of_the_command(host):
    # "AT\rAT\r\n" is one command "AT\rAT" -> grammar error; same for a lone LF.
    assert host.at("AT\rAT") == ERROR
    assert host.at("AT\nAT") == ERROR
    assert host.at("AT") == OK


def test_terminator_inside_quotes_does_not_end_the_command(host):
    # The CR LF inside the quotes is part of the hostname; the command fails as a
    # whole (not attached), instead of being split into two commands.
    reply = host.at('AT#XGETADDRINFO="local\r\nhost"')
    assert reply == b'\r\n#XGETADDRINFO: "Temporary failure in name resolution"\r\n' + ERROR
    assert host.drain() == b""


def test_backspace_and_delete(host):
    assert host.at(b"ATX\x08") == OK
    assert host.at(b"AT+CFUNX\x7f?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    # Backspace on an empty buffer is harmless.
    assert host.at(b"\x08\x08AT") == OK


def test_garbage_before_at_is_discarded(host):
    assert host.at(b"\xc0\xff\x00AT") == OK
    assert host.at(b"xyzAT+CFUN?") == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"


def test_empty_commands_are_ignored(host):
    host.send("\r\n\r\n")
    assert host.drain() == b""
    assert host.at("AT") == OK


def test_command_length_limit(host):
    # The line buffer holds 4096 bytes. Leading garbage counts, so a line of
    # 4094 garbage bytes + "AT" is exactly at the limit and still works ...
    assert host.at(b"x" * 4094 + b"AT") == OK
    # ... one byte more overflows: ERROR when the terminator arrives.
    assert host.at(b"x" * 4095 + b"AT") == ERROR
    host.send("AT" + "X" * 5000 + "\r\n")
    assert host.read_final() == ERROR
    assert host.drain() == b""
    assert host.at("AT") == OK


def test_commands_are_processed_serially(host):
    host.send("AT\r\nAT+CFUN?\r\nATE0\r\nAT#XSLMVER\r\n")
    assert host.read_final() == OK
    assert host.read_final() == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"
    assert host.read_final() == ERROR
    assert host.read_final().startswith(b"\r\n#XSLMVER: ")


def test_command_split_across_many_writes(host):
    for byte in b"AT+CFUN?\r\n":
        host.send(bytes([byte]))
    assert host.read_final() == b"\r\n+CFUN: 0\r\n\r\nOK\r\n"


def test_quoted_parameter_keeps_commas(make_sim):
    host = make_sim.host()
    reply = host.at('AT#XGETADDRINFO="a,b.invalid"')
    assert reply == b'\r\n#XGETADDRINFO: "NAME or SERVICE is unknown"\r\n' + ERROR
