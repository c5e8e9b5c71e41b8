"""`aifactory demo` and `aifactory run` train a tiny model when PyTorch is installed, else say how to get it."""

from __future__ import annotations

import pytest

from aifactory.launch import tiny


def test_without_torch_it_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiny, "torch_available", lambda: False)
    result = tiny.tiny_training()
    assert result == {"ran": False, "message": tiny.HOW_TO_GET_TORCH}
    assert "pip install torch==2.13.0" in result["message"]
