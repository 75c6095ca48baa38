#!/usr/bin/env python
"""How much does `Learner.fit` cost over a hand-written PyTorch loop doing the same work?

One epoch (train + validate) of the lessons' MLP (784-50-10, batch size 64) on 50,000 x 784
synthetic MNIST-shaped tensors (10,000 to validate), three ways, in the same process:

  hand     a plain loop: shuffled batches by index, forward, cross-entropy, backward, the same
           exp_lib Adam optimizer step and zero_grad; then validation in batches of 64 with the
           loss and accuracy weighted by batch size (read back once, at the end)
  learner  Learner.fit(1) with the default callbacks (Recorder), metrics=[accuracy], no progress bar
  bar      the same with the progress bar on (drawn into a sink that claims to be a terminal, so the
           bar's formatting is timed but nothing is printed)

Every repetition runs all three from the same initial weights, in a rotating order; the script
prints each repetition's wall-clock and CPU times and the median ratios learner/hand and bar/hand
of both (on a machine shared with other work, the CPU-time ratio is the steadier of the two).
Targets: learner/hand <= 1.10, bar/hand <= 1.20.

With --model cnn (or all, the default), the same for lesson 08's CNN (channels 16-32-64-64, GeneralRelu(0.1, 0.4, 6),
batch size 64) on --cnn-n synthetic examples (default 10,000; a fifth as many to validate):

  hand     the plain loop, viewing each flat batch as 1x28x28 itself
  learner  Learner.fit(1) with BatchTransformXCallback(mnist_view), metrics=[accuracy], no progress bar
  stats    the same with lesson 08's ActivationStats (per layer and training batch: mean, std, 40-bin histogram,
           fraction near zero), whose cost per training batch is printed: (stats - learner) / batches
Target: learner/hand <= 1.05.

usage: python benchmarks/learner.py [--model all|mlp|cnn] [--reps 5] [--threads 1] [--n 50000] [--cnn-n 10000]
"""
import argparse, contextlib, copy, io, statistics, sys, time
import torch
import torch.nn.functional as F
from exp_lib.learner import Learner, DataLoaders, Adam, get_model, accuracy
from exp_lib.cnn import get_cnn_model, BatchTransformXCallback, mnist_view, ActivationStats

CNN_NFS, CNN_KW = [16, 32, 64, 64], dict(leak=0.1, sub=0.4, maxv=6.)
def get_cnn(): return get_cnn_model(CNN_NFS, **CNN_KW)


class _TTYSink(io.StringIO):
    "A stdout stand-in that says it is a terminal and throws the text away."
    def isatty(self): return True
    def write(self, s): return len(s)


def hand_loop(model, x, y, xv, yv, bs=64, lr=1e-3, tfm=None, opt_func=None):
    "One epoch written out by hand (each input batch through `tfm` if given; exp_lib's Adam unless `opt_func`); returns (valid loss, accuracy)."
    opt = (opt_func or Adam)(model.parameters(), lr=lr)
    model.train()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), bs):
        idx = perm[i:i + bs]
        xb, yb = x[idx], y[idx]
        if tfm is not None: xb = tfm(xb)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    tot_loss, tot_acc, n = torch.zeros(()), torch.zeros(()), 0
    with torch.no_grad():
        for i in range(0, len(xv), bs):
            xb, yb = xv[i:i + bs], yv[i:i + bs]
            if tfm is not None: xb = tfm(xb)
            pred = model(xb)
            tot_loss += F.cross_entropy(pred, yb) * len(yb)
            tot_acc += accuracy(pred, yb) * len(yb)
            n += len(yb)
    return (tot_loss / n).item(), (tot_acc / n).item()


def learner_fit(model, x, y, xv, yv, bs=64, lr=1e-3, bar=False, cbs=None):
    "The same epoch with Learner.fit; returns (valid loss, accuracy)."
    dls = DataLoaders.from_tensors(x, y, xv, yv, bs=bs, valid_bs=bs)
    learn = Learner(dls, model, F.cross_entropy, opt_func=Adam, lr=lr, metrics=accuracy, progress=bar, cbs=cbs)
    if bar:
        with contextlib.redirect_stdout(_TTYSink()): learn.fit(1)
    else: learn.fit(1)
    return tuple(learn.recorder.values[-1][2:4])


