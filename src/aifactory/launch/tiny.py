"""A tiny training run for `aifactory demo` and `aifactory run`: the launch template's train.py on this machine,
one process on the CPU, when PyTorch is installed; otherwise how to get it."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HOW_TO_GET_TORCH = ("PyTorch is not installed: `.venv/bin/pip install torch==2.13.0` (a CPU build) lets "
                    "`aifactory demo` and `make run` train a tiny model; `aifactory init` writes runs for the "
                    "machines.")
CONFIG = {"model": {"layers": 2, "hidden": 64, "heads": 4, "seq_len": 32, "vocab": 64},
          "train": {"steps": 60, "micro_batch": 8, "lr": 3e-3, "checkpoint_every": 30, "log_every": 20, "seed": 0,
                    "data": None},
          "layout": {"zero_stage": 0}}


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def tiny_training(timeout_s: float = 300) -> dict[str, Any]:
    """Train the tiny model for 60 steps in a subprocess; the first and last losses, tokens/s and the checkpoints."""
    if not torch_available():
        return {"ran": False, "message": HOW_TO_GET_TORCH}
    with tempfile.TemporaryDirectory(prefix="aif-tiny-") as folder:
        config = Path(folder) / "run.json"
        config.write_text(json.dumps({**CONFIG, "checkpoint_dir": str(Path(folder) / "ckpt")}), encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, str(Path(__file__).with_name("train.py")), "--config", str(config)],
                                  capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return {"ran": False, "message": f"the tiny training did not finish within {timeout_s:g} s"}
        checkpoints = sorted(p.name for p in (Path(folder) / "ckpt").glob("step-*.pt"))
    found = re.search(r"loss_first=([0-9.]+) loss_last=([0-9.]+)", done.stdout)
    speeds = [float(x.replace(",", "")) for x in re.findall(r"tokens/s=([0-9,]+)", done.stdout)]
    if done.returncode != 0 or found is None:
        return {"ran": False, "message": f"the tiny training failed: {(done.stderr or done.stdout)[-500:]}"}
    first, last = float(found.group(1)), float(found.group(2))
    return {"ran": True, "steps": 60, "loss_first": first, "loss_last": last,
            "tokens_per_s": max(speeds) if speeds else None, "checkpoints": checkpoints,
            "message": f"tiny training: loss {first:.2f} -> {last:.2f} in 60 steps, "
                       f"{max(speeds) if speeds else 0:,.0f} tokens/s, checkpoints {', '.join(checkpoints)}"}
