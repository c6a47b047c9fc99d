"""Every public function, class and method that a library user calls has its own docstring.

The rooms checked are those whose API a user calls (model, train, serve, intents, evaluate). A method counts as
documented by its own ``__doc__`` only: an override that inherits its base's docstring (``inspect.getdoc`` would
find it) must still say what it does, or name the contract that it meets.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import sys
from types import ModuleType

import pytest

ROOMS = ("model", "train", "serve", "intents", "evaluate")


def _modules() -> list[ModuleType]:
    modules = []
    for room in ROOMS:
        package = importlib.import_module(f"elcrec_core.{room}")
        modules.append(package)
        for info in pkgutil.iter_modules(package.__path__):
            modules.append(importlib.import_module(f"elcrec_core.{room}.{info.name}"))
    return modules


def undocumented(module: ModuleType) -> list[str]:
    """The public functions, classes and methods defined in ``module`` without a docstring of their own, by
    qualified name (``Class.method``). Methods are those a class defines itself (not inherited), properties and
    static and class methods included; names that start with an underscore are private and not checked."""
    missing = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) and not (obj.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            doc = (obj.__doc__ or "").strip()
            if not doc or (dataclasses.is_dataclass(obj) and doc.startswith(f"{name}(")):  # @dataclass's own
                missing.append(name)
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                if inspect.isfunction(func) and not (func.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    return missing


def test_the_check_finds_a_function_a_class_a_dataclass_and_a_method_without_a_docstring(
        monkeypatch: pytest.MonkeyPatch) -> None:
    module = ModuleType("fake_room")
    monkeypatch.setitem(sys.modules, "fake_room", module)  # where @dataclass looks its module up
    source = (
        "class Documented:\n    'Has one.'\n    def fit(self):\n        pass\n"
        "    @property\n    def name(self):\n        'Its name.'\n    def _private(self):\n        pass\n"
        "class Bare:\n    pass\n"
        "def bare():\n    pass\n"
        "def documented():\n    'Has one.'\n"
        "import dataclasses\n@dataclasses.dataclass\nclass Fields:\n    x: int\n"
    )
    exec(compile(source, "fake_room", "exec"), module.__dict__)
    assert undocumented(module) == ["Documented.fit", "Bare", "bare", "Fields"]


def test_the_check_wants_an_override_to_have_its_own_docstring() -> None:
    module = ModuleType("fake_room")
    exec("class Base:\n    'B.'\n    def score(self):\n        'Scores.'\n"
         "class Child(Base):\n    'C.'\n    def score(self):\n        return 1\n", module.__dict__)
    assert undocumented(module) == ["Child.score"]


@pytest.mark.parametrize("module", _modules(), ids=lambda m: m.__name__)
def test_public_api_has_docstrings(module: ModuleType) -> None:
    assert undocumented(module) == [], f"{module.__name__}: public names without a docstring"