def compare(title, make_model, runs, x, y, xv, yv, reps, targets, per_batch=None):
    "Time each of `runs` (name -> f(model, x, y, xv, yv)) `reps` times from the same weights; print the median ratios to 'hand'."
    init = make_model().state_dict()

    def timed(name, seed):
        model = make_model(); model.load_state_dict(copy.deepcopy(init))
        torch.manual_seed(seed)
        t, c = time.perf_counter(), time.process_time()
        res = runs[name](model, x, y, xv, yv)
        return (time.perf_counter() - t, time.process_time() - c), res, model

    print(f"{title}: {len(x):,} x 784 train / {len(xv):,} valid, bs 64, {reps} repetitions (+1 warm-up)")
    # the same seed gives the same shuffles, so the loops must end with the same weights and the same metrics
    _, r_hand, m_hand = timed('hand', 1)
    _, r_learn, m_learn = timed('learner', 1)
    same = all(torch.allclose(p1, p2, atol=1e-6) for p1, p2 in zip(m_hand.parameters(), m_learn.parameters()))
    print(f"check: hand valid loss/acc {r_hand[0]:.4f}/{r_hand[1]:.4f}, learner {r_learn[0]:.4f}/{r_learn[1]:.4f}, "
          f"same weights: {same}")
    if not same or abs(r_hand[0] - r_learn[0]) > 1e-4: sys.exit("the two loops did not do the same work")

    names = list(runs)
    wall, cpu = {k: [] for k in runs}, {k: [] for k in runs}
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            (w, c), _, _ = timed(name, 100 + rep)
            wall[name].append(w); cpu[name].append(c)
        print(f"rep {rep + 1}: " + ', '.join(f"{k} {wall[k][-1]:.3f}s" for k in names)
              + "   cpu: " + ', '.join(f"{k} {cpu[k][-1]:.3f}s" for k in names))
    med = statistics.median
    ratio = lambda t, k: med([a_ / h for a_, h in zip(t[k], t['hand'])])
    print(f"median wall time: " + ', '.join(f"{k} {med(wall[k]):.3f}s" for k in names))
    for k in names[1:]:
        print(f"median ratio {k}/hand {' ' * (8 - len(k))}{ratio(wall, k):.3f} wall, {ratio(cpu, k):.3f} cpu"
              + (f" (target <= {targets[k]:.2f})" if k in targets else ''))
    if per_batch:
        k, base, n = per_batch
        print(f"{k} costs {1e6 * med([(a_ - b) / n for a_, b in zip(wall[k], wall[base])]):.0f} us per training batch wall, "
              f"{1e6 * med([(a_ - b) / n for a_, b in zip(cpu[k], cpu[base])]):.0f} us cpu "
              f"(median over repetitions of ({k} - {base}) / {n} batches; a {base} batch takes "
              f"{1e6 * med(wall[base]) / (n + len(xv) / 64):.0f} us on average, validation batches included)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', choices=('all', 'mlp', 'cnn'), default='all', help='which model(s) to time (default all)')
    p.add_argument('--reps', type=int, default=5, help='repetitions (default 5)')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1)')
    p.add_argument('--n', type=int, default=50_000, help='training examples for the MLP (default 50,000)')
    p.add_argument('--cnn-n', type=int, default=10_000, help='training examples for the CNN (default 10,000)')
    a = p.parse_args(argv)
    if a.reps < 1 or a.threads < 1 or a.n < 64 or a.cnn_n < 64: p.error('--reps and --threads must be >= 1, --n and --cnn-n >= 64')
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} thread(s)")
    if a.model in ('all', 'mlp'):
        torch.manual_seed(0)
        x, y = torch.rand(a.n, 784), torch.randint(0, 10, (a.n,))
        xv, yv = torch.rand(a.n // 5, 784), torch.randint(0, 10, (a.n // 5,))
        runs = {'hand': hand_loop, 'learner': learner_fit, 'bar': lambda *args: learner_fit(*args, bar=True)}
        compare('MLP 784-50-10', get_model, runs, x, y, xv, yv, a.reps, {'learner': 1.10, 'bar': 1.20})
    if a.model in ('all', 'cnn'):
        torch.manual_seed(0)
        x, y = torch.rand(a.cnn_n, 784), torch.randint(0, 10, (a.cnn_n,))
        xv, yv = torch.rand(a.cnn_n // 5, 784), torch.randint(0, 10, (a.cnn_n // 5,))
        runs = {'hand': lambda *args: hand_loop(*args, tfm=mnist_view),
                'learner': lambda *args: learner_fit(*args, cbs=BatchTransformXCallback(mnist_view)),
                'stats': lambda *args: learner_fit(*args, cbs=[BatchTransformXCallback(mnist_view), ActivationStats()])}
        compare(f"CNN {'-'.join(map(str, CNN_NFS))}", get_cnn, runs, x, y, xv, yv, a.reps, {'learner': 1.05},
                per_batch=('stats', 'learner', -(-len(x) // 64)))


if __name__ == '__main__': main()
