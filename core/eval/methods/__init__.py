"""Compared benchmark methods: the :class:`~h2mt.eval.methods.base.Method` protocol, one module
per family of methods and the registry (name -> factory) in :mod:`~h2mt.eval.methods.registry`."""
