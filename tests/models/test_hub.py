"""Offline hub detection: env variables, one cached connect, cache-only loading, fast failure."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakescope.models import hub
from fakescope.models.catalog import create_backbone
from fakescope.models.hub import HubUnavailableError, hub_cache_only, hub_offline_reason


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No offline/proxy variables from the caller's shell; the per-process cache emptied."""
    for var in (*hub.OFFLINE_VARS, *hub.PROXY_VARS, "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    hub._connect_fails.cache_clear()
    yield
    hub._connect_fails.cache_clear()


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_variables_are_honoured(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the variable alone must decide; no connect")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv(var, "1")
    assert hub_offline_reason() == f"{var}=1 is set"
    monkeypatch.setenv(var, "0")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")  # behind a proxy: assumed reachable
    assert hub_offline_reason() is None


def test_the_connect_check_runs_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []

    def refused(address: tuple[str, int], timeout: float) -> None:
        calls.append((address, timeout))
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refused)
    first = hub_offline_reason()
    assert first is not None and "huggingface.co:443" in first
    assert hub_offline_reason() == first
    assert calls == [(("huggingface.co", 443), hub.CONNECT_TIMEOUT_S)]


def test_a_reachable_endpoint_is_online(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as server:  # a real listening socket on this machine
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_offline_reason() is None
    server_closed = f"http://127.0.0.1:{port}/"
    monkeypatch.setenv("HF_ENDPOINT", server_closed)
    hub._connect_fails.cache_clear()
    assert "127.0.0.1" in (hub_offline_reason() or "")


def test_cache_only_mode_is_restored() -> None:
    constants = pytest.importorskip("huggingface_hub.constants")
    before = constants.HF_HUB_OFFLINE
    with pytest.raises(RuntimeError), hub_cache_only():
        assert constants.HF_HUB_OFFLINE is True
        raise RuntimeError("boom")
    assert before == constants.HF_HUB_OFFLINE


def test_offline_timm_pretrained_fails_at_once_naming_real_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """HF_HUB_OFFLINE=1 and an empty hub cache: the real timm loader raises our one-line error."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError) as info:
        create_backbone("timm:test_resnet.r160_in1k", pretrained=True)
    msg = str(info.value)
    assert "HF_HUB_OFFLINE=1 is set" in msg and "\n" not in msg
    assert "--set detector.params.weights=PATH" in msg
    assert "--set detector.params.pretrained=false" in msg


def test_offline_open_clip_pretrained_fails_at_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("open_clip", reason="open_clip_torch is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError, match=r"--set detector\.params\.weights=PATH"):
        create_backbone("open_clip:RN50/openai", pretrained=True, cache_dir=str(tmp_path / "clip"))
