"""Exceptions and errno numbers used by slm_mpy.

Everything slm_mpy raises is an ``OSError`` (with ``.errno``) or a ``ValueError`` for bad
arguments, so ``except OSError`` catches every modem or network failure:

* :class:`ATError` -- the modem answered ``ERROR``, ``+CME ERROR: <n>`` or ``+CMS ERROR: <n>``.
* :class:`ModemReset` -- the modem rebooted (``Ready`` banner) while something was pending.
* ``OSError(ETIMEDOUT)`` -- no answer in time.
* ``OSError(ECONNRESET/ECONNREFUSED/...)`` -- connection failures, from the modem's error value.
* ``OSError(EBUSY)`` -- not now: a command, a close or a receive that would wait, from inside a
  URC callback (nothing arrives before it returns); another command still running.
* ``ValueError`` -- a bad argument (wrong type or range), raised before anything is sent.
"""

# Linux/newlib numbers, the ones MicroPython's errno module uses on every port.
EIO = 5
EBADF = 9
EAGAIN = 11
ENOMEM = 12
EBUSY = 16
EINVAL = 22
EMSGSIZE = 90
EADDRINUSE = 98
ENETDOWN = 100
ENETUNREACH = 101
ECONNABORTED = 103
ECONNRESET = 104
ENOBUFS = 105
ENOTCONN = 107
ETIMEDOUT = 110
ECONNREFUSED = 111
EHOSTUNREACH = 113

# SLM reports Zephyr errno values (-errno); map the ones a host meets to the numbers above:
# pairs of (Zephyr, host) in a bytes object, a fraction of a dict's RAM.
_ZEPHYR_TO_HOST = bytes(
    (
        104, ECONNRESET,
        111, ECONNREFUSED,
        116, ETIMEDOUT,
        115, ENETDOWN,
        118, EHOSTUNREACH,
        128, ENOTCONN,
        113, ECONNABORTED,
        114, ENETUNREACH,
        139, EMSGSIZE,  # EOVERFLOW: UDP datagram larger than the data-mode buffer
        11, EAGAIN,
        22, EINVAL,
        9, EBADF,
        5, EIO,
        12, ENOMEM,
    )
)


def host_errno(zephyr_errno: int) -> int:
    """Host errno for a (positive) Zephyr errno value reported by SLM."""
    t = _ZEPHYR_TO_HOST
    for i in range(0, len(t), 2):
        if t[i] == zephyr_errno:
            return t[i + 1]
    return EIO


class ATError(OSError):
    """The modem rejected a command.

    ``line`` is the final result line (``"ERROR"``, ``"+CME ERROR: 10"``) and ``code`` the
    number after ``+CME ERROR:``/``+CMS ERROR:`` (``None`` for a plain ``ERROR``).
    ``command`` is the command that failed; ``lines`` the information lines sent before it.
    """

    def __init__(self, line: str, code: "int | None", command: str = "", lines: "list[str] | None" = None) -> None:
        super().__init__(EIO, line)
        self.line = line
        self.code = code
        self.command = command
        self.lines = lines if lines is not None else []

    def __str__(self) -> str:
        return "%s -> %s" % (self.command, self.line) if self.command else self.line


class ModemReset(OSError):
    """The modem rebooted (``Ready`` banner): pending commands failed, connections are closed."""

    def __init__(self, what: str = "modem rebooted") -> None:
        super().__init__(ECONNRESET, what)


def timeout_error(what: str) -> OSError:
    """``OSError(ETIMEDOUT)`` with a message that says what did not happen in time."""
    return OSError(ETIMEDOUT, what)


def check_int(name: str, value: object, low: int, high: int) -> int:
    """Validate an integer parameter against its range."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("%s must be an int in %d..%d, not %r" % (name, low, high, value))
    return value
