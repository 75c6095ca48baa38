#!/usr/bin/env python
"""Checks of the GPU paths that the test run (CPU only) cannot reach: lesson 08's CNN and nbs/26_device on CUDA.

On a machine with CUDA it trains lesson 08's CNN for one epoch on the CPU and on the GPU from the same weights, and
checks, one line each:

  device        Learner(device=None) picks the GPU; the model is on it; asking for a GPU index the machine lacks
                fails at once with a one-line error naming it
  same_start    the first batch's loss is the same on both (TF32 off for this comparison), within --tol
  train_epoch   one epoch on each device (timed; the GPU time does not count the first CUDA call); both learn
  copies        every batch copy to the GPU reads pinned host memory and is non_blocking; the batches arrive on
                the GPU before the batch transform; a DataLoader that pins its batches itself is not pinned again
  save_load     a model saved on the GPU loads, in a fresh process that sees no GPU (CUDA_VISIBLE_DEVICES=''), onto
                the CPU, with the same weights and validation loss, and trains on
  act_stats     lesson 08's ActivationStats records on the GPU and leaves no hook behind
  preds_on_cpu  get_preds and predict return CPU tensors for a learner on the GPU
  move_later    a learner trained on the CPU moves with learn.to(device) (model, optimizer state) and trains on

Output: one line per check, `PASS <name>: ...` or `FAIL <name>: ...`, then a summary line.
Exit status: 0 every check passed; 1 a check failed; 0 with a `SKIP` line when this machine has no CUDA (`--require-cuda`
makes that status 2, for a job that must run on a GPU). The whole run takes well under a minute on a current GPU
(budget: 5 minutes), on the bundled 5,000-digit MNIST sample.

`--device mps` (or `cpu`, as a self-test of this script) runs the same checks against another device; the pinned-copy
expectation follows the device (pinned and non_blocking only for CUDA).

Adding checks (fp16, bf16, ...): write `def check_<name>(ctx)` that returns a one-line summary and raises
`CheckFailed` (or fails an `assert`) with the reason; append it to `CHECKS`. `ctx` holds the data loaders (`ctx.dls`),
the device (`ctx.device`), the CNN's initial weights, and `ctx.learner(device, cbs=...)`, a CNN learner from those
weights; checks may leave results on `ctx` for later checks (as `train_epoch` leaves `ctx.trained`).

usage: python benchmarks/gpu_check.py [--device cuda] [--only NAME ...] [--require-cuda] [--tol 1e-4]
"""
import argparse, math, os, subprocess, sys, tempfile, textwrap, time, traceback
import torch
import torch.nn.functional as F
from exp_lib.learner import Learner, Callback, DataLoaders, CancelFitException, accuracy, get_data, get_model
from exp_lib.cnn import (get_cnn_model, init_cnn, normalize_to, BatchTransformXCallback, mnist_view, ActivationStats)
from exp_lib.device import as_device

NFS, LAYER_KW = [16, 32, 64, 64], dict(leak=0.1, sub=0.4, maxv=6.)


class CheckFailed(Exception):
    "A check's reason for failing."


def n_hooks(model): return sum(len(m._forward_hooks) for m in model.modules())


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)
    elif device.type == 'mps': torch.mps.synchronize()


class FirstLoss(Callback):
    "Remembers the first training batch's loss (as a float) and, with `stop`, ends the fit there."
    def __init__(self, stop=False): self.first, self.stop = None, stop
    def after_loss(self):
        if self.learn.training and self.first is None:
            self.first = self.learn.loss.item()
            if self.stop: raise CancelFitException()


class Context:
    "What the checks share: the data, the device, the CNN's initial weights, and results left by earlier checks."
    def __init__(self, device, tol):
        self.device, self.tol = device, tol
        x_train, y_train, x_valid, y_valid = get_data('sample')
        x_train, x_valid = normalize_to(x_train, x_valid)
        self.data = x_train, y_train, x_valid, y_valid
        self.dls = DataLoaders.from_tensors(*self.data, bs=64)
        torch.manual_seed(0)
        self.init = {k: v.clone() for k, v in init_cnn(get_cnn_model(NFS, **LAYER_KW)).state_dict().items()}

    def learner(self, device, cbs=(), dls=None, **kwargs):
        "A learner for lesson 08's CNN from the shared initial weights, on `device`."
        model = get_cnn_model(NFS, **LAYER_KW)
        model.load_state_dict(self.init)
        return Learner(dls or self.dls, model, F.cross_entropy, metrics=accuracy, progress=False, device=device,
                       cbs=[BatchTransformXCallback(mnist_view), *cbs], **kwargs)


