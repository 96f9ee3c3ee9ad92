"""Serving: the prediction service for a project's deployment (being built)."""

__all__: list[str] = []
