"""Subcommands of the `vrprune` CLI, one module each."""
