"""The ``h2mt`` command line: ``main`` (build / ask / route / inspect / add / remove), ``bench`` and ``hmt``.

Dispatch and printing only; every algorithm lives in the library.
"""
