"""Screening pipelines (placeholder during development)."""
