"""Benchmarks and reference checks for numpyro-dilation (not part of the installed package)."""
