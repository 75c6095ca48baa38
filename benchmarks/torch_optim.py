#!/usr/bin/env python
"""What does training with a torch.optim optimizer through exp_lib cost over the same optimizer in a hand-written loop?

One epoch (train + validate) of the lessons' MLP (784-50-10, batch size 64) on 50,000 x 784 synthetic
MNIST-shaped tensors (10,000 to validate), two ways, in the same process:

  hand     a plain loop: shuffled batches by index, forward, cross-entropy, backward, torch.optim.AdamW's
           step and zero_grad; then validation in batches of 64 with loss and accuracy weighted by batch size
  learner  Learner.fit(1) with opt_func=torch.optim.AdamW (wrapped in an OptimWrapper by Learner.create_opt),
           the default callbacks (Recorder), metrics=[accuracy], no progress bar

Both start from the same weights and the same seed, so they must end with the same weights (checked first).
Every repetition runs both in alternating order; the script prints each repetition's wall-clock and CPU times
and the median ratio learner/hand of both (on a shared machine the CPU-time ratio is the steadier).
Target: learner/hand <= 1.05.

usage: python benchmarks/torch_optim.py [--reps 5] [--threads 1] [--n 50000]
"""
import argparse, copy, math, statistics, sys, time
from functools import partial
import torch
import torch.nn.functional as F
from exp_lib.learner import Learner, DataLoaders, get_model, accuracy
from exp_lib.optimizer import OptimWrapper
from learner import hand_loop as _hand_loop      # benchmarks/learner.py: python puts this script's folder on sys.path

LR, WD = 1e-3, 1e-2


def hand_loop(model, x, y, xv, yv, bs=64):
    "One epoch written out by hand with torch.optim.AdamW (benchmarks/learner.py's loop); returns (valid loss, accuracy)."
    return _hand_loop(model, x, y, xv, yv, bs=bs, lr=LR, opt_func=partial(torch.optim.AdamW, weight_decay=WD))


def learner_fit(model, x, y, xv, yv, bs=64):
    "The same epoch with Learner.fit and opt_func=torch.optim.AdamW; returns (valid loss, accuracy)."
    dls = DataLoaders.from_tensors(x, y, xv, yv, bs=bs, valid_bs=bs)
    learn = Learner(dls, model, F.cross_entropy, opt_func=torch.optim.AdamW, lr=LR, wd=WD, metrics=accuracy, progress=False)
    learn.fit(1)
    assert isinstance(learn.opt, OptimWrapper)
    return tuple(learn.recorder.values[-1][2:4])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--reps', type=int, default=5, help='repetitions (default 5)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    p.add_argument('--n', type=int, default=50_000, help='training examples (default 50,000)')
    a = p.parse_args(argv)
    if a.reps < 1 or a.threads < 1 or a.n < 64: p.error('--reps and --threads must be >= 1, --n >= 64')
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = torch.rand(a.n, 784), torch.randint(0, 10, (a.n,))
    xv, yv = torch.rand(a.n // 5, 784), torch.randint(0, 10, (a.n // 5,))
    init = get_model().state_dict()
    runs = {'hand': hand_loop, 'learner': learner_fit}

    def timed(name, seed):
        model = get_model(); model.load_state_dict(copy.deepcopy(init))
        torch.manual_seed(seed)
        t, c = time.perf_counter(), time.process_time()
        res = runs[name](model, x, y, xv, yv)
        return (time.perf_counter() - t, time.process_time() - c), res, model

    print(f"torch {torch.__version__}, {a.threads} thread(s), {a.n:,} x 784 train / {len(xv):,} valid, bs 64, AdamW, "
          f"{a.reps} repetitions (+1 warm-up)")
    _, r_hand, m_hand = timed('hand', 1)
    _, r_learn, m_learn = timed('learner', 1)
    same = all(torch.equal(p1, p2) for p1, p2 in zip(m_hand.parameters(), m_learn.parameters()))
    print(f"check: hand valid loss/acc {r_hand[0]:.4f}/{r_hand[1]:.4f}, learner {r_learn[0]:.4f}/{r_learn[1]:.4f}, "
          f"bit-identical weights: {same}")
    if not same or abs(r_hand[0] - r_learn[0]) > 1e-4: sys.exit("the two loops did not do the same work")

    names, wall, cpu = list(runs), {k: [] for k in runs}, {k: [] for k in runs}
    for rep in range(a.reps):
        for name in (names if rep % 2 == 0 else names[::-1]):
            (w, c), _, _ = timed(name, 100 + rep)
            wall[name].append(w); cpu[name].append(c)
        print(f"rep {rep + 1}: " + ', '.join(f"{k} {wall[k][-1]:.3f}s" for k in names)
              + "   cpu: " + ', '.join(f"{k} {cpu[k][-1]:.3f}s" for k in names))
    med = statistics.median
    ratio = lambda t: med([l / h for l, h in zip(t['learner'], t['hand'])])
    print(f"median wall time: " + ', '.join(f"{k} {med(wall[k]):.3f}s" for k in names))
    print(f"median ratio learner(OptimWrapper(AdamW))/hand(AdamW) {ratio(wall):.3f} wall, {ratio(cpu):.3f} cpu (target <= 1.05)")
    # The wrapper's own share: what it adds per training batch (the Recorder's copy of the hypers, and one Python call
    # around step and zero_grad), against a batch's CPU time in the hand loop.
    model = get_model()
    for p_ in model.parameters(): p_.grad = torch.zeros_like(p_)
    bare = torch.optim.AdamW(model.parameters(), lr=LR)
    wrapped = OptimWrapper(opt=torch.optim.AdamW(model.parameters(), lr=LR))
    def per_call(f, n=20000):
        best = math.inf
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n): f()
            best = min(best, (time.perf_counter() - t) / n)
        return best
    class Calls:                                   # the cost of step's delegation: one more Python method call
        def outer(self): return self.inner()
        def inner(self): return None
    c = Calls()
    extra = (per_call(lambda: [h.copy() for h in wrapped.hypers]) + per_call(wrapped.zero_grad) - per_call(bare.zero_grad)
             + per_call(c.outer) - per_call(c.inner))
    batch = med(cpu['hand']) / math.ceil(a.n / 64)
    print(f"OptimWrapper's own cost per batch: about {extra * 1e6:.1f} µs, {extra / batch:.2%} of a hand-loop batch ({batch * 1e6:.0f} µs cpu)")


if __name__ == '__main__': main()
