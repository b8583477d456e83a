"""Benchmark datasets: their types, where their data lives, one loader per dataset and the registry."""
