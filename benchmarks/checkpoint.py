#!/usr/bin/env python
"""What does a checkpoint cost: per write, and as a share of an epoch at the default frequency (one per epoch)?

Two parts, in the same process:

  write    `CheckpointCallback.save()` (state capture, torch.save through the hashing writer, fsync, rename, fsync of
           the folder, pruning) and `read_checkpoint` (read, length and SHA-256 check, torch.load) for the lessons' MLP
           (784-50-10) with Adam's state, and for a wider MLP (784-2048-2048-10, about 5.8M parameters), written into
           --dir (default: a temporary folder; point it at the disk your runs use, since fsync is most of the cost)
  epoch    one epoch of `exp-lib train`'s setup (the MLP, bs 64, one cycle, Adam) on --n synthetic MNIST-shaped rows,
           with and without a `CheckpointCallback` at its defaults (every epoch, keep=2): the difference per epoch,
           and the measured write time as a share of the epoch

Each figure is the median of --reps repetitions (wall clock; a shared machine makes single runs noisy).

usage: python benchmarks/checkpoint.py [--reps 5] [--threads 1] [--n 50000] [--dir PATH]
"""
import argparse, statistics, sys, tempfile, time
from pathlib import Path
import torch
from torch import nn
import torch.nn.functional as F
from exp_lib.learner import Learner, DataLoaders, get_model, accuracy
from exp_lib.checkpoint import CheckpointCallback, read_checkpoint, checkpoints


_DATA = {}

def make(n, model, bs=64):
    "A learner on synthetic MNIST-shaped data (made once per size, so every run reads the same memory), without a progress bar."
    if n not in _DATA:
        g = torch.Generator().manual_seed(0)
        _DATA[n] = (torch.randn(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g),
                    torch.randn(n // 5, 784, generator=g), torch.randint(0, 10, (n // 5,), generator=g))
    return Learner(DataLoaders.from_tensors(*_DATA[n], bs=bs), model, F.cross_entropy, metrics=accuracy, progress=False)


def time_writes(learn, folder, reps):
    "Median seconds of one checkpoint write and of one verified read, and the file size, after a short fit."
    ck = CheckpointCallback(Path(folder) / 'bench', every_epoch=True)
    learn.fit(1, cbs=ck)                                   # builds the optimizer state; writes one checkpoint
    learn.add_cb(ck); ck.before_fit()
    writes, reads = [], []
    for _ in range(reps):
        t0 = time.perf_counter(); p = ck.save(); writes.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); read_checkpoint(p); reads.append(time.perf_counter() - t0)
    ck.after_fit(); learn.remove_cb(ck)
    size = p.stat().st_size
    for f in checkpoints(folder): f.unlink()
    return statistics.median(writes), statistics.median(reads), size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--n', type=int, default=50000)
    ap.add_argument('--dir', default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    folder = a.dir or tempfile.mkdtemp(prefix='ckpt-bench-')
    print(f"torch {torch.__version__}, {a.threads} thread(s), {a.reps} reps, files in {folder}")

    wide = nn.Sequential(nn.Linear(784, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))
    for name, model in (('mlp 784-50-10', get_model()), ('mlp 784-2048-2048-10', wide)):
        n_params = sum(p.numel() for p in model.parameters())
        w, r, size = time_writes(make(2048, model), folder, a.reps)
        print(f"{name:<22} {n_params / 1e6:6.2f}M params  file {size / 1e6:7.2f} MB  write {w * 1e3:8.2f} ms  "
              f"read+verify {r * 1e3:8.2f} ms  ({size / w / 1e6:6.0f} MB/s written)")

    w_small, _, _ = time_writes(make(2048, get_model()), folder, a.reps)
    plain, ckpt = [], []
    make(a.n, get_model()).fit(1)                         # warm-up: first touch of the data, allocator, kernels
    for i in range(a.reps):
        for with_ck in ((False, True) if i % 2 == 0 else (True, False)):
            torch.manual_seed(i)
            learn = make(a.n, get_model())
            cbs = [CheckpointCallback(Path(folder) / f'epoch{i}')] if with_ck else []
            t0 = time.perf_counter(); learn.fit_one_cycle(1, lr_max=1e-2, cbs=cbs)
            (ckpt if with_ck else plain).append(time.perf_counter() - t0)
            for f in checkpoints(folder): f.unlink()
    p_, c_ = statistics.median(plain), statistics.median(ckpt)
    n_batches = -(-a.n // 64)
    print(f"epoch of {a.n} rows ({n_batches} batches): {p_:.3f} s without, {c_:.3f} s with a checkpoint per epoch "
          f"(difference {(c_ - p_) * 1e3:+.1f} ms, {100 * (c_ - p_) / p_:+.2f}%)")
    print(f"one write of the lessons' MLP = {100 * w_small / p_:.2f}% of that epoch; at --ckpt_every 100 it would be "
          f"{100 * w_small * n_batches / 100 / p_:.1f}%")


if __name__ == '__main__':
    sys.exit(main())