def check_device(ctx):
    d = ctx.device
    if d.type == 'cuda':
        learn = ctx.learner(None)
        if learn.device.type != 'cuda' and not os.environ.get('EXP_LIB_DEVICE'):
            raise CheckFailed(f"Learner(device=None) chose {learn.device}, not CUDA")
        n = torch.cuda.device_count()
        try: ctx.learner(f'cuda:{n}'); raise CheckFailed(f"Learner(device='cuda:{n}') was accepted on a machine with {n} GPU(s)")
        except RuntimeError as e:
            if f"'cuda:{n}'" not in str(e) or '\n' in str(e): raise CheckFailed(f"the error for a missing GPU is not one line naming it: {e!r}")
    learn = ctx.learner(d)
    where = {p.device for p in learn.model.parameters()}
    if where != {d}: raise CheckFailed(f"the model's parameters are on {where}, not {d}")
    name = torch.cuda.get_device_name(d) if d.type == 'cuda' else d.type
    return f"learn.device = {learn.device} ({name}); default picks it; a missing index fails at once"


def check_same_start(ctx):
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        losses = []
        for dev in ('cpu', ctx.device):
            first = FirstLoss(stop=True)
            torch.manual_seed(1)                                  # the same shuffle, so the same first batch
            ctx.learner(dev, cbs=[first]).fit(1)
            losses.append((str(dev), first.first))
    finally: torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    (c, lc), (g, lg) = losses
    if not math.isclose(lc, lg, rel_tol=ctx.tol, abs_tol=ctx.tol):
        raise CheckFailed(f"first-batch loss {lc:.6f} on {c} but {lg:.6f} on {g} (tolerance {ctx.tol})")
    return f"first-batch loss {lc:.6f} on {c}, {lg:.6f} on {g} (difference {abs(lc - lg):.1e}, tolerance {ctx.tol})"


def check_train_epoch(ctx):
    res = []
    warm = ctx.learner(ctx.device)                                # CUDA context, cuDNN, allocator: not part of the timing
    with torch.no_grad(): warm.model(mnist_view(ctx.data[0][:64]).to(ctx.device))
    sync(ctx.device)
    for dev in ('cpu', ctx.device):
        learn = ctx.learner(dev)
        torch.manual_seed(2)
        t = time.perf_counter()
        learn.fit(1)
        sync(learn.device)
        res.append((str(learn.device), (time.perf_counter() - t, learn.recorder.values[-1][3], learn)))
    (c, (tc, ac, _)), (g, (tg, ag, lg)) = res
    ctx.trained = lg
    if min(ac, ag) < 0.8: raise CheckFailed(f"accuracy after one epoch: {ac:.3f} on {c}, {ag:.3f} on {g} (expected > 0.8 on both)")
    if abs(ac - ag) > 0.03: raise CheckFailed(f"accuracy after one epoch differs: {ac:.3f} on {c}, {ag:.3f} on {g}")
    n = len(ctx.dls.train)
    return (f"one epoch ({n} batches of 64 + validation): {c} {tc:.2f}s, {g} {tg:.2f}s ({tc / tg:.1f}x); "
            f"accuracy {ac:.3f} / {ag:.3f}")


def check_copies(ctx):
    d, expect = ctx.device, ctx.device.type == 'cuda'
    log, pins, real_to, real_pin = [], [0], torch.Tensor.to, torch.Tensor.pin_memory

    def to(self, *args, **kwargs):
        out = real_to(self, *args, **kwargs)
        if self.device.type == 'cpu' and out.device.type != 'cpu':
            log.append((self.is_pinned() if expect else False, bool(kwargs.get('non_blocking', False))))
        return out

    def pin(self, *args, **kwargs):
        pins[0] += 1
        return real_pin(self, *args, **kwargs)

    class Where(Callback):
        order = 1                                                 # after DeviceCallback (0), before the transform (2)
        def before_batch(self): self.where = {self.learn.xb.device, self.learn.yb.device}
        def after_batch(self):
            if self.learn.iter >= 4: raise CancelFitException()

    def run(dls):
        log.clear(); pins[0] = 0
        where = Where()
        learn = ctx.learner(d, cbs=[where], dls=dls)
        torch.Tensor.to, torch.Tensor.pin_memory = to, pin
        try: learn.fit(1)
        finally: torch.Tensor.to, torch.Tensor.pin_memory = real_to, real_pin
        return where.where, list(log), pins[0]

    where, copies, n_pin = run(ctx.dls)
    n_copies = 0 if d.type == 'cpu' else 10                       # to the CPU itself, .to() returns the tensor: no copy
    if where != {d}: raise CheckFailed(f"batches reached the callbacks after DeviceCallback on {where}, not {d}")
    if len(copies) != n_copies: raise CheckFailed(f"expected {n_copies} host-to-device copies for 5 batches (xb and yb), saw {len(copies)}")
    if any(c != (expect, expect) for c in copies):
        raise CheckFailed(f"copies (pinned source, non_blocking): {copies}; expected all {(expect, expect)}")
    if n_pin != (10 if expect else 0): raise CheckFailed(f"{n_pin} pin_memory calls for 10 tensors")
    msg = f"5 batches: {n_copies} copies, all {'pinned and non_blocking' if expect else 'plain (not CUDA)'}"
    if expect:
        x, y, xv, yv = ctx.data
        tdl = lambda ds, shuffle: torch.utils.data.DataLoader(ds, batch_size=64, shuffle=shuffle, pin_memory=True)
        dls = DataLoaders(tdl(torch.utils.data.TensorDataset(x, y), True), tdl(torch.utils.data.TensorDataset(xv, yv), False))
        _, copies, n_pin = run(dls)
        if n_pin or any(c != (True, True) for c in copies):
            raise CheckFailed(f"with a pinning DataLoader: {n_pin} extra pin_memory calls, copies {copies[:4]}...")
        msg += "; a pin_memory=True DataLoader's batches are used as they are"
    return msg


