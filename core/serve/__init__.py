"""``h2mt serve``: an OpenAI-compatible server whose "models" are h2mt indexes (docs/serve.md).

Needs the ``[serve]`` extra (FastAPI, uvicorn, prometheus-client). ``import h2mt`` never imports
this package; :class:`ServeConfig` imports nothing heavy, :func:`create_app` loads FastAPI on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServeConfig

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` on first access, or a one-line error naming the extra to install."""
    if name == "create_app":
        try:
            from .app import create_app
        except ImportError as e:
            from ..errors import MissingExtraError

            raise MissingExtraError(
                f"h2mt serve needs {e.name or 'fastapi'}, which is not installed: pip install 'h2mt[serve]'"
            ) from e
        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
