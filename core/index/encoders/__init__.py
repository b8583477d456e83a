"""Encoders that turn texts into L2-normalised embedding rows: the protocol and one module per runtime.

:mod:`~h2mt.index.encoders.base` holds the :class:`Encoder` protocol and ``load_encoder``;
:mod:`~h2mt.index.encoders.onnx` the ONNX Runtime encoder; :mod:`~h2mt.index.encoders.names`
what names an encoder and where the embedded one lives.
"""