LOAD_ON_CPU = textwrap.dedent("""
    import sys, torch, torch.nn.functional as F
    from exp_lib.learner import Learner, DataLoaders, accuracy, get_data
    from exp_lib.cnn import get_cnn_model, normalize_to, BatchTransformXCallback, mnist_view
    assert not torch.cuda.is_available(), 'this process should see no GPU'
    x, y, xv, yv = get_data('sample'); x, xv = normalize_to(x, xv)
    learn = Learner(DataLoaders.from_tensors(x, y, xv, yv, bs=64), get_cnn_model({nfs}, **{kw}), F.cross_entropy,
                    metrics=accuracy, progress=False, cbs=BatchTransformXCallback(mnist_view), path=sys.argv[1])
    learn.load('gpu_model')
    assert learn.device.type == 'cpu' and all(p.device.type == 'cpu' for p in learn.model.parameters())
    loss = learn.validate()[0]
    learn.fit(1)                                         # the optimizer state was moved too
    print(repr(loss), learn.recorder.values[-1][3])
""")


def check_save_load(ctx):
    learn = getattr(ctx, 'trained', None) or ctx.learner(ctx.device)
    if learn.opt is None: learn.fit(1)
    with tempfile.TemporaryDirectory() as d:
        learn.path = type(learn.path)(d)
        learn.save('gpu_model')
        gpu_loss = learn.validate()[0]
        cpu = ctx.learner('cpu', path=d).load('gpu_model')
        for (k, p), q in zip(learn.model.state_dict().items(), cpu.model.state_dict().values()):
            if q.device.type != 'cpu' or not torch.equal(p.cpu(), q): raise CheckFailed(f"{k} differs after loading on the CPU")
        env = {k: v for k, v in os.environ.items() if k != 'EXP_LIB_DEVICE'}
        env['CUDA_VISIBLE_DEVICES'] = ''
        script = LOAD_ON_CPU.format(nfs=NFS, kw=LAYER_KW)
        r = subprocess.run([sys.executable, '-c', script, d], capture_output=True, text=True, env=env, timeout=240)
        if r.returncode: raise CheckFailed(f"loading in a process without a GPU failed: {r.stderr.strip().splitlines()[-1]}")
        cpu_loss, acc = map(float, r.stdout.split())
    if not math.isclose(cpu_loss, gpu_loss, rel_tol=1e-3, abs_tol=1e-4):
        raise CheckFailed(f"validation loss {gpu_loss:.5f} on {ctx.device} but {cpu_loss:.5f} after loading on the CPU")
    return f"saved on {ctx.device}, loaded in a process with no GPU: valid loss {gpu_loss:.5f} -> {cpu_loss:.5f}, trained on (accuracy {acc:.3f})"


def check_act_stats(ctx):
    act = ActivationStats()
    learn = ctx.learner(ctx.device, cbs=[act])
    learn.fit(1)
    if n_hooks(learn.model): raise CheckFailed(f"{n_hooks(learn.model)} forward hooks left after the fit")
    dev = {s.device for h in act.hooks for s in h.stats[0]}
    if dev != {ctx.device}: raise CheckFailed(f"records kept on {dev}, expected {ctx.device} (no sync per batch)")
    means, hists = act.means, act.hists
    if means.device.type != 'cpu' or not torch.isfinite(means).all(): raise CheckFailed("means are not finite CPU tensors")
    return f"{means.shape[0]} layers x {means.shape[1]} batches recorded on {ctx.device}, histograms {tuple(hists.shape)}, no hook left"


