"""Workflows: the only layer that reads inputs and writes output folders (atomically, with provenance)."""
