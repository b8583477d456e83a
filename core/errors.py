"""Typed exception hierarchy: every user-facing failure is an :class:`H2MTError`.

Each message says what happened and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "H2MTError",
    "InputError",
    "ParseError",
    "EmptySourceError",
    "ModelError",
    "ModelNotFoundError",
    "IndexFileError",
    "IndexCorruptError",
    "IndexVersionError",
    "BudgetError",
    "ResourceError",
    "ConfigError",
    "MissingExtraError",
]


class H2MTError(Exception):
    """Base class of every error h2mt raises on purpose."""

    exit_code: int = 1


class ConfigError(H2MTError, ValueError):
    """A configuration value is invalid."""

    exit_code = 2


class InputError(H2MTError, ValueError):
    """The input (a file, a question, a path) cannot be used as given."""

    exit_code = 3


class ParseError(InputError):
    """A source file could not be parsed (binary, undecodable, malformed)."""

    exit_code = 4


class EmptySourceError(ParseError):
    """A source file is empty (or whitespace only): there is nothing to index in it."""


class ModelError(H2MTError, RuntimeError):
    """The generator or encoder could not be loaded or run."""

    exit_code = 5


class ModelNotFoundError(ModelError):
    """A model file or the embedded default model is not installed."""

    exit_code = 6


class IndexFileError(H2MTError, RuntimeError):
    """A saved index cannot be read or written."""

    exit_code = 7


class IndexCorruptError(IndexFileError):
    """A saved index is truncated, corrupted or not an h2mt index."""

    exit_code = 8


class IndexVersionError(IndexFileError):
    """A saved index was written by an incompatible format version."""

    exit_code = 9


class BudgetError(H2MTError, ValueError):
    """The token budget cannot hold the question or a single leaf."""

    exit_code = 10


class ResourceError(H2MTError, RuntimeError):
    """Not enough memory or another resource to run the request."""

    exit_code = 11


class MissingExtraError(H2MTError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    exit_code = 12
