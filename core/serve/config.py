"""``ServeConfig``: the settings of one ``h2mt serve`` process, typed and validated."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["ServeConfig"]


@dataclass(frozen=True)
class ServeConfig:
    """How the OpenAI-compatible server listens, admits work and logs (docs/serve.md).

    One generator serves every request: one request generates at a time, ``queue`` more may wait
    for it, and a request past that bound is answered 429 with ``Retry-After``.
    """

    host: str = "127.0.0.1"  # bind address (loopback by default; 0.0.0.0 exposes the server)
    port: int = 8000  # TCP port
    queue: int = 8  # requests that may wait for the generator beyond the one generating (0 = none)
    timeout_s: float = 120.0  # per-request limit: queue wait + routing + generation, in seconds
    max_body_bytes: int = 1 << 20  # largest request body accepted (413 above it)
    api_key_env: str | None = None  # environment variable holding the API key; None = no key required
    log_prompts: bool = False  # put the question in the access log (off: prompts are never logged)
    grace_s: float = 10.0  # on SIGTERM: seconds in-flight requests get to finish before they are cancelled
    retry_after_s: int = 1  # the Retry-After a 429 carries, in seconds

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise ConfigError("ServeConfig.host must not be empty (e.g. 127.0.0.1)")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"ServeConfig.port must be in 0..65535, got {self.port}")
        if self.queue < 0:
            raise ConfigError(f"ServeConfig.queue must be >= 0, got {self.queue}")
        if not self.timeout_s > 0:
            raise ConfigError(f"ServeConfig.timeout_s must be > 0 seconds, got {self.timeout_s}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"ServeConfig.max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        if self.grace_s < 0:
            raise ConfigError(f"ServeConfig.grace_s must be >= 0 seconds, got {self.grace_s}")
        if self.retry_after_s < 1:
            raise ConfigError(f"ServeConfig.retry_after_s must be >= 1 second, got {self.retry_after_s}")
        if self.api_key_env is not None and not self.api_key_env.strip():
            raise ConfigError("ServeConfig.api_key_env must name an environment variable (or be None)")

    def api_key(self) -> str | None:
        """The key clients must send (read from ``api_key_env`` now), or None when none is required.

        Raises :class:`ConfigError` when ``api_key_env`` names a variable that is unset or empty:
        a server asked to require a key never starts without one."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ConfigError(
                f"${self.api_key_env} is not set or empty: export the API key there, or drop the API key option"
            )
        return key
