"""What every ``h2mt`` command shares: one-line errors, defaults and checks of its options.

- :class:`H2MTGroup`: the command group of every ``h2mt`` app. An :class:`~h2mt.errors.H2MTError`
  prints ``error: ...`` and exits with its class's code; a bad option value prints click's short
  usage block with one ``Error:`` line and exits 2 (the same through ``main()``, a test's
  ``CliRunner`` and ``python -m``).
- :func:`default`: an option's default, read from the config dataclass that owns it (never restated).
- :func:`choice`, :func:`one_of`, :func:`check_device`, :func:`check_model`, :func:`check_list`:
  options with a fixed set of values are checked while the command line is parsed, before any model loads.
- :func:`option_names`: a config error raised for a CLI call names the CLI option (``--beam``), not
  the API field (``RouteConfig.beam_width``).
"""

from __future__ import annotations

import dataclasses
import enum
import re
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer.core import HAS_RICH, TyperGroup

from ..errors import BudgetError, ConfigError, H2MTError

__all__ = [
    "H2MTGroup",
    "state",
    "default",
    "literal_values",
    "one_of",
    "choice",
    "check_device",
    "check_model",
    "check_list",
    "option_names",
    "same_names",
    "extra",
    "show_progress",
]

state: dict[str, Any] = {"debug": False}
# click's usage-error base class, whichever click typer runs on (its own vendored copy or the package)
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)  # set by ``h2mt --debug``: errors keep their traceback


class H2MTGroup(TyperGroup):
    """A typer command group whose errors are one line with the error's exit code."""

    def main(  # type: ignore[override]
        self,
        args: typing.Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; in standalone mode errors print one line and exit with their code."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except H2MTError as e:
            if state["debug"]:
                raise
            typer.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except _ClickException as e:  # a bad option value: the usage line and one error line
            e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def default(cls: type, name: str) -> Any:
    """The default the dataclass ``cls`` declares for its field ``name`` (what the CLI shows and uses
    when the option is not given; read from the class, so it is never restated)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise KeyError(f"{cls.__name__}.{name} has no default")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def literal_values(cls: type, name: str) -> tuple[str, ...]:
    """The values of the ``Literal[...]`` type of ``cls``'s field ``name`` (or its enum's values)."""
    owner = next(c for c in cls.__mro__ if name in getattr(c, "__annotations__", {}))
    hint = owner.__annotations__[name]
    if isinstance(hint, str):  # postponed annotations: evaluate this one in its module
        hint = eval(hint, vars(sys.modules[owner.__module__]))  # noqa: S307 - our own source code
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return tuple(str(m.value) for m in hint)
    values = tuple(str(a) for a in typing.get_args(hint) if a is not None and a is not type(None))
    if not values:
        raise TypeError(f"{cls.__name__}.{name} is not a Literal or an enum")
    return values


def one_of(values: Iterable[Any]) -> Callable[[str], str]:
    """A check of an option that takes one of ``values`` (enum members give their values)."""
    allowed = tuple(str(v.value) if isinstance(v, enum.Enum) else str(v) for v in values)

    def check(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return check


def choice(values: Iterable[Any], default: Any, *decls: str, help: str) -> Any:
    """A ``typer.Option`` taking one of ``values`` (enum members give their values), shown as its
    metavar and checked while the command line is parsed."""
    allowed = tuple(str(v.value) if isinstance(v, enum.Enum) else str(v) for v in values)
    if isinstance(default, enum.Enum):
        default = default.value
    metavar = f"<{'|'.join(allowed)}>"
    return typer.Option(default, *decls, callback=one_of(allowed), metavar=metavar, help=help)


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(value: str) -> str:
    """``--device``: auto, cpu, cuda, cuda:N or mps."""
    if not _DEVICE.fullmatch(value.strip()):
        raise typer.BadParameter(f"{value!r} is not a device; use auto, cpu, cuda, cuda:N or mps")
    return value.strip()


def check_model(value: str | None) -> str | None:
    """``--model``: a preset name, or an existing Hugging Face folder or GGUF file."""
    if value is None:
        return None
    from ..backends.presets import PRESETS, get_preset

    if get_preset(value) is not None or Path(value).expanduser().exists():
        return value
    raise typer.BadParameter(
        f"{value!r} is neither a preset ({', '.join(PRESETS)}) nor an existing model folder or .gguf file"
    )


def check_list(values: Iterable[str]) -> Callable[[str], str]:
    """A check of a comma-separated option whose every item must be one of ``values``."""
    allowed = tuple(values)

    def check(value: str) -> str:
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise typer.BadParameter(f"takes {', '.join(allowed)}, comma-separated (got {value!r})")
        return ",".join(items)

    return check


def same_names(cls: type, names: Iterable[str]) -> dict[str, str]:
    """``{"Cls.field": "--field"}`` for fields whose CLI option is spelled like the field."""
    return {f"{cls.__name__}.{n}": "--" + n.replace("_", "-") for n in names}


@contextmanager
def option_names(names: dict[str, str]) -> Iterator[None]:
    """Inside, a :class:`ConfigError` or :class:`BudgetError` that names an API field (a key of
    ``names``, e.g. ``RouteConfig.beam_width``) is raised again naming the CLI option (``--beam``)."""
    try:
        yield
    except (ConfigError, BudgetError) as e:
        msg = str(e)
        for api in sorted(names, key=len, reverse=True):
            msg = msg.replace(api, names[api])
        if msg == str(e):
            raise
        raise type(e)(msg) from e


def extra(name: str) -> str:
    """``pip install 'h2mt[name]'`` for a help text (rich markup would swallow an unescaped ``[name]``)."""
    return f"pip install 'h2mt\\[{name}]'" if HAS_RICH else f"pip install 'h2mt[{name}]'"


def show_progress(flag: bool | None) -> bool:
    """``--progress/--no-progress``; unset, progress bars show only when stderr is a terminal."""
    if flag is not None:
        return flag
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
