"""`python -m sigmaform`."""

from sigmaform.cli import main

if __name__ == "__main__":
    main()
