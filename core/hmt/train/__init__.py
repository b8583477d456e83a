"""Training and evaluating an HMT memory: the trainer, its data (Debian manuals) and perplexity evaluation."""
