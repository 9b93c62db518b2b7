"""One module per command; `archcalc.cli.LazyGroup.COMMANDS` lists them."""
