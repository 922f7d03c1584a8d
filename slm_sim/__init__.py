"""slm_sim - a CPython simulator of Nordic's nRF91 Serial LTE Modem (SLM) firmware.

The package only hands names on; see ``slm_sim/README.md`` for the CLI, the
control port and the in-process API.
"""
