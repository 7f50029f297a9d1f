"""One training loop for every stage: DDP under torchrun, AMP on GPU, atomic checkpoints, exact resume.

    spacex train s2l                                   # one process (CPU or one GPU)
    torchrun --nproc_per_node 8 -m spacex.cli train s2l --profile paper   # DistributedDataParallel

A stage is a `Task` (see below): it builds its model from `model_args`, produces the batch of a given step,
computes the loss and validates. The loop owns the rest. Batches are a pure function of (seed, step): the
global batch of step s is drawn from a generator seeded with (seed, s) and rank r of W takes items r::W.
Hence (1) a resumed run replays exactly the steps it lost, and (2) W processes with DDP's gradient averaging
compute the same update as one process on the whole global batch.

Run folder (`out`): config.json (resolved), log.txt (human), stats.jsonl (one JSON line per log/eval),
last.pt (checkpoint, every `ckpt_every` steps and at the end), metrics.json (final validation).
"""
from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from spacex import checkpoint, devices, files, tracking
from spacex.config import TrainConfig, WandbConfig
from spacex.errors import ConfigError
from spacex.preprocess import store
from spacex.train.loader import loader


class Task:
    """What a stage provides to the loop."""

    name = "task"

    def model_args(self) -> dict:  # JSON-like; stored in checkpoints
        raise NotImplementedError

    def build_model(self, **model_args) -> torch.nn.Module:
        raise NotImplementedError

    # A batch in three parts (spacex.train.loader): `plan` draws the step's items from the step's generator in the
    # main process (rank r of W plans items r::W of the global batch); `item` reads one planned item in a DataLoader
    # worker (a pure function of the plan: data reads, crops, augmentation); `collate` stacks the items.
    def plan(self, step: int, rank: int, world: int, generator: torch.Generator) -> list:
        raise NotImplementedError

    def item(self, planned) -> dict:
        raise NotImplementedError

    def collate(self, items: list[dict]) -> dict:
        """Arrays and tensors stacked along a new batch axis; any other value (e.g. the step) taken from item 0."""
        out = {}
        for k, v in items[0].items():
            if isinstance(v, np.ndarray):
                out[k] = torch.from_numpy(np.stack([it[k] for it in items]))
            elif torch.is_tensor(v):
                out[k] = torch.stack([it[k] for it in items])
            else:
                out[k] = v
        return out

    def batch(self, step: int, rank: int, world: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """This rank's share of step `step`'s global batch, in this process."""
        return self.collate([self.item(p) for p in self.plan(step, rank, world, generator)])

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    # Validation, sharded over ranks (`validate`): item k's additive sums, then the metrics from their totals.
    def val_items(self) -> int:
        """How many validation items (clips) there are."""
        raise NotImplementedError

    def validate_item(self, model: torch.nn.Module, device: torch.device, k: int) -> dict[str, float]:
        """Validation item k's sums (errors times frames, frame counts, ...): they add up over items."""
        raise NotImplementedError

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        """The validation metrics from the sums over all items."""
        raise NotImplementedError

    # Optional hooks (GAN stages): what the main optimizer trains, submodules with their own optimizer (e.g. a
    # discriminator; under DDP each gets its own DistributedDataParallel, so its gradients are averaged over
    # ranks too), and a second update per step that gets those modules (DDP-wrapped when world > 1).
    find_unused_parameters = False

    def parameters(self, model: torch.nn.Module):
        return model.parameters()

    def extra_modules(self, model: torch.nn.Module) -> dict[str, torch.nn.Module]:
        """{attribute name on the model: submodule} trained by extra_optimizers (same keys)."""
        return {}

    def extra_optimizers(self, model: torch.nn.Module, cfg: TrainConfig) -> dict[str, torch.optim.Optimizer]:
        return {}

    def extra_update(self, net, batch: dict, optimizers: dict, modules: dict) -> dict[str, float]:
        return {}

    def samples(self, model: torch.nn.Module, device: torch.device, out: Path) -> dict[str, Path]:
        """Files that show what the model does (videos with sound, plots), written under `out`."""
        return {}


@torch.no_grad()
def validate(task: Task, model: torch.nn.Module, device: torch.device, rank: int = 0, world: int = 1) -> dict:
    """Validation on every rank at once: rank r takes items r::world, the ranks exchange their items' sums, and each
    adds them up in item order, so any number of ranks gives the 1-process figures (and no rank waits at a barrier
    while rank 0 validates alone, which risked the collective timeout at 512 px)."""
    mine = {k: task.validate_item(model, device, k) for k in range(rank, task.val_items(), world)}
    if world > 1:
        parts: list = [None] * world
        dist.all_gather_object(parts, mine)
        mine = {k: v for part in parts for k, v in part.items()}
    sums: dict[str, float] = {}
    for k in sorted(mine):
        for key, v in mine[k].items():
            sums[key] = sums.get(key, 0.0) + v
    return task.summarize(sums)


def _dist_env() -> tuple[int, int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


class _Logger:
    """Human log + JSON-lines stats + optional wandb, on rank 0 only."""

    def __init__(self, out: Path, enabled: bool, run_config: dict, resume_step: int, stage: str, project: str):
        self.enabled = enabled
        self.out = out
        self.wandb = None
        if not enabled:
            return
        stats = out / "stats.jsonl"
        if stats.exists():  # drop what the resumed steps will write again
            keep = [ln for ln in stats.read_text().splitlines() if ln and json.loads(ln)["step"] <= resume_step]
            stats.write_text("".join(k + "\n" for k in keep))
        # the DVC stage when run by dvc (DVC_STAGE), else the pipeline's name for this task's stage
        self.wandb = tracking.init(project, f"{stage}-{run_config.get('profile', '')}", f"train_{stage}", run_config,
                                   out, group=stage, job_type="train")
        tracking.record_run(self.wandb, out)

    def log(self, step: int, values: dict, text: str | None = None) -> None:
        if not self.enabled:
            return
        with open(self.out / "stats.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if text:
            line = f"[{time.strftime('%H:%M:%S')}] step {step}: {text}"
            print(line, flush=True)
            with open(self.out / "log.txt", "a") as f:
                f.write(line + "\n")
        if self.wandb is not None:
            self.wandb.log(values, step=step)

    def media(self, step: int, files: dict[str, Path]) -> None:
        """Sample files (mp4 with sound, png) kept in the run folder and mirrored to wandb."""
        if not self.enabled or not files:
            return
        print(f"[{time.strftime('%H:%M:%S')}] samples: " + ", ".join(str(p) for p in files.values()), flush=True)
        if self.wandb is not None:
            import wandb

            self.wandb.log({f"samples/{k}": (wandb.Video(str(p), format="mp4") if p.suffix == ".mp4"
                                             else wandb.Image(str(p))) for k, p in files.items()}, step=step)

    def close(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()


def train(task: Task, cfg: TrainConfig, out: str | Path, run_config: dict, resume: bool = True,
          stop_after: int | None = None, project: str = WandbConfig.project) -> dict:
    """Train `task` to cfg.steps (resuming from out/last.pt); returns the final validation metrics.

    `stop_after` ends the run early after that many steps of this call (for tests and time slicing). The run
    folder belongs to this run while it trains: a second trainer on it stops at once (RunFolderBusy, naming
    this process); under torchrun, rank 0 holds it for all ranks.
    """
    with files.hold_run_folder(out) if _dist_env()[0] == 0 else nullcontext():
        return _train(task, cfg, Path(out), run_config, resume, stop_after, project)


@dataclass
class _Run:
    """What one training run holds: built by the numbered steps of `_train`, in this order."""

    task: Task
    cfg: TrainConfig
    out: Path
    run_config: dict
    rank: int
    world: int
    device: torch.device
    model_args: dict
    features: dict  # what inference needs to feed the model as training did (store.features)
    model: torch.nn.Module  # the bare model: checkpoints, validation, samples
    params: list
    opt: torch.optim.Optimizer
    extra: dict  # {name: optimizer} of Task.extra_modules
    scaler: torch.amp.GradScaler
    use_amp: bool
    net: torch.nn.Module | None = None  # what the loss runs through: the model, or its DDP wrapper
    modules: dict = field(default_factory=dict)  # Task.extra_modules, each DDP-wrapped when world > 1

    def save(self, step: int) -> None:
        if self.world > 1:
            _check_ranks_agree(self.model)
        if self.rank == 0:
            state = {"stage": self.task.name, "step": step, "model_args": self.model_args, "config": self.run_config,
                     "git_commit": checkpoint.git_commit(), "features": self.features,
                     "model": self.model.state_dict()}
            if self.cfg.resume_state or step < self.cfg.steps:
                state |= {"optimizer": self.opt.state_dict(), "scaler": self.scaler.state_dict(),
                          "extra_optimizers": {k: o.state_dict() for k, o in self.extra.items()},
                          "rng": {"torch": torch.get_rng_state()}}
            checkpoint.save(self.out / "last.pt", state)
        if self.world > 1:
            dist.barrier()


def _train(task: Task, cfg: TrainConfig, out: Path, run_config: dict, resume: bool, stop_after: int | None,
           project: str) -> dict:
    run = _build(task, cfg, out, run_config)  # 1. process group, device, seed, model, optimizers
    start = _resume(run) if resume else 0  # 2. weights, optimizer, scaler and RNG from out/last.pt
    logger = _start_logging(run, start, project)  # 3. config.json, log, stats, wandb (rank 0)
    _wrap_ddp(run)  # 4. DistributedDataParallel: the model, and each extra module by its own
    metrics, step = _loop(run, start, stop_after, logger)  # 5. steps: update, log, validate, checkpoint
    if run.rank == 0 and metrics:  # 6. final metrics and samples
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        run.model.eval()
        with torch.no_grad():
            logger.media(step + 1, task.samples(run.model, run.device, out / "samples"))
    logger.close()
    return metrics


def _build(task: Task, cfg: TrainConfig, out: Path, run_config: dict) -> _Run:
    rank, world, local_rank = _dist_env()
    if cfg.batch_size % world:  # rank r takes items r::world of the global batch: each the same share
        raise ConfigError(f"{task.name}.train.batch_size = {cfg.batch_size} is not divisible by the {world} processes")
    device = devices.resolve(cfg.device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # before the model is built: its initial weights are a function of the seed
    model_args = task.model_args()
    features = store.features(run_config["store"]) if run_config.get("store") else {}
    model = task.build_model(**model_args).to(device)
    if world > 1 and device.type == "cuda":  # batch statistics over all ranks (SyncBatchNorm is CUDA-only)
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    params = list(task.parameters(model))
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))
    extra = task.extra_optimizers(model, cfg)
    use_amp = cfg.amp and device.type == "cuda"
    return _Run(task, cfg, out, run_config, rank, world, device, model_args, features, model, params, opt, extra,
                torch.amp.GradScaler("cuda", enabled=use_amp), use_amp)


def _resume(run: _Run) -> int:
    """The step to start from: that of out/last.pt (0 without one), whose state is loaded into `run`."""
    last = checkpoint.latest(run.out)
    if last is None:
        return 0
    ckpt = checkpoint.load(last, map_location=run.device)
    if ckpt["model_args"] != run.model_args:
        raise checkpoint.CheckpointError(f"{last} was trained with other model arguments: "
                                         f"{ckpt['model_args']} vs {run.model_args}; use another output folder")
    run.model.load_state_dict(ckpt["model"])
    if "optimizer" not in ckpt:  # a finished run saved with train.resume_state false: nothing left to resume
        if ckpt["step"] < run.cfg.steps:
            raise checkpoint.CheckpointError(f"{last} holds weights only (train.resume_state false), so it cannot "
                                             f"resume to {run.cfg.steps} steps; use another output folder")
        return int(ckpt["step"])
    run.opt.load_state_dict(ckpt["optimizer"])
    for name, o in run.extra.items():
        o.load_state_dict(ckpt["extra_optimizers"][name])
    run.scaler.load_state_dict(ckpt["scaler"])
    torch.set_rng_state(ckpt["rng"]["torch"].cpu())
    return int(ckpt["step"])


def _start_logging(run: _Run, start: int, project: str) -> _Logger:
    if run.rank == 0:
        (run.out / "config.json").write_text(json.dumps({"model_args": run.model_args, **run.run_config}, indent=1,
                                                        default=str))
    logger = _Logger(run.out, run.rank == 0, run.run_config, start, run.task.name, project)
    if run.rank == 0:
        print(f"[{run.task.name}] {sum(p.numel() for p in run.model.parameters()):,} parameters, device "
              f"{run.device}, world {run.world}, AMP {run.use_amp}, steps {start} -> {run.cfg.steps}"
              + (" (resumed)" if start else ""), flush=True)
    return logger


def _wrap_ddp(run: _Run) -> None:
    run.modules = run.task.extra_modules(run.model)
    run.net = run.model
    if run.world > 1:
        DDP = torch.nn.parallel.DistributedDataParallel
        # each extra module is reduced by its own DDP, not by the model's (a parameter in two reducers breaks both)
        DDP._set_params_and_buffers_to_ignore_for_model(
            run.model, [f"{name}.{k}" for name, m in run.modules.items() for k in m.state_dict()])
        run.net = DDP(run.model, find_unused_parameters=run.task.find_unused_parameters)
        run.modules = {name: DDP(m) for name, m in run.modules.items()}


def _loop(run: _Run, start: int, stop_after: int | None, logger: _Logger) -> tuple[dict, int]:
    """Steps start..cfg.steps (or stop_after of them); returns the last validation metrics and the last step."""
    cfg, task = run.cfg, run.task
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if run.use_amp else nullcontext()
    metrics: dict = {}
    t0, done = time.time(), 0
    step = start
    batches = iter(loader(task, cfg.seed, start, cfg.steps, run.rank, run.world, cfg.workers))
    for step in range(start, cfg.steps):
        lr = lr_at(cfg, step)  # a pure function of the step, so a resumed run continues the schedule exactly
        for o in [run.opt, *run.extra.values()]:
            for group in o.param_groups:
                group["lr"] = lr
        batch = {k: v.to(run.device) if torch.is_tensor(v) else v for k, v in next(batches).items()}
        run.model.train()
        with autocast:
            loss, logs = task.loss(run.net, batch)
        run.opt.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        if cfg.grad_clip > 0:
            run.scaler.unscale_(run.opt)
            torch.nn.utils.clip_grad_norm_(run.params, cfg.grad_clip)
        run.scaler.step(run.opt)
        run.scaler.update()
        if run.extra:
            with autocast:
                logs.update(task.extra_update(run.net, batch, run.extra, run.modules))
        done += 1
        n = step + 1
        if n % cfg.log_every == 0 or n == cfg.steps:
            rate = done / (time.time() - t0)
            logger.log(n, {"train/loss": float(loss.detach()), **{f"train/{k}": v for k, v in logs.items()},
                           "train/steps_per_s": rate},
                       f"loss {float(loss.detach()):.4f} " + " ".join(f"{k} {v:.4f}" for k, v in logs.items())
                       + f" ({rate:.1f} it/s)")
        if n % cfg.eval_every == 0 or n == cfg.steps:
            run.model.eval()
            metrics = validate(task, run.model, run.device, run.rank, run.world)
            logger.log(n, {f"val/{k}": v for k, v in metrics.items()},  # rank 0's logger only writes
                       "val " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if n % cfg.ckpt_every == 0 or n == cfg.steps:
            run.save(n)
        if stop_after is not None and done >= stop_after:
            break
    del batches  # stops the loader's workers
    return metrics, step


def lr_at(cfg: TrainConfig, step: int) -> float:
    """cfg.lr times lr_gamma for every milestone (a fraction of cfg.steps) already passed."""
    return cfg.lr * cfg.lr_gamma ** sum(step >= m * cfg.steps for m in cfg.lr_milestones)


def _check_ranks_agree(model: torch.nn.Module) -> None:
    """Under DDP every rank must hold the same weights: a gradient that was not averaged (a module stepped
    outside its DDP) shows here, at each checkpoint, instead of as a model that depends on the rank."""
    sums = torch.stack([p.detach().double().sum() for p in model.parameters()]).cpu()
    gathered = [torch.empty_like(sums) for _ in range(dist.get_world_size())]
    dist.all_gather_object(gathered, sums)
    names = [n for n, _ in model.named_parameters()]
    for r, other in enumerate(gathered):
        diff = (other - sums).abs()
        if float(diff.max()) > 1e-6 * max(1.0, float(sums.abs().max())):
            worst = int(diff.argmax())
            raise RuntimeError(f"DDP ranks disagree: parameter {names[worst]} differs between rank "
                               f"{dist.get_rank()} and rank {r} by {float(diff[worst]):.3g} (sum over the tensor)")


def write_curve(stats: Path, curve: Path) -> None:
    """curve.csv from a run's stats.jsonl: one row per logged step, its train loss and the latest validation
    values (forward-filled between evaluations). Validation is logged as its own record after the train record of
    the same step, so records are merged by step first: each evaluation lands on its own step, the final one too."""
    by_step: dict[int, dict] = {}
    for ln in stats.read_text().splitlines():
        if ln:
            r = json.loads(ln)
            by_step.setdefault(r["step"], {}).update(r)
    keys = sorted({k for r in by_step.values() for k in r if k.startswith("val/")})
    last: dict = {}
    with open(curve, "w") as f:
        f.write(",".join(["step", "train_loss"] + [k[4:] for k in keys]) + "\n")
        for step in sorted(by_step):
            r = by_step[step]
            last.update({k: v for k, v in r.items() if k.startswith("val/")})
            if "train/loss" in r or any(k.startswith("val/") for k in r):
                loss = f"{r['train/loss']:.6f}" if "train/loss" in r else ""
                f.write(",".join([str(step), loss] + [str(last.get(k, "")) for k in keys]) + "\n")


def run_stage(task: Task, cfg: TrainConfig, out: str | Path, run_config: dict, stop_after: int | None = None,
              report_dir: str | Path | None = None, ratios: dict[str, tuple[str, str]] | None = None,
              finish=None, project: str = WandbConfig.project) -> dict:
    """Print the resolved config, train, run `finish(metrics)` (e.g. keypoint extraction), and write the DVC
    report: metrics.json (final validation; `ratios` adds name = a / b, e.g. model over baseline) and
    curve.csv (train loss and every validation value by step)."""
    print(json.dumps(run_config, indent=1, default=str), flush=True)
    metrics = train(task, cfg, out, run_config, stop_after=stop_after, project=project)
    if _dist_env()[0] != 0:  # every rank validated; rank 0 alone finishes and writes (they would race)
        return metrics
    if metrics and finish is not None:
        metrics.update(finish(metrics) or {})
    if report_dir and metrics:
        rep = Path(report_dir)
        rep.mkdir(parents=True, exist_ok=True)
        m = {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}
        for name, (a, b) in (ratios or {}).items():
            m[name] = round(metrics[a] / metrics[b], 4)
        (rep / "metrics.json").write_text(json.dumps(m, indent=1))
        write_curve(Path(out) / "stats.jsonl", rep / "curve.csv")
    return metrics
