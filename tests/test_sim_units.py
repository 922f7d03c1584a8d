"""Unit and property tests of the simulator's parsers (no threads, no sockets)."""
from __future__ import annotations

from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st

import test_sim_support  # noqa: F401  (puts the repo root on sys.path)
from slm_sim.atcmd import CmdType, ModemReply, ParamError, error_reply, parse
from slm_sim.cmdline import CommandLine, Overflow, grammar_ok, prepare
from slm_sim.datamode import DataMode, Mode, min_time_limit


def feed_all(parser: CommandLine, data: bytes, cuts: List[int]) -> list:
    events = []
    pieces = []
    last = 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)):
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    for piece in pieces:
        while piece:
            used, event = parser.feed(piece)
            if event is not None:
                events.append(event)
            piece = piece[used:]
    return events


_line_bytes = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"n"))


@settings(max_examples=200, deadline=None)
@given(st.lists(_line_bytes, max_size=6), st.lists(st.integers(0, 400), max_size=10))
def test_command_lines_do_not_depend_on_chunking(lines, cuts):
    stream = b"".join(line + b"\r\n" for line in lines)
    whole = feed_all(CommandLine(), stream, [])
    assert feed_all(CommandLine(), stream, cuts) == whole


def test_command_line_rules():
    parser = CommandLine()
    assert feed_all(parser, b'AT#X="a\r\nb"\r\n', []) == [b'AT#X="a\r\nb"']
    assert feed_all(parser, b"\r\n\r\nAT\rX\r\n", []) == [b"AT\rX"]
    assert feed_all(parser, b"ATXY\x08\x7f\x08\r\n", []) == [b"A"]
    events = feed_all(parser, b"A" * 4097 + b"\r\nAT\r\n", [])
    assert isinstance(events[0], Overflow) and events[1] == b"AT"


def test_grammar():
    for good in (b"AT", b"at", b"AT+CFUN", b"AT%XSYSTEMMODE=1,0,0,0", b"AT#XTCPCLI?",
                 b"AT#XTCPCLI=?", b"AT+CFUN=", b'AT#XTCPSEND="?x"'):
        assert grammar_ok(good), good
    for bad in (b"A", b"ATE0", b"AT+", b"AT+C-FUN", b"AT+CFUN??", b"AT+CFUN=??", b"AT+CFUN?="):
        assert not grammar_ok(bad), bad
    assert prepare(b"\xff\xc0AT+CFUN?") == b"AT+CFUN?"
    assert prepare(b"AT\x00junk") == b"AT"


def test_parameter_parsing():
    cmd = parse(b'AT#XTCPCLI=1,"a,b",80')
    assert cmd.type is CmdType.SET and cmd.string(2) == "a,b" and cmd.num(3) == 80
    try:
        parse(b'AT#XTCPCLI=1,"a,b"x,80')
    except ParamError:
        pass
    else:
        raise AssertionError("text after a string must be rejected")
    cmd = parse(b'AT#XUDPCLI=1, "host" ,-5,,7')
    assert cmd.string(2) == "host" and cmd.num(3) == -5 and not cmd.has(4)
    assert cmd.opt_num(4, 99) == 99 and cmd.num(5, 0, 7) == 7
    assert parse(b"AT#XSLMVER").param_count == 1
    assert parse(b"at+cfun?").name == "+CFUN"


def test_modem_reply_framing():
    assert ModemReply().encode() == b"\r\nOK\r\n"
    assert ModemReply(["+CFUN: 1"]).encode() == b"\r\n+CFUN: 1\r\n\r\nOK\r\n"
    assert error_reply().encode() == b"\r\nERROR\r\n"
    assert error_reply(516).encode() == b"\r\n+CME ERROR: 516\r\n"


class Sink:
    """Data-mode client recording each flush."""

    def __init__(self) -> None:
        self.flushes: List[bytes] = []
        self.exits: List[bool] = []

    def datamode_send(self, data: bytes, more_data: bool) -> int:
        self.flushes.append(data)
        return len(data)

    def datamode_exit(self, unexpected: bool) -> None:
        self.exits.append(unexpected)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300).map(lambda b: b.replace(b"+++", b"++x")),
       st.binary(max_size=20), st.lists(st.integers(0, 400), max_size=8))
def test_terminator_found_regardless_of_chunking(data, after, cuts):
    # Data that may end in "+" or "++" (the matcher must not lose or shift it).
    stream = data + b"+++" + after
    sent_to_host: List[str] = []
    mode = DataMode(sent_to_host.append, lambda: 0)
    sink = Sink()
    assert mode.enter(sink) == 0
    leftover = bytearray()
    last = 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]:
        chunk = stream[last:cut]
        last = cut
        while chunk:
            if mode.mode is Mode.DATA:
                used = mode.receive_data(chunk)
            else:
                leftover += chunk
                used = len(chunk)
            chunk = chunk[used:]
    # The first "+++" in the stream ends data mode; everything before it is data.
    first = stream.find(b"+++")
    assert b"".join(sink.flushes) == stream[:first]
    assert bytes(leftover) == stream[first + 3:]
    assert sent_to_host == ["\r\n#XDATAMODE: 0\r\n"]
    assert mode.mode is Mode.COMMAND


def test_unexpected_exit_and_drop_state():
    sent: List[str] = []
    mode = DataMode(sent.append, lambda: 115200)
    sink = Sink()
    assert mode.enter(sink) == 0
    assert mode.time_limit == 32 == min_time_limit(115200)
    assert mode.enter(sink) < 0
    assert mode.exit_unexpected(-104)
    assert sink.exits == [True] and mode.mode is Mode.DROP
    assert mode.receive_drop(b"junk++x+") == 8
    assert mode.mode is Mode.DROP
    assert mode.receive_drop(b"++AT") == 2
    assert sent == ["\r\n#XDATAMODE: -104\r\n"] and mode.mode is Mode.COMMAND
    assert not mode.exit_unexpected(-5)  # nothing to exit from in command mode
