"""Commands beyond the core ones in cli.py, one module per feature, each loaded
only when its command runs or help lists it (cli.py, COMMAND_MODULES). A module
defines Click commands and calls only Archive (and polylogue.clikit)."""
