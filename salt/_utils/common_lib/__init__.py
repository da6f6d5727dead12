"""Helpers every execution and state module here shares: running a command, masking
secrets, reading minion options and shaping a state's return. Plain Python: the callers
pass in what Salt gives them (``cmd.run_all``, ``__opts__``), so these unit-test without a
loader."""
