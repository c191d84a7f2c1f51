"""The generic Registry: registration, lookup errors that list known names."""

from __future__ import annotations

import pytest

from fakescope.errors import FakescopeError
from fakescope.registry import Registry


def make() -> Registry[object]:
    reg: Registry[object] = Registry("widget")

    @reg.register("zeta")
    class Zeta:
        pass

    @reg.register("alpha")
    def alpha() -> int:
        return 1

    return reg


def test_register_returns_the_object_and_get_finds_it() -> None:
    reg: Registry[object] = Registry("widget")

    def f() -> int:
        return 7

    assert reg.register("f")(f) is f
    assert reg.get("f") is f


def test_names_are_sorted_and_container_protocol() -> None:
    reg = make()
    assert reg.names() == ["alpha", "zeta"]
    assert list(reg) == ["alpha", "zeta"]
    assert len(reg) == 2
    assert "alpha" in reg
    assert "beta" not in reg


def test_duplicate_registration_is_a_bug() -> None:
    reg = make()
    with pytest.raises(ValueError, match="widget 'alpha' is registered twice"):
        reg.register("alpha")(object())
    assert len(reg) == 2


def test_unknown_name_lists_known_ones_on_one_line() -> None:
    with pytest.raises(FakescopeError) as info:
        make().get("beta")
    message = str(info.value)
    assert message == "unknown widget 'beta'; choose one of: alpha, zeta"


def test_empty_registry_says_none() -> None:
    with pytest.raises(FakescopeError, match="choose one of: none"):
        Registry[object]("gadget").get("x")


def test_lookup_before_the_catalog_is_imported_names_the_catalog() -> None:
    reg: Registry[object] = Registry("gizmo", catalog="fakescope.no_such_catalog")
    with pytest.raises(FakescopeError) as info:
        reg.get("x")
    assert str(info.value) == (
        "unknown gizmo 'x'; choose one of: none "
        "(built-in ones register when fakescope.no_such_catalog is imported)"
    )
    loaded: Registry[object] = Registry("gizmo", catalog="fakescope.registry")
    with pytest.raises(FakescopeError) as info:
        loaded.get("x")
    assert str(info.value) == "unknown gizmo 'x'; choose one of: none"
