"""The offline side of h2mt: sources -> parsed documents -> leaves -> tree -> memory embeddings -> index file.

Everything here runs at build time (or on ``add``/``remove``); nothing here imports the query
side (:mod:`h2mt.query`), the benchmark or the CLI (docs/architecture.md section 2).
"""
