"""Prefill strategies: what the kept leaves become in the prompt, one module per strategy.

See :mod:`h2mt.query.prefill.base` for the protocol and the registry (docs/architecture.md,
"How to add a prefill mode").
"""
