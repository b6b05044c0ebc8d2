"""Load what a command line names: a program from `path.py:object` and an optimizer from its name."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from backprose.errors import ProgramNotFound, UnknownOptimizer

OPTIMIZERS = {"optoprime": "backprose.optimizers.optoprime:OptoPrime",
              "textgrad": "backprose.optimizers.textgrad:TextGrad",
              "opro": "backprose.optimizers.opro:OPRO",
              "reflect": "backprose.optimizers.reflect:Reflect",
              "recipe": "backprose.optimizers.recipe:Recipe"}


def load_program(spec: str) -> Any:
    """The `bp.Module` that `path.py:object` names: an instance, or a class/function called with no args."""
    path_text, sep, name = spec.rpartition(":")
    if not sep or not path_text or not name:
        raise ProgramNotFound(spec, "it is not of the form path.py:object", "write e.g. `my_task.py:program`")
    if path_text.endswith(".py") or "/" in path_text:
        path = Path(path_text).expanduser().resolve()
        if not path.is_file():
            raise ProgramNotFound(spec, f"the file {path} does not exist", "check the path to your .py file")
        mod_name = f"_backprose_program_{abs(hash(str(path)))}"
        loader = importlib.util.spec_from_file_location(mod_name, path)
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        sys.modules[mod_name] = module
        sys.path.insert(0, str(path.parent))
        try:
            loader.loader.exec_module(module)
        except Exception as exc:
            raise ProgramNotFound(spec, f"importing {path.name} raised {type(exc).__name__}: {exc}",
                                  "run `python " + str(path) + "` to see the full error and fix it") from exc
        finally:
            sys.path.remove(str(path.parent))
    else:
        try:
            module = importlib.import_module(path_text)
        except ImportError as exc:
            raise ProgramNotFound(spec, f"the module {path_text!r} cannot be imported ({exc})",
                                  "give a path to a .py file or an importable module name") from exc
    obj = getattr(module, name, None)
    if obj is None:
        found = sorted(k for k, v in vars(module).items() if not k.startswith("_") and hasattr(v, "parameters"))
        raise ProgramNotFound(spec, f"{path_text} has no object named {name!r}",
                              f"use one of {', '.join(found) or '(no bp.Module found)'} after the colon")
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "parameters")):
        try:
            obj = obj()
        except TypeError as exc:
            raise ProgramNotFound(spec, f"calling {name}() failed ({exc})",
                                  "point at an instance, or a class or function that takes no arguments") from exc
        except Exception as exc:
            raise ProgramNotFound(spec, f"calling {name}() raised {type(exc).__name__}: {exc}",
                                  f"call {name}() in Python to see the full error and fix it") from exc
    if not hasattr(obj, "parameters") or not callable(obj):
        raise ProgramNotFound(spec, f"{name} is a {type(obj).__name__}, not a callable bp.Module",
                              "subclass bp.Module, hold prompts as bp.param(...) and define __call__(input)")
    if not obj.parameters():
        raise ProgramNotFound(spec, f"{name} has no trainable parameters",
                              "make the prompt a bp.param(...) attribute of the module")
    return obj


def make_optimizer(name: str, parameters: list[Any], llm: Any = None, *, check_only: bool = False,
                   **options: Any) -> Any:
    """An optimizer from its registered name (`OPTIMIZERS`); `check_only` just validates the name."""
    target = OPTIMIZERS.get(name.lower())
    if target is None:
        raise UnknownOptimizer("optimizer", name, sorted(OPTIMIZERS))
    if check_only:
        return None
    mod_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(mod_name), cls_name)
    return cls(parameters, llm=llm, **options)
