#!/usr/bin/env python
"""How much faster is one epoch on 2 processes (DDP, 1 thread each) than on 1 process with 1 thread?

One epoch (train + validate) of lesson 08's CNN (`exp_lib.cnn.get_cnn_model([16, 32, 64, 64], leak=0.1, sub=0.4,
maxv=6)`: stride-2 convolutions 5x5 then 3x3 with GeneralRelu, global average pool, linear head; as in
benchmarks/learner.py) on synthetic MNIST-shaped tensors (--n training images of 1x28x28, --n/5 to validate), with
`Learner.fit(1)`, SGD, no progress bar:

  1 x B     one process, one thread, batches of B (--bs, default 64)
  2 x B/2   `learn.distrib_ctx()` on 2 processes started by exp_lib.distributed.launch, one thread each, batches of
            B/2 per rank: the same global batch B, so the same training as 1 x B (notebook 50 checks that)
  2 x B     the same with B per rank (a global batch of 2B: half the steps; not the same training)

For the 2-process runs, the time is the slowest rank's `fit`, from inside distrib_ctx (so process start, the process
group and DDP's set-up are not counted; they are printed separately as 'start'). Each repetition runs the three in a
rotating order; the script prints every repetition and the median, min and max speed-up, of wall-clock time and of CPU
time (the CPU seconds of the slowest rank, gloo's threads included). On a machine shared with other work, 2 processes
only get 2 cores when nobody else wants them, so the wall-clock figure depends on the load (look at the spread); the
CPU-time one says what the split costs in work, and is what the wall-clock ratio tends to on 2 idle cores.

usage: python benchmarks/distributed.py [--reps 3] [--n 20000] [--bs 64]
"""
import argparse, statistics, time
import torch
from torch import nn
import torch.nn.functional as F
from exp_lib.learner import Learner, DataLoaders, TensorDataLoader, SGD
from exp_lib.distributed import launch
from exp_lib.cnn import get_cnn_model, init_cnn


CNN_NFS, CNN_KW = [16, 32, 64, 64], dict(leak=0.1, sub=0.4, maxv=6.)     # as in benchmarks/learner.py

def cnn():
    "Lesson 08's CNN (exp_lib.cnn.get_cnn_model) for 1x28x28 digits, with Kaiming init."
    return init_cnn(get_cnn_model(CNN_NFS, **CNN_KW))


def data(n):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g),
            torch.randn(n // 5, 1, 28, 28, generator=g), torch.randint(0, 10, (n // 5,), generator=g))


def one_epoch(n, bs, distributed):
    "Wall-clock and CPU seconds of one `fit(1)`, and (under DDP) seconds from the call to the start of fit."
    t_start = time.perf_counter()
    torch.manual_seed(0)
    xt, yt, xv, yv = data(n)
    dls = DataLoaders(TensorDataLoader(xt, yt, bs), TensorDataLoader(xv, yv, 2 * bs))
    learn = Learner(dls, cnn(), F.cross_entropy, opt_func=SGD, lr=0.05, progress=False)
    if not distributed:
        t0, c0 = time.perf_counter(), time.process_time(); learn.fit(1)
        return time.perf_counter() - t0, time.process_time() - c0, 0.
    with learn.distrib_ctx(timeout=120):
        t0, c0 = time.perf_counter(), time.process_time(); learn.fit(1)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    return secs, cpu, t0 - t_start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--n', type=int, default=20000)
    p.add_argument('--bs', type=int, default=64, help='the global batch of the single process (the course uses 512 for this CNN)')
    a = p.parse_args()
    B, b = a.bs, a.bs // 2
    torch.set_num_threads(1)
    one_epoch(a.n // 10, B, False)                                # warm-up: imports, allocator
    launch(one_epoch, 2, args=(a.n // 10, b, True), threads=1)     # and DDP's first use
    one = f'1 x {B}'
    runs = {one: lambda: one_epoch(a.n, B, False),
            f'2 x {b}': lambda: max(launch(one_epoch, 2, args=(a.n, b, True), threads=1)),
            f'2 x {B}': lambda: max(launch(one_epoch, 2, args=(a.n, B, True), threads=1))}
    names, got, cpus = list(runs), {k: [] for k in runs}, {k: [] for k in runs}
    print(f"one epoch of lesson 08's CNN {'-'.join(map(str, CNN_NFS))} on {a.n} + {a.n // 5} images; torch {torch.__version__}, 1 thread per process")
    for rep in range(a.reps):
        order = names[rep % 3:] + names[:rep % 3]
        for k in order:
            w0 = time.perf_counter()
            secs, cpu, start = runs[k]()
            got[k].append(secs); cpus[k].append(cpu)
            extra = f"  (start {start:.1f}s, launch wall {time.perf_counter() - w0:.1f}s)" if k != one else ''
            print(f"rep {rep}  {k}: {secs:6.2f}s wall, {cpu:6.2f}s CPU{' (slowest rank)' if extra else ''}{extra}", flush=True)
    for k in names[1:]:
        for what, d in (('wall-clock', got), ('CPU-time', cpus)):
            sp = [s1 / s2 for s1, s2 in zip(d[one], d[k])]
            print(f"{what} speed-up {k} over {one}: median {statistics.median(sp):.2f}x  (min {min(sp):.2f}x, max {max(sp):.2f}x, {len(sp)} reps)")


if __name__ == '__main__': main()
