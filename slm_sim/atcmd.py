"""Parsed AT commands and typed parameter access (the firmware's at_parser).

Parameter numbering follows the firmware: index 0 is the command name, the
first parameter is index 1, and ``param_count`` includes the name.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Optional

from . import zerrno


class CmdType(enum.Enum):
    """AT_PARSER_CMD_TYPE_*: a command without suffix counts as SET, like in at_parser."""

    SET = "set"
    READ = "read"
    TEST = "test"


class ParamError(Exception):
    """A parameter is missing, has the wrong type or is out of range (-> ERROR)."""

    def __init__(self, err: int = zerrno.EINVAL, why: str = "") -> None:
        super().__init__(why or f"parameter error {err}")
        self.err = err


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is "string" (quoted), "number", "empty" or "raw"."""

    kind: str
    text: str


@dataclass
class AtCommand:
    """A grammar-checked command split into name, type and parameters."""

    text: str                   # the whole command as received (latin-1 decoded)
    name: str                   # upper-case, e.g. "#XTCPCLI", "+CFUN", "" for plain AT
    type: CmdType
    params: List[Param] = field(default_factory=list)

    @property
    def param_count(self) -> int:
        """Like at_parser: the command name counts as parameter 0."""
        return 1 + len(self.params)

    def has(self, index: int) -> bool:
        """True when parameter ``index`` exists and is not empty."""
        return index < self.param_count and self.params[index - 1].kind != "empty"

    def _get(self, index: int) -> Param:
        if index < 1 or index >= self.param_count:
            raise ParamError(zerrno.EINVAL, f"parameter {index} missing")
        return self.params[index - 1]

    def num(self, index: int, lo: int = -(2 ** 31), hi: int = 2 ** 31 - 1) -> int:
        """Integer parameter within [lo, hi]."""
        param = self._get(index)
        if param.kind == "empty":
            raise ParamError(zerrno.ENODATA, f"parameter {index} empty")
        if param.kind != "number":
            raise ParamError(zerrno.EINVAL, f"parameter {index} is not a number")
        value = int(param.text)
        if not lo <= value <= hi:
            raise ParamError(zerrno.EINVAL, f"parameter {index} out of range")
        return value

    def opt_num(self, index: int, default: int, lo: int = -(2 ** 31), hi: int = 2 ** 31 - 1) -> int:
        """Optional integer: missing or empty gives ``default``."""
        if not self.has(index):
            return default
        return self.num(index, lo, hi)

    def string(self, index: int, max_len: Optional[int] = None) -> str:
        """Quoted string parameter, verbatim between the quotes."""
        param = self._get(index)
        if param.kind == "empty":
            raise ParamError(zerrno.ENODATA, f"parameter {index} empty")
        if param.kind != "string":
            raise ParamError(zerrno.EINVAL, f"parameter {index} is not a string")
        if max_len is not None and len(param.text) > max_len:
            raise ParamError(zerrno.ENOMEM, f"parameter {index} longer than {max_len}")
        return param.text


def parse(line: bytes) -> AtCommand:
    """Split a grammar-checked command line; raises ParamError on malformed parameters."""
    text = line.decode("latin-1")
    rest = text[2:]
    name_end = 0
    if rest[:1] in ("+", "%", "#"):
        name_end = 1
        while name_end < len(rest) and rest[name_end].isascii() and rest[name_end].isalnum():
            name_end += 1
    name = rest[:name_end].upper()
    tail = rest[name_end:]
    if tail == "?":
        return AtCommand(text, name, CmdType.READ)
    if tail == "=?":
        return AtCommand(text, name, CmdType.TEST)
    if tail.startswith("="):
        return AtCommand(text, name, CmdType.SET, _split_params(tail[1:]))
    return AtCommand(text, name, CmdType.SET)


def _split_params(text: str) -> List[Param]:
    params: List[Param] = []
    pos = 0
    length = len(text)
    while True:
        while pos < length and text[pos] == " ":
            pos += 1
        if pos < length and text[pos] == '"':
            end = text.find('"', pos + 1)
            if end < 0:
                raise ParamError(zerrno.EINVAL, "unterminated string")
            params.append(Param("string", text[pos + 1:end]))
            pos = end + 1
            while pos < length and text[pos] == " ":
                pos += 1
            if pos < length and text[pos] != ",":
                raise ParamError(zerrno.EINVAL, "text after a string parameter")
        else:
            end = text.find(",", pos)
            if end < 0:
                end = length
            token = text[pos:end].strip()
            params.append(_classify(token))
            pos = end
        if pos >= length:
            break
        pos += 1  # skip the comma
        if pos >= length:
            params.append(Param("empty", ""))
            break
    return params


def _classify(token: str) -> Param:
    if token == "":
        return Param("empty", "")
    digits = token[1:] if token[0] in "+-" else token
    if digits.isdigit() and digits.isascii():
        return Param("number", token)
    return Param("raw", token)


@dataclass
class ModemReply:
    """Answer of a command the modem itself handles (SLM forwards it verbatim).

    The firmware gets the whole answer from the modem as one buffer and writes
    it in one go: ``\\r\\n<line>\\r\\n...`` then an extra ``\\r\\n`` before the final
    result when there were information lines.
    """

    lines: List[str] = field(default_factory=list)
    result: str = "OK"

    def encode(self) -> bytes:
        text = "\r\n"
        if self.lines:
            text += "".join(line + "\r\n" for line in self.lines) + "\r\n"
        return (text + self.result + "\r\n").encode("latin-1")


def error_reply(cme: Optional[int] = None) -> ModemReply:
    """ERROR, or ``+CME ERROR: <n>`` when a code is given."""
    return ModemReply([], "ERROR" if cme is None else f"+CME ERROR: {cme}")
