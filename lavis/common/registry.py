"""Name → class registries for models, dataset builders, processors, tasks, runners and LR schedulers.

A registry name is the word a config uses for a thing (``blip2_mr``, ``qvh``, ``moment_retrieval``).
Built-in components are found, not listed: every module directly inside the packages of
``_BUILTIN_PACKAGES`` is imported the first time a registry is queried. Adding a system means adding its
files; nothing here changes. ``import lavis`` stays cheap, and a module imports heavy optional
dependencies inside the functions that need them.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from lavis.common.errors import RegistryError

T = TypeVar("T")

_BUILTIN_PACKAGES = (
    "lavis.processors",
    "lavis.datasets.builders",
    "lavis.models",
    "lavis.tasks",
    "lavis.runners",
)
_BUILTIN_MODULES = ("lavis.common.schedulers",)
_builtins_loaded = False


def _builtin_modules() -> list[str]:
    names = list(_BUILTIN_MODULES)
    for package in _BUILTIN_PACKAGES:
        pkg = importlib.import_module(package)
        names += sorted(
            f"{package}.{info.name}" for info in pkgutil.iter_modules(pkg.__path__)
            if not info.ispkg and not info.name.startswith("_")
        )
    return names


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for module in _builtin_modules():
        importlib.import_module(module)


class Registry:
    """A named mapping from config words to classes (or factories)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise RegistryError(
                    f"{self.kind} name {name!r} is already registered to {self._entries[name]!r}"
                )
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> Any:
        _load_builtins()
        if name not in self._entries:
            known = sorted(self._entries)
            close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise RegistryError(
                f"Unknown {self.kind} {name!r}.{hint} Registered {self.kind}s: {', '.join(known) or '(none)'}."
            )
        return self._entries[name]

    def list(self) -> list[str]:
        _load_builtins()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        _load_builtins()
        return name in self._entries


models = Registry("model")
builders = Registry("dataset builder")
processors = Registry("processor")
tasks = Registry("task")
runners = Registry("runner")
lr_schedulers = Registry("lr scheduler")

# LAVIS-style spellings, so code and configs from that world read the same here.
register_model = models.register
register_builder = builders.register
register_processor = processors.register
register_task = tasks.register
register_runner = runners.register
register_lr_scheduler = lr_schedulers.register

get_model_class = models.get
get_builder_class = builders.get
get_processor_class = processors.get
get_task_class = tasks.get
get_runner_class = runners.get
get_lr_scheduler_class = lr_schedulers.get

list_models = models.list
list_datasets = builders.list
list_processors = processors.list
list_tasks = tasks.list
list_runners = runners.list
list_lr_schedulers = lr_schedulers.list
