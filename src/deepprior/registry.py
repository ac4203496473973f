"""One small registry for every kind of plug-in: tasks, generators, operators, data terms, regularisers, stopping
rules, ℓ0 solvers, refiners, noise models.

A plug-in is one file with a decorator::

    from deepprior.registry import GENERATORS

    @GENERATORS.register("mine")
    class MyGenerator(Generator): ...

Each registry knows the package whose modules register into it and imports every module of that package on the
first lookup (:func:`pkgutil.iter_modules`), so a new file is found without editing any list. Importing this module
imports neither torch nor numpy: ``deepprior --help`` stays fast.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Generic, TypeVar

from .errors import InputError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Names → plug-ins of one kind.

    Parameters
    ----------
    kind
        What the entries are, for messages ("generator", "regulariser", ...).
    package
        Dotted name of the package whose modules register entries; all of them are imported on first use.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}
        self._loaded = package is None
        self._declared: list[str] | None = None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: add ``obj`` under ``name`` (a second entry of the same name is a programming error)."""

        def add(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)  # type: ignore[arg-type]
        for module in pkgutil.iter_modules(package.__path__):
            # Plug-ins are plain modules; sub-packages (e.g. the numba ℓ0 solvers) load only when used.
            if not module.name.startswith("_") and not module.ispkg:
                importlib.import_module(f"{self.package}.{module.name}")

    def get(self, name: str) -> T:
        """The entry registered as ``name``.

        Raises
        ------
        InputError
            No entry has that name; the message lists the choices.
        """
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            hint = did_you_mean(name, self.names())
            raise InputError(f"unknown {self.kind} {name!r}{hint}; choose one of {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        self._load()
        return list(self._entries)

    def declared_names(self) -> list[str]:
        """:meth:`names` in alphabetical order, without importing anything: the names that the package's modules
        declare with ``@REGISTRY.register("name")`` decorators, read from their source (an import would bring torch
        with most of them), and any entry registered from outside the package. What ``--help`` lists; a test checks
        that it holds the :meth:`names` of every registry."""
        if self._loaded:
            return sorted(self.names())
        if self._declared is None:
            try:
                self._declared = _declared_in(self.package)  # type: ignore[arg-type]
            except (OSError, SyntaxError):  # no source beside the bytecode: import them after all
                return sorted(self.names())
        return sorted({*self._declared, *self._entries})

    def values(self) -> list[T]:
        """Every entry, in registration order."""
        self._load()
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) pairs, in registration order."""
        self._load()
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names() if self._loaded else '...'})"


def _declared_in(package: str) -> list[str]:
    """The names given to ``.register("name")`` decorators of the top-level definitions in the plain modules of
    ``package``, read from their source without importing the package or its modules."""
    import ast
    from importlib.util import find_spec
    from pathlib import Path

    names = []
    for module in pkgutil.iter_modules(find_spec(package).submodule_search_locations):  # type: ignore[union-attr]
        if module.name.startswith("_") or module.ispkg:
            continue
        source = Path(module.module_finder.path, f"{module.name}.py").read_text(encoding="utf-8")  # type: ignore[union-attr]
        for node in ast.parse(source).body:
            for decorator in getattr(node, "decorator_list", ()):
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr == "register"
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    names.append(decorator.args[0].value)
    return names


def check_options(
    what: str, options: Mapping[str, Any], *takers: Callable[..., Any], given: Collection[str] = ()
) -> None:
    """Refuse an option that no taker accepts, with the one it may have meant and the list of those it takes.

    ``takers`` are the callables the options pass through, outermost first (a plug-in's ``build`` and then its
    class): a taker with ``**options`` hands the rest on to the next; if the last one does too, anything goes.
    ``given`` are the parameters that the caller fills in itself, not options.
    """
    accepted: set[str] = set()
    for taker in takers:
        parameters = inspect.signature(taker).parameters.values()
        accepted |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    else:
        return
    accepted -= {"self", "cls", "context", *given}
    for name in options:
        if name not in accepted:
            hint = did_you_mean(name, accepted)
            raise InputError(f"{what} takes no option {name!r}{hint}; its options: {', '.join(sorted(accepted))}")


# The registries of the package. Each entry's module lives in the named package; benchmark methods and suites have
# their own registries in the repository's benchmarks/ folder (not installed).
TASKS: Registry = Registry("task", "deepprior.tasks")
GENERATORS: Registry = Registry("generator", "deepprior.nets")
OPERATORS: Registry = Registry("operator", "deepprior.operators")
DATA_TERMS: Registry = Registry("data term", "deepprior.data_terms")
REGULARIZERS: Registry = Registry("regulariser", "deepprior.regularizers")
STOPPERS: Registry = Registry("stopping rule", "deepprior.stopping")
SOLVERS: Registry = Registry("ℓ0 solver", "deepprior.solvers")
REFINERS: Registry = Registry("refiner", "deepprior.refiners")
NOISE_MODELS: Registry = Registry("noise model", "deepprior.noise")

#: The plug-in registries (every one but TASKS), for the tests to enumerate (README table, contracts, --help).
PLUG_INS: tuple[Registry, ...] = (
    GENERATORS,
    OPERATORS,
    DATA_TERMS,
    REGULARIZERS,
    STOPPERS,
    SOLVERS,
    REFINERS,
    NOISE_MODELS,
)

__all__ = [
    "Registry",
    "check_options",
    "TASKS",
    "GENERATORS",
    "OPERATORS",
    "DATA_TERMS",
    "REGULARIZERS",
    "STOPPERS",
    "SOLVERS",
    "REFINERS",
    "NOISE_MODELS",
    "PLUG_INS",
]
