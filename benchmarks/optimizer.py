#!/usr/bin/env python
"""How fast is `exp_lib`'s optimizer step next to `torch.optim`'s?

Times `opt.step()` (gradients already in place; nothing else) for

  exp_lib Adam (AdamW semantics)    vs  torch.optim.AdamW  default / foreach=True / fused=True
  exp_lib SGD with momentum         vs  torch.optim.SGD    default / foreach=True / fused=True

on two models:

  mlp   the lessons' 784-50-10 MLP: 4 small tensors, 40k weights (overhead-bound)
  deep  50 x Linear(256, 256): 100 tensors, 3.3M weights (memory-bandwidth-bound)

exp_lib runs with impl='auto' (its default, from exp_lib.optimizer; on CPU this is PyTorch's fused kernel for these two
optimizers); its 'foreach' and 'loop' forms are timed too, for information. All cases of a model
are timed in the same process, in a shuffled order each round, each for about `--min-time` seconds
per sample. The script prints each case's best and median time and, for exp_lib against each torch
form, the time ratio exp_lib/torch (below 1.0 means exp_lib is faster) two ways: best time over best
time (noise on a shared machine only ever adds time, so the best is the cleanest estimate), and in
brackets the median over rounds of the ratio of the two times of one round (pairing cancels slow
drift in the load). On a busy machine use --threads 1: with more threads than free cores, PyTorch's
parallel kernels wait for each other and the timings mostly measure the other jobs.
Targets: exp_lib/torch default <= 1.0 on both models.

usage: python benchmarks/optimizer.py [--rounds 7] [--min-time 0.05] [--threads N] [--models mlp,deep]
"""
import argparse, random, statistics, sys, time
import torch
from torch import nn
from exp_lib.optimizers import Adam, SGD      # lesson 06's optimizers...
import exp_lib.optimizer                       # ...with the fast paths of nbs/22 (importing exp_lib loads it anyway)


def mlp():
    "The lessons' 784-50-10 MLP."
    return nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))


def deep():
    "50 Linear(256, 256) layers with ReLUs: 100 parameter tensors."
    return nn.Sequential(*[layer for _ in range(50) for layer in (nn.Linear(256, 256), nn.ReLU())])


MODELS = {'mlp': mlp, 'deep': deep}
LR, MOM, SQR_MOM, EPS, WD = 1e-3, 0.9, 0.999, 1e-8, 1e-2


def cases(params):
    "Every optimizer to time, by name, all over the same parameters and with the same hyper-parameters."
    adam = dict(lr=LR, mom=MOM, sqr_mom=SQR_MOM, eps=EPS, wd=WD)
    adamw = dict(lr=LR, betas=(MOM, SQR_MOM), eps=EPS, weight_decay=WD)
    return {
        ('adam', 'exp_lib'): Adam(params, **adam),
        ('adam', 'exp_lib foreach'): Adam(params, **adam, impl='foreach'),
        ('adam', 'exp_lib loop'): Adam(params, **adam, impl='loop'),
        ('adam', 'torch default'): torch.optim.AdamW(params, **adamw),
        ('adam', 'torch foreach'): torch.optim.AdamW(params, **adamw, foreach=True),
        ('adam', 'torch fused'): torch.optim.AdamW(params, **adamw, fused=True),
        ('sgd', 'exp_lib'): SGD(params, lr=LR, mom=MOM),
        ('sgd', 'exp_lib foreach'): SGD(params, lr=LR, mom=MOM, impl='foreach'),
        ('sgd', 'exp_lib loop'): SGD(params, lr=LR, mom=MOM, impl='loop'),
        ('sgd', 'torch default'): torch.optim.SGD(params, lr=LR, momentum=MOM),
        ('sgd', 'torch foreach'): torch.optim.SGD(params, lr=LR, momentum=MOM, foreach=True),
        ('sgd', 'torch fused'): torch.optim.SGD(params, lr=LR, momentum=MOM, fused=True),
    }


def calibrate(step, min_time):
    "Number of calls of `step` that take at least `min_time` seconds."
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n): step()
        if time.perf_counter() - t >= min_time: return n
        n *= 2


def sample(step, n):
    "Seconds per call of `step`, over `n` calls."
    t = time.perf_counter()
    for _ in range(n): step()
    return (time.perf_counter() - t) / n


def bench_model(name, rounds, min_time, seed=0):
    "Time every case on model `name`; return {case: [seconds per step, one per round]}."
    torch.manual_seed(seed)
    model = MODELS[name]()
    params = list(model.parameters())
    for p in params: p.grad = torch.randn_like(p) * 1e-2      # fixed gradients: only step() is timed
    opts = cases(params)
    for opt in opts.values(): opt.step()                      # create the state (and warm up)
    numbers = {k: calibrate(opt.step, min_time) for k, opt in opts.items()}
    times = {k: [] for k in opts}
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(opts)
        rng.shuffle(order)
        for k in order: times[k].append(sample(opts[k].step, numbers[k]))
    return params, times


def report(name, params, times):
    "Print the best time of every case and exp_lib's median paired ratios against each torch form."
    n_weights = sum(p.numel() for p in params)
    print(f"\n{name}: {len(params)} tensors, {n_weights:,} weights")
    print(f"  {'case':<24}{'best':>12}{'median':>12}")
    for (opt, form), ts in times.items():
        print(f"  {opt + ' ' + form:<24}{min(ts)*1e6:>10.1f}µs{statistics.median(ts)*1e6:>10.1f}µs")
    ratios = {}
    print("  time ratio exp_lib/torch (< 1.0: exp_lib is faster): best/best [median of per-round ratios]")
    for opt in ('adam', 'sgd'):
        for ours in ('exp_lib', 'exp_lib foreach', 'exp_lib loop'):
            cells = []
            for torch_form in ('torch default', 'torch foreach', 'torch fused'):
                mine, theirs = times[(opt, ours)], times[(opt, torch_form)]
                best, paired = min(mine) / min(theirs), statistics.median(a / b for a, b in zip(mine, theirs))
                ratios[(opt, ours, torch_form)] = best
                cells.append(f"{torch_form[6:]:>7} {best:5.2f} [{paired:5.2f}]")
            print(f"  {opt:<5}{ours:<16}" + "  ".join(cells))
    return ratios


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rounds', type=int, default=7, help='timing rounds (each times every case once, in a shuffled order)')
    ap.add_argument('--min-time', type=float, default=0.05, help='seconds per sample, at least')
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: leave as is)')
    ap.add_argument('--models', default='mlp,deep', help=f"comma-separated, from {', '.join(MODELS)}")
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(',') if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown: ap.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    if args.rounds < 1 or args.min_time <= 0: ap.error("--rounds must be >= 1 and --min-time > 0")
    if args.threads: torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.rounds} rounds, "
          f">= {args.min_time}s per sample")
    results = {m: report(m, *bench_model(m, args.rounds, args.min_time)) for m in models}
    worst = max(results[m][(opt, 'exp_lib', 'torch default')] for m in models for opt in ('adam', 'sgd'))
    print(f"\nworst exp_lib/torch default (best/best): {worst:.2f}x (target <= 1.0)")
    return results


if __name__ == '__main__':
    main(sys.argv[1:])
