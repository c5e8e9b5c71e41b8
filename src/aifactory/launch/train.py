"""A decoder-only transformer trained with PyTorch, one process per GPU (or per CPU slot), resumable.

`aifactory init` copies this file next to run.json, launch.sh and job.sbatch; it needs only PyTorch.

    python train.py --config run.json [--checkpoint-dir DIR]

run.json gives the model (layers, hidden, heads, ffn_hidden, glu, seq_len, vocab), the training (steps,
micro_batch, lr, checkpoint_every steps, checkpoint_seconds, log_every, seed, data: a file of uint16 tokens or null
for a synthetic corpus) and the layout the planner chose (zero_stage).

Distributed set-up from the environment torchrun or srun gives: RANK/WORLD_SIZE/LOCAL_RANK (torchrun) or
SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (srun, one task per GPU), MASTER_ADDR and MASTER_PORT. NCCL on GPUs,
gloo on CPUs. With more than one process the model is sharded with FSDP2 (`fully_shard`, each block and the whole
model) when zero_stage > 0 (parameters resharded after the forward pass at stage 3, kept until the backward pass at
stages 1-2), else replicated with DDP; DDP also when this PyTorch refuses to shard (the log says why). The first log
line names the wrapping (wrap=FSDP2, DDP or -).

Surviving time limits: a checkpoint every `checkpoint_every` steps or `checkpoint_seconds` seconds, and one more
before stopping when the job's end is near (AIF_DEADLINE, seconds since the epoch, given by launch.sh from Slurm;
the margin is three step times plus the last checkpoint's duration, at least AIF_DEADLINE_MARGIN_S) or when SIGUSR1
or SIGTERM arrives (Slurm's --signal warning). Every rank agrees on stopping at the same step. Checkpoints are
written to a temporary file and renamed, `latest` names the last complete one, and the two newest are kept; a start
resumes from `latest`. The exit status is 0 when the steps are done, 3 (STOPPED_EXIT) when it stopped early with a
checkpoint (and a file `stopped` next to the checkpoints says so, for launch.sh), so the next segment resumes.

A checkpoint holds the model, the AdamW state, the step and the losses so far. Unsharded: one file
`step-NNNNNNNN.pt` (torch.save, written by rank 0). Sharded: a folder `step-NNNNNNNN.dcp` written by every rank with
torch.distributed.checkpoint (`.metadata` and one `__R_0.distcp` per rank) plus `train.json` (step, losses). Either
kind resumes with any number of processes and either wrapping (DCP reshards on load).

In a managed run (the portal's segments): the steps, the checkpoint folder and interval come from AIF_RUN_STEPS,
AIF_RUN_CHECKPOINT_DIR (unless --checkpoint-dir is given) and AIF_RUN_CHECKPOINT_EVERY; each checkpoint gets a
marker, `step-<N>.json` ({"step", "tokens", "path", "time"}), next to it and in `$AIF_JOB_DIR/checkpoints/`, where
the site's agent reads it and reports it to the portal (a segment also marks the checkpoint it resumed from); and the
lease (AIF_LEASE_FILE, seconds since the epoch, renewed by the site's agent) is a deadline like the job's end: the run
checkpoints and stops before it passes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.nn.functional as F  # noqa: N812
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

import torch
from torch import nn

STOPPED_EXIT = 3
_signalled: list[int] = []


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_heads: int, ffn: int, glu: bool) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, hidden // heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, hidden + 2 * kv_heads * self.head_dim, bias=False)
        self.proj = nn.Linear(hidden, hidden, bias=False)
        self.norm2 = nn.LayerNorm(hidden)
        self.glu = glu
        self.up = nn.Linear(hidden, (2 if glu else 1) * ffn, bias=False)
        self.down = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self.qkv(self.norm1(x)).split([h, self.kv_heads * self.head_dim, self.kv_heads * self.head_dim], -1)
        q = q.view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = v.view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, s, h))
        up = self.up(self.norm2(x))
        if self.glu:
            gate, value = up.chunk(2, dim=-1)
            up = F.silu(gate) * value
        else:
            up = F.gelu(up)
        return x + self.down(up)


class Transformer(nn.Module):
    def __init__(self, model: dict[str, Any]) -> None:
        super().__init__()
        hidden, layers = int(model["hidden"]), int(model["layers"])
        self.embed = nn.Embedding(int(model["vocab"]), hidden)
        self.pos = nn.Embedding(int(model["seq_len"]), hidden)
        ffn = int(model.get("ffn_hidden") or 4 * hidden)
        kv = int(model.get("kv_heads") or model["heads"])
        self.blocks = nn.ModuleList(Block(hidden, int(model["heads"]), kv, ffn, bool(model.get("glu"))) for _ in
                                    range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, int(model["vocab"]), bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.embed(tokens) + self.pos(positions)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # type: ignore[no-any-return]


class Corpus:
    """Training tokens: a file of uint16 tokens, or a synthetic corpus with structure a model can learn (each token
    follows from the one before it by a fixed rule, with 5 % noise)."""

    def __init__(self, data: str | None, vocab: int, seed: int) -> None:
        self.vocab = vocab
        self.tokens: torch.Tensor | None = None
        if data:
            raw = Path(data).read_bytes()
            self.tokens = torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.long) % vocab
        self.seed = seed

    def batch(self, step: int, rank: int, size: int, seq: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step * 1009 + rank)
        if self.tokens is not None:
            starts = torch.randint(0, len(self.tokens) - seq - 1, (size,), generator=gen)
            return torch.stack([self.tokens[s: s + seq] for s in starts.tolist()])
        out = torch.empty(size, seq, dtype=torch.long)
        out[:, 0] = torch.randint(0, self.vocab, (size,), generator=gen)
        for i in range(1, seq):
            out[:, i] = (out[:, i - 1] * 5 + 3) % self.vocab
        noise = torch.rand(size, seq, generator=gen) < 0.05
        out[noise] = torch.randint(0, self.vocab, (int(noise.sum()),), generator=gen)
        return out


def distributed_env() -> tuple[int, int, int]:
    if "RANK" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    if "SLURM_PROCID" in os.environ and "MASTER_ADDR" in os.environ:
        rank, world = int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=os.environ.get("SLURM_LOCALID", "0"))
        return rank, world, int(os.environ["LOCAL_RANK"])
    return 0, 1, 0


def log(rank: int, text: str) -> None:
    if rank == 0:
        print(f"[train] {text}", flush=True)


def write_marker(folder: Path, marker: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{marker['step']:08d}.json"
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(marker) + "\n", encoding="utf-8")
    os.replace(tmp, folder / name)


def resumed_marker(path: Path, name: str, step: int) -> dict[str, Any]:
    """The marker of the checkpoint `name` in `path`: the one written next to it, or one made from the file."""
    try:
        marker: dict[str, Any] = json.loads((path / f"step-{step:08d}.json").read_text(encoding="utf-8"))
        return marker
    except (OSError, ValueError):
        written = datetime.fromtimestamp((path / name).stat().st_mtime, UTC)
        return {"step": step, "tokens": 0, "path": str((path / name).absolute()),
                "time": written.isoformat(timespec="seconds")}


def lease_until() -> float:
    """The lease's end (seconds since the epoch) from AIF_LEASE_FILE; 0 without a lease; a lease file that cannot be
    read counts as ended (the batch script stops the commands then too)."""
    path = os.environ.get("AIF_LEASE_FILE")
    if not path:
        return 0.0
    try:
        return float(Path(path).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return 1.0


def save(path: Path, step: int, losses: list[float], model: nn.Module, optimizer: torch.optim.Optimizer,
         sharded: bool, rank: int, keep: int = 2, tokens: int = 0) -> float:
    """Write a checkpoint (every rank calls this) and point `latest` at it; the time it took."""
    started = time.monotonic()
    path.mkdir(parents=True, exist_ok=True)
    # Sharded: each rank's shards; else full tensors (on the CPU), which only rank 0 writes.
    model_state, optim_state = get_state_dict(model, optimizer, options=StateDictOptions(
        full_state_dict=not sharded, cpu_offload=not sharded))
    name = f"step-{step:08d}.dcp" if sharded else f"step-{step:08d}.pt"
    tmp = path / f".{name}.tmp"
    if sharded:
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        dist.barrier()
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=tmp)
        if rank == 0:
            (tmp / "train.json").write_text(json.dumps({"step": step, "losses": losses}), encoding="utf-8")
    elif rank == 0:
        torch.save({"step": step, "model": model_state, "optimizer": optim_state, "losses": losses}, tmp)
    if rank == 0:
        shutil.rmtree(path / name, ignore_errors=True)
        os.replace(tmp, path / name)
        latest_tmp = path / ".latest.tmp"
        latest_tmp.write_text(name + "\n", encoding="utf-8")
        os.replace(latest_tmp, path / "latest")
        kept = [p for p in path.glob("step-*") if p.suffix != ".json"]
        for old in sorted(kept, key=lambda p: p.name.split(".")[0])[:-keep]:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
            old.with_suffix(".json").unlink(missing_ok=True)
        marker = {"step": step, "tokens": tokens, "path": str((path / name).absolute()),
                  "time": datetime.now(UTC).isoformat(timespec="seconds")}
        write_marker(path, marker)
        if os.environ.get("AIF_JOB_DIR"):  # where the site's agent looks for it
            write_marker(Path(os.environ["AIF_JOB_DIR"]) / "checkpoints", marker)
    return time.monotonic() - started


def load(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, list[float]] | None:
    """Resume model and optimizer from the checkpoint `latest` names (every rank calls this): its step and losses,
    or None when there is none."""
    try:
        name = (path / "latest").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not name.startswith("step-") or "/" in name or not name.endswith((".pt", ".dcp")):
        raise SystemExit(f"train.py: {path / 'latest'} does not name a checkpoint")
    if name.endswith(".dcp"):
        # Read into this process's own layout (shards, or full tensors); DCP reshards from the saved one.
        model_state, optim_state = get_state_dict(model, optimizer)
        dcp.load({"model": model_state, "optimizer": optim_state}, checkpoint_id=path / name)
        meta = json.loads((path / name / "train.json").read_text(encoding="utf-8"))
        set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state)
        return int(meta["step"]), [float(x) for x in meta.get("losses", [])]
    state: dict[str, Any] = torch.load(path / name, map_location="cpu", weights_only=False)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                   options=StateDictOptions(full_state_dict=True))
    return int(state["step"]), list(state.get("losses", []))


def build(model_cfg: dict[str, Any], seed: int, zero_stage: int, world: int, device: torch.device,
          rank: int) -> tuple[nn.Module, nn.Module, str]:
    """The model, the module that trains it with `world` processes (the model itself when sharded or alone, else
    its DDP wrapper) and the name of the wrapping."""
    torch.manual_seed(seed)  # every rank starts from the same weights
    model: nn.Module = Transformer(model_cfg).to(device)
    if world == 1:
        return model, model, "-"
    if zero_stage > 0:
        try:
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import fully_shard

            mesh = init_device_mesh(device.type, (world,))
            for block in model.blocks:  # type: ignore[union-attr]
                fully_shard(block, mesh=mesh, reshard_after_forward=zero_stage >= 3)
            fully_shard(model, mesh=mesh, reshard_after_forward=zero_stage >= 3)
            return model, model, "FSDP2"
        except (ImportError, NotImplementedError, RuntimeError, ValueError) as exc:
            log(rank, f"FSDP2 refused ({type(exc).__name__}: {exc}); DDP instead")
            torch.manual_seed(seed)
            model = Transformer(model_cfg).to(device)
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model, ddp, "DDP"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--checkpoint-dir", type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    model_cfg, train = config["model"], config["train"]
    ckpt_dir = args.checkpoint_dir or Path(os.environ.get("AIF_RUN_CHECKPOINT_DIR") or config["checkpoint_dir"])
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, lambda number, _frame: _signalled.append(number))

    rank, world, local_rank = distributed_env()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    zero_stage = int(config.get("layout", {}).get("zero_stage", 0))
    model, wrapped, wrapping = build(model_cfg, int(train.get("seed", 0)), zero_stage, world, device, rank)
    sharded = wrapping == "FSDP2"
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(train.get("lr", 3e-3)))
    backend = dist.get_backend() if world > 1 else "none"
    log(rank, f"starting: world={world} device={device.type} backend={backend} wrap={wrapping} zero_stage={zero_stage}")

    step, losses = 0, []
    if rank == 0:
        (ckpt_dir / "stopped").unlink(missing_ok=True)
    resumed = load(ckpt_dir, model, optimizer)
    if resumed is not None:
        step, losses = resumed
        log(rank, f"resumed from checkpoint step={step} path={ckpt_dir}")
        if rank == 0 and os.environ.get("AIF_JOB_DIR"):
            # The checkpoint this segment starts from, for the portal: a lost site may have written it after its agent
            # could report it.
            name = (ckpt_dir / "latest").read_text(encoding="utf-8").strip()
            write_marker(Path(os.environ["AIF_JOB_DIR"]) / "checkpoints", resumed_marker(ckpt_dir, name, step))

    seq, micro = int(model_cfg["seq_len"]), int(train.get("micro_batch", 4))
    total = int(os.environ.get("AIF_RUN_STEPS") or train["steps"])
    every = int(os.environ.get("AIF_RUN_CHECKPOINT_EVERY") or train.get("checkpoint_every", 50))
    every_s = float(train.get("checkpoint_seconds", 1800))
    log_every = int(train.get("log_every", 10))
    deadline = float(os.environ.get("AIF_DEADLINE", "0") or 0)
    margin_min = float(os.environ.get("AIF_DEADLINE_MARGIN_S", "10"))
    corpus = Corpus(train.get("data"), int(model_cfg["vocab"]), int(train.get("seed", 0)))
    last_ckpt, ckpt_cost, step_cost = time.monotonic(), 0.0, 0.0
    window_tokens, window_start = 0, time.monotonic()
    stopped = False
    lease, lease_read = 0.0, -1e9
    while step < total:
        started = time.monotonic()
        tokens = corpus.batch(step, rank, micro, seq + 1).to(device)
        logits = wrapped(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        value = float(loss.detach())
        losses.append(value)
        window_tokens += micro * seq * world
        step_cost = time.monotonic() - started
        if step % log_every == 0 or step == total:
            elapsed = time.monotonic() - window_start
            log(rank, f"step={step} loss={value:.4f} tokens/s={window_tokens / max(elapsed, 1e-9):,.0f}")
            window_tokens, window_start = 0, time.monotonic()
        margin = max(margin_min, 3 * step_cost + ckpt_cost)
        if time.monotonic() - lease_read >= 1.0:  # a small file, read at most once a second
            lease, lease_read = lease_until(), time.monotonic()
        lease_out = bool(lease) and time.time() + margin >= lease
        near_end = lease_out or bool(deadline) and time.time() + margin >= deadline
        stop = torch.tensor([1.0 if (_signalled or near_end) else 0.0], device=device)
        if world > 1:
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
        stopped = bool(stop.item()) and step < total
        due = step % every == 0 or time.monotonic() - last_ckpt >= every_s or step == total or stopped
        if due:
            ckpt_cost = save(ckpt_dir, step, losses, model, optimizer, sharded, rank, tokens=step * micro * seq * world)
            log(rank, f"checkpoint step={step} seconds={ckpt_cost:.2f} path={ckpt_dir}")
            last_ckpt = time.monotonic()
            if world > 1:
                dist.barrier()
        if stopped:
            if rank == 0:
                (ckpt_dir / "stopped").write_text(f"{step}\n", encoding="utf-8")
            why = "signal" if _signalled else "lease not renewed" if lease_out else "time limit near"
            log(rank, f"stopping at step={step} of {total} ({why}); resume from the checkpoint")
            break
    if rank == 0 and losses:
        first = sum(losses[:5]) / len(losses[:5])
        last = sum(losses[-5:]) / len(losses[-5:])
        log(rank, f"done={not stopped} steps={step} loss_first={first:.4f} loss_last={last:.4f}")
    if world > 1:
        dist.barrier()  # no rank leaves while another is still in a collective (gloo aborts at teardown otherwise)
        dist.destroy_process_group()
    return STOPPED_EXIT if stopped else 0


if __name__ == "__main__":
    code = main()
    # Everything is saved and the process group is gone: leave without the C++ destructors at interpreter teardown,
    # where gloo's threads can still abort the process ("terminate called without an active exception").
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
