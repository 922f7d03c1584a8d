"""Command-line assembly: host bytes -> complete AT command lines (SLM's cmd_rx_handler).

Rules modelled (CR+LF termination, the firmware default):

* a command is submitted when LF arrives right after CR, outside double quotes;
  the CR is trimmed. A lone CR or a lone LF is stored as part of the command;
* every ``"`` toggles the quote state, so terminators inside quotes are data;
* 0x08 and 0x7F delete the previously stored byte;
* at most 4096 bytes are stored; a longer line is answered with ERROR when its
  terminator arrives;
* an empty line is ignored.

:func:`prepare` then does what ``cmd_send`` does before dispatch: skip bytes
in front of the first ``AT`` and check the command grammar.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

MAX_CMD_LEN = 4096  # SLM_AT_MAX_CMD_LEN
CR = 0x0D
LF = 0x0A
QUOTE = 0x22
BACKSPACE = 0x08
DELETE = 0x7F


@dataclass(frozen=True)
class Overflow:
    """The line was longer than MAX_CMD_LEN: answer ERROR, drop it."""

    length: int


LineEvent = Union[bytes, Overflow]


class CommandLine:
    """Byte-by-byte line assembler with the firmware's quote and backspace rules."""

    def __init__(self) -> None:
        self._buf = bytearray(MAX_CMD_LEN)
        self.reset()

    def reset(self) -> None:
        """Forget any partial line (reboot)."""
        self._len = 0            # logical length; may exceed MAX_CMD_LEN (overflow)
        self._inside_quotes = False
        self._prev = 0           # like the firmware, survives across commands

    @property
    def pending(self) -> int:
        """Number of bytes of an unfinished line."""
        return self._len

    def feed(self, data: bytes) -> Tuple[int, Optional[LineEvent]]:
        """Consume ``data`` up to and including the first terminator.

        Returns ``(consumed, event)``; ``event`` is the completed line (bytes,
        CR trimmed), an :class:`Overflow`, or None when more bytes are needed
        (then all of ``data`` was consumed). Empty lines are swallowed here.
        """
        for index, byte in enumerate(data):
            if byte in (BACKSPACE, DELETE):
                if self._len > 0:
                    self._len -= 1
                continue
            if byte == LF and not self._inside_quotes and self._len > 0 and self._prev == CR:
                self._len -= 1  # trim the CR
                event = self._submit()
                if event is None:
                    continue     # empty command: ignored, keep scanning
                return index + 1, event
            if self._len < MAX_CMD_LEN:
                self._buf[self._len] = byte
            self._len += 1
            if byte == QUOTE:
                self._inside_quotes = not self._inside_quotes
            self._prev = byte
        return len(data), None

    def _submit(self) -> Optional[LineEvent]:
        length = self._len
        self._len = 0
        self._inside_quotes = False
        if length > MAX_CMD_LEN:
            return Overflow(length)
        if length == 0:
            return None
        return bytes(self._buf[:length])


def prepare(line: bytes) -> Optional[bytes]:
    """Skip leading garbage and check the grammar; None means "answer ERROR".

    Grammar (case-insensitive): ``AT``, ``AT<sep><body>``, ``AT<sep><body>=``,
    ``...?``, ``...=?`` or ``...=<params>`` with ``<sep>`` one of ``+ % #`` and
    ``<body>`` alphanumeric. Anything after a NUL byte is ignored, as the
    firmware handles the line as a C string.
    """
    start = _find_at(line)
    if start is not None:
        line = line[start:]
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    return line if grammar_ok(line) else None


def _find_at(line: bytes) -> Optional[int]:
    upper = line.upper()
    index = upper.find(b"AT")
    return index if index >= 0 else None


def grammar_ok(cmd: bytes) -> bool:
    """The firmware's cmd_grammar_check()."""
    if len(cmd) < 2 or cmd[:2].upper() != b"AT":
        return False
    rest = cmd[2:]
    if not rest:
        return True
    if rest[:1] not in (b"+", b"%", b"#"):
        return False
    body_end = 1
    while body_end < len(rest) and _is_alnum(rest[body_end]):
        body_end += 1
    if body_end == 1:
        return False
    tail = rest[body_end:]
    if not tail:
        return True
    if tail[:1] == b"?":
        return tail == b"?"
    if tail[:1] != b"=":
        return False
    tail = tail[1:]
    if tail[:1] == b"?":
        return tail == b"?"
    return True  # "=" alone or "=<parameters>": parameters are not checked here


def _is_alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A
