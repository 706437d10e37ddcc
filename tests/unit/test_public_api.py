"""The public surface: what users import must stay put."""

from __future__ import annotations

import inspect

import plexus_async


def test_all_is_sorted_and_complete() -> None:
    names = plexus_async.__all__
    assert names == sorted(names)
    public = {
        name
        for name, obj in vars(plexus_async).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    }
    assert public - {"annotations"} == set(names) - {"__version__"}


def test_exports_report_the_package_as_their_module() -> None:
    assert plexus_async.QueueFull.__module__ == "plexus_async"
    assert repr(plexus_async.QueueFull) == "<class 'plexus_async.QueueFull'>"


def test_every_error_is_a_plexus_error() -> None:
    errors = [
        obj
        for obj in vars(plexus_async).values()
        if inspect.isclass(obj) and issubclass(obj, Exception)
    ]
    assert len(errors) >= 10
    assert all(issubclass(e, plexus_async.PlexusError) for e in errors)
    assert issubclass(plexus_async.ClientClosed, RuntimeError)
    assert issubclass(plexus_async.ValidationError, ValueError)


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("plexus_async").joinpath("py.typed").is_file()
