"""Offline training of generator adapters: the kv block-attention adapter (:mod:`.kv_adapter`)."""
