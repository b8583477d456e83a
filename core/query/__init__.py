"""The per-question side of h2mt: route -> prompt -> prefill strategy -> generate.

Nothing here imports the benchmark or the CLI (docs/architecture.md section 2); the offline
side (:mod:`h2mt.index`) is read, never written, except by memory search's cached keys.
"""
