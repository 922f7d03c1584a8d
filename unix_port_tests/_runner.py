# MicroPython side of the unix-port test runner (the pytest side is tools/mpy_pytest.py).
#
#     micropython -X heapsize=192K _runner.py MODULE FUNCTION [async]
#
# Imports MODULE, calls FUNCTION() (through asyncio.run() when "async" is given)
# and prints PASS_MARK when it returns. An exception escapes to MicroPython,
# which prints the traceback and exits with status 1. Only a zero exit status
# together with the mark counts as a pass, so a test that ends the process
# early (sys.exit) fails.
#
# A test skips itself by raising an exception whose class is named SkipTest
# (`from _runner import SkipTest`, or any class of that name); its first
# argument is the reason.
import sys

PASS_MARK = "@@slm-unix-port-test-passed@@"
SKIP_MARK = "@@slm-unix-port-test-skipped@@"


class SkipTest(Exception):
    pass


def _drop_own_directory():
    # Running a script puts its directory first in sys.path; take it out so
    # that MICROPYPATH alone decides what is importable.
    here = sys.argv[0].rsplit("/", 1)[0]
    if sys.path and sys.path[0] == here:
        sys.path.pop(0)


def main():
    _drop_own_directory()
    # Compiling .py modules fragments the heap: with the driver and the test helpers
    # imported, the largest free block of a 192 KiB heap is about 30 KiB, and it moves with
    # every change of code size, so tests that allocate 32 KiB payloads would pass or fail
    # by accident. Collecting often while compiling keeps the garbage from spreading:
    # about 60 KiB stay in one piece (the same advice holds for .py imports on a board).
    import gc

    before = gc.threshold()
    gc.threshold(8192)
    module = __import__(sys.argv[1])
    gc.threshold(before)
    gc.collect()
    function = getattr(module, sys.argv[2])
    try:
        result = function()
        if len(sys.argv) > 3 and sys.argv[3] == "async":
            import asyncio

            asyncio.run(result)
    except Exception as exc:
        if type(exc).__name__ != "SkipTest":
            raise
        print(SKIP_MARK, exc.args[0] if exc.args else "")
        return
    print(PASS_MARK)


if __name__ == "__main__":
    main()
