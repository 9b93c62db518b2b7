"""`python -m archcalc` runs the same entry point as the `archcalc` console script."""
from archcalc.cli import run

if __name__ == "__main__":
    run()
