"""mlpilot."""