def check_preds_on_cpu(ctx):
    learn = getattr(ctx, 'trained', None) or ctx.learner(ctx.device)
    preds, targs = learn.get_preds()
    where = {preds.device.type, targs.device.type}
    if where != {'cpu'}: raise CheckFailed(f"get_preds returned tensors on {where}")
    acc = (preds.argmax(1) == targs).float().mean().item()
    # predict takes one raw input and (in lesson 07) calls the model directly, without batch transforms, so it is
    # checked on a model that needs none: an MLP on the same flat digits
    mlp = Learner(ctx.dls, get_model(), F.cross_entropy, progress=False, device=ctx.device)
    mlp.fit(1)
    try: cls, probs = mlp.predict(ctx.data[2][0])
    except Exception as e: raise CheckFailed(f"predict on one CPU input failed: {type(e).__name__}: {str(e).splitlines()[0]}")
    if probs.device.type != 'cpu': raise CheckFailed(f"predict returned a tensor on {probs.device}")
    return f"get_preds: {tuple(preds.shape)} on the CPU (accuracy {acc:.3f}); predict (an MLP): class {cls}, probabilities on the CPU"


def check_move_later(ctx):
    learn = ctx.learner('cpu')
    learn.fit(1)
    before = learn.validate()[0]
    learn.to(ctx.device)
    bad = {str(v.device) for st in learn.opt.state.values() for v in st.values() if torch.is_tensor(v) and v.device != ctx.device}
    if bad: raise CheckFailed(f"optimizer state left on {bad} after learn.to({str(ctx.device)!r})")
    after = learn.validate()[0]
    if not math.isclose(before, after, rel_tol=1e-3, abs_tol=1e-4): raise CheckFailed(f"valid loss {before:.5f} on cpu, {after:.5f} after moving")
    learn.fit(1)
    return f"trained on cpu, learn.to({str(ctx.device)!r}): same valid loss ({before:.5f} / {after:.5f}), trains on (accuracy {learn.recorder.values[-1][3]:.3f})"


CHECKS = [check_device, check_same_start, check_train_epoch, check_copies, check_save_load, check_act_stats,
          check_preds_on_cpu, check_move_later]

# The mixed-precision paths (notebook 30): bf16, fp16 with its gradient scaler, overflow skipping, clipping under a scaler.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_check_amp
CHECKS += gpu_check_amp.CHECKS



def main(argv=None):
    names = [f.__name__[len('check_'):] for f in CHECKS]
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda', help="device to check against the CPU (default cuda)")
    p.add_argument('--only', nargs='+', choices=names, metavar='NAME', help=f"run only these checks: {', '.join(names)}")
    p.add_argument('--require-cuda', action='store_true', help='exit with status 2 (not 0) when there is no CUDA')
    p.add_argument('--tol', type=float, default=1e-4, help='tolerance of the first-batch loss comparison (default 1e-4)')
    p.add_argument('--threads', type=int, default=4, help='CPU threads for PyTorch (default 4)')
    a = p.parse_args(argv)
    if a.device.startswith('cuda') and not torch.cuda.is_available():
        print(f"SKIP: no CUDA here (torch {torch.__version__}, built {'without CUDA' if torch.version.cuda is None else 'with CUDA ' + torch.version.cuda}); nothing checked")
        return 2 if a.require_cuda else 0
    torch.set_num_threads(a.threads)
    device = as_device(a.device)
    gpu = f", {torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}" if device.type == 'cuda' else ''
    print(f"torch {torch.__version__}{gpu}; checking {device} against the CPU ({a.threads} threads)")
    t0, failed = time.perf_counter(), []
    ctx = Context(device, a.tol)
    for f in CHECKS:
        name = f.__name__[len('check_'):]
        if a.only and name not in a.only: continue
        t = time.perf_counter()
        try: msg, ok = f(ctx), True
        except (CheckFailed, AssertionError) as e: msg, ok = str(e) or 'assertion failed', False
        except Exception as e:
            msg, ok = f"error: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}", False
            traceback.print_exc(file=sys.stderr)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {msg} [{time.perf_counter() - t:.1f}s]", flush=True)
        if not ok: failed.append(name)
    print(f"{'all checks passed' if not failed else 'FAILED: ' + ', '.join(failed)} ({time.perf_counter() - t0:.0f}s)")
    return 1 if failed else 0


if __name__ == '__main__': sys.exit(main())
