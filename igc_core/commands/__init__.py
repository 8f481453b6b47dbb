"""The `igc` subcommands, one module each: `register(sub)` adds its parser, `run(args) -> int` does the work.

Commands parse arguments, call the engine and print; the measuring itself lives in the engine modules
(`igc_core.evaluate`, `igc_core.search`, ...), which never print.
"""

from . import attack, bench, calibrate, classify, evaluate, train

COMMANDS = (train, classify, evaluate, calibrate, bench, attack)
