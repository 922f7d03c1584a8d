"""Root conftest: pytest runs from the repository root with it on sys.path.

The unix-port plugin (tools/mpy_pytest.py) turns every
unix_port_tests/test_*.py module into MicroPython test items; its docstring
describes the conventions.
"""

pytest_plugins = ["tools.mpy_pytest"]
