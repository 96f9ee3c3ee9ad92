"""``python -m mlpilot``: the command line."""

from mlpilot.cli import entry

if __name__ == "__main__":
    entry()
