"""`python -m archcalc` runs the same entry point as the `archcalc` console script."""
from archcalc.main import main

if __name__ == "__main__":
    main()
