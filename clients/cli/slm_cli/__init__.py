"""The `slm` command line."""
