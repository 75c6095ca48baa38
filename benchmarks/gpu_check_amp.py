#!/usr/bin/env python
"""Checks of mixed precision (nbs/30_fp16) on a GPU, which the CPU-only test run cannot reach for fp16.

Each check is a function `check_<name>(ctx)` that returns a one-line summary and raises `CheckFailed` (or fails an
`assert`) with the reason, in the form benchmarks/gpu_check.py (lesson 08's issue) uses, so that they can be appended
to its `CHECKS`: they only use `ctx.device` and `ctx.learner(device, cbs=...)` (a learner whose model and batches are
on `device`, from the same initial weights every time). Run alone, this script makes its own context: the lessons' MLP
(784-100-10) on the bundled 5,000-digit sample, with the model and the tensors moved to the device by hand.

  bf16           one epoch with learn.to_bf16(): the model runs in bf16 under autocast, weights and gradients stay
                 float32, and the accuracy is within --points of a float32 epoch from the same weights
  fp16           the same with learn.to_fp16(): float16 under autocast, the gradient scaler on, few steps skipped
                 (at most 10% of them: the first steps at scale 65536 may overflow), the weights finite. On a device
                 that is not CUDA: to_fp16() must refuse, with a RuntimeError
  fp16_overflow  an inf put into a gradient at batches 2 and 3: both steps skipped (weights unchanged) and counted,
                 the scale halved at each (not CUDA: the same scaler logic, with bf16 and scale=True)
  fp16_clip      GradientClip(0.1) with fp16: the optimizer gets gradients of norm at most 0.1 once unscaled, most of
                 them exactly 0.1 (clipping before unscaling would give 0.1/scale) (not CUDA: bf16 with scale=True)
  fp16_refused   fp16 on a model whose weights are on the CPU is refused before training, weights untouched

Output: one line per check, `PASS <name>: ...` or `FAIL <name>: ...`, then a summary line. Exit status: 0 if every
check passed; 1 if one failed. `--device cpu` is a self-test of this script. The whole run takes seconds on a GPU.

usage: python benchmarks/gpu_check_amp.py [--device cuda] [--only NAME ...] [--points 2]
"""
import argparse, copy, math, sys, traceback
import torch
import torch.nn.functional as F
from exp_lib.learner import Learner, Callback, DataLoaders, accuracy, get_data, get_model
from exp_lib.callback.fp16 import MixedPrecision
from exp_lib.callback.training import GradientClip


class CheckFailed(Exception):
    "A check's reason for failing."


class Probe(Callback):
    "What the model produced (order 9, before MixedPrecision turns it into float32) and the dtypes at the step."
    order = 9
    def before_fit(self): self.outputs, self.at_step = set(), set()
    def after_pred(self):
        if self.learn.training: self.outputs.add((self.learn.pred.dtype, torch.is_autocast_enabled(self.learn.pred.device.type)))
    def before_step(self):
        self.at_step.update((p.dtype, p.grad.dtype) for p in self.learn.model.parameters() if p.grad is not None)


class Context:
    "The lessons' MLP on the sample, on `device`, from the same initial weights for every learner."
    def __init__(self, device, points=2.):
        self.device, self.points = torch.device(device), points
        self.data = get_data('sample')
        torch.manual_seed(0)
        self.init = copy.deepcopy(get_model(nh=100).state_dict())

    def learner(self, device, cbs=(), **kwargs):
        "A learner with its model and batches on `device`."
        model = get_model(nh=100)
        model.load_state_dict(self.init)
        dls = DataLoaders.from_tensors(*(t.to(device) for t in self.data), bs=64)
        return Learner(dls, model.to(device), F.cross_entropy, metrics=accuracy, progress=False, cbs=list(cbs), **kwargs)


def _with_scaler(ctx, learn, **kwargs):
    "fp16 with its gradient scaler on CUDA; elsewhere bf16 with the scaler on (the same skip and scale logic); the mode's name."
    if ctx.device.type == 'cuda': learn.to_fp16(**kwargs); return 'fp16'
    learn.to_bf16(scale=True, **kwargs); return 'bf16 with scale=True'


def _epoch(ctx, amp, cbs=(), **kwargs):
    "One epoch from the shared weights, with `amp` ('fp16', 'bf16' or None); the learner and the probe."
    probe = Probe()
    torch.manual_seed(1)
    learn = ctx.learner(ctx.device, cbs=[probe, *cbs])
    if amp == 'fp16': learn.to_fp16(**kwargs)
    elif amp == 'bf16': learn.to_bf16(**kwargs)
    learn.fit_one_cycle(1, 1e-2)
    return learn, probe


def _fp32_accuracy(ctx):
    if not hasattr(ctx, 'fp32_accuracy'): ctx.fp32_accuracy = _epoch(ctx, None)[0].recorder.values[-1][3]
    return ctx.fp32_accuracy


def _check_amp(ctx, amp, dtype):
    learn, probe = _epoch(ctx, amp)
    acc, acc32 = learn.recorder.values[-1][3], _fp32_accuracy(ctx)
    if probe.outputs != {(dtype, True)}: raise CheckFailed(f"the model's output under {amp}: {probe.outputs}, expected {dtype} under autocast")
    if probe.at_step != {(torch.float32, torch.float32)}: raise CheckFailed(f"weights and gradients at the step: {probe.at_step}, expected float32")
    if not all(torch.isfinite(p).all() for p in learn.model.parameters()): raise CheckFailed("non-finite weights after training")
    points = getattr(ctx, "points", 2.)            # gpu_check.py's context has no --points
    if abs(acc - acc32) * 100 > points: raise CheckFailed(f"accuracy {acc:.4f} in {amp}, {acc32:.4f} in float32: more than {points} points apart")
    return learn, f"accuracy {acc:.4f} ({acc32:.4f} in float32)"


def check_bf16(ctx):
    if ctx.device.type == 'cuda' and not torch.cuda.is_bf16_supported(): return "not applicable: this GPU has no bf16"
    return _check_amp(ctx, 'bf16', torch.bfloat16)[1]


def check_fp16(ctx):
    if ctx.device.type != 'cuda':
        try: ctx.learner(ctx.device).to_fp16()
        except RuntimeError as e: return f"refused on {ctx.device}, as it must be: {e}"
        raise CheckFailed(f"to_fp16() was accepted on {ctx.device}, which has no fp16 mixed precision here")
    learn, msg = _check_amp(ctx, 'fp16', torch.float16)
    mp, n_steps = learn.mixed_precision, len(learn.dls.train)
    if not mp.scale: raise CheckFailed("the gradient scaler is off for fp16")
    if mp.n_skipped > n_steps // 10: raise CheckFailed(f"{mp.n_skipped} of {n_steps} steps skipped")
    return f"{msg}; {mp.n_skipped} of {n_steps} steps skipped, scale now {mp.scaler.get_scale():g}"


class Overflow(Callback):
    "An inf in the first gradient at the given training batches, before MixedPrecision checks it; notes which steps moved the weights."
    order = 5
    def __init__(self, at): self.at, self.moved, self.scales = at, [], []
    def before_batch(self):
        if self.learn.training: self._w = [p.detach().clone() for p in self.learn.model.parameters()]
    def before_step(self):
        if self.learn.train_iter in self.at: next(self.learn.model.parameters()).grad.view(-1)[0] = math.inf
    def after_batch(self):
        if not self.learn.training: return
        self.moved.append(any(not torch.equal(a, p) for a, p in zip(self._w, self.learn.model.parameters())))
        self.scales.append(self.learn.mixed_precision.scaler.get_scale())


def check_fp16_overflow(ctx):
    at, init = {2, 3}, 2. ** 10
    ov = Overflow(at)
    learn = ctx.learner(ctx.device, cbs=[ov])
    mode = _with_scaler(ctx, learn, init_scale=init, growth_interval=10 ** 6)
    learn.fit(1)
    mp = learn.mixed_precision
    if [i for i, m in enumerate(ov.moved) if not m] != sorted(at): raise CheckFailed(f"steps that left the weights unchanged: {[i for i, m in enumerate(ov.moved) if not m]}, expected {sorted(at)}")
    if mp.n_skipped != len(at): raise CheckFailed(f"n_skipped is {mp.n_skipped}, expected {len(at)}")
    if ov.scales[:5] != [init, init, init / 2, init / 4, init / 4]: raise CheckFailed(f"scales {ov.scales[:5]}")
    return f"{mode}: steps {sorted(at)} skipped and counted; scale {init:g} -> {ov.scales[-1]:g}"


class GradNorm(Callback):
    "The total gradient norm the optimizer gets (after GradientClip, order 11)."
    order = 12
    def before_fit(self): self.norms = []
    def before_step(self):
        self.norms.append(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in self.learn.model.parameters()])).item())


def check_fp16_clip(ctx):
    gn = GradNorm()
    learn = ctx.learner(ctx.device, cbs=[GradientClip(0.1), gn])
    mode = _with_scaler(ctx, learn)
    learn.fit(1)
    over = [n for n in gn.norms if n > 0.1 + 1e-3]
    if over: raise CheckFailed(f"{len(over)} of {len(gn.norms)} steps got a gradient norm above 0.1, e.g. {over[0]:.3g}")
    clipped = sum(abs(n - 0.1) <= 1e-3 for n in gn.norms)
    if clipped < len(gn.norms) // 2: raise CheckFailed(f"only {clipped} of {len(gn.norms)} steps at norm 0.1 (largest {max(gn.norms):.3g}): clipped before unscaling?")
    return f"{mode}: {len(gn.norms)} steps, none above norm 0.1, {clipped} clipped to it (scale {learn.mixed_precision.scaler.get_scale():g})"


def check_fp16_refused(ctx):
    learn = ctx.learner('cpu')
    w0 = copy.deepcopy(learn.model.state_dict())
    try: learn.fit(1, cbs=MixedPrecision('fp16'))
    except RuntimeError as e:
        if 'needs the model on a CUDA GPU' not in str(e): raise CheckFailed(f"unexpected error: {e}")
    else: raise CheckFailed("fp16 with the weights on the CPU trained")
    if any(not torch.equal(v, learn.model.state_dict()[k]) for k, v in w0.items()): raise CheckFailed("the weights changed")
    return "refused before training, weights untouched"


CHECKS = [check_bf16, check_fp16, check_fp16_overflow, check_fp16_clip, check_fp16_refused]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--only', nargs='*', help='names of checks to run (default: all)')
    p.add_argument('--points', type=float, default=2., help='largest accuracy difference against float32, in points')
    args = p.parse_args(argv)
    names = {f.__name__[len('check_'):]: f for f in CHECKS}
    unknown = set(args.only or ()) - set(names)
    if unknown: p.error(f"unknown checks: {', '.join(sorted(unknown))}; the checks are {', '.join(names)}")
    ctx = Context(args.device, args.points)
    counts = {'PASS': 0, 'FAIL': 0}
    for name, f in names.items():
        if args.only and name not in args.only: continue
        try: status, msg = 'PASS', f(ctx)
        except (CheckFailed, AssertionError) as e: status, msg = 'FAIL', str(e) or 'assertion failed'
        except Exception as e: status, msg = 'FAIL', f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        counts[status] += 1
        print(f"{status} {name}: {msg}", flush=True)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed on {ctx.device}"
          + (f" ({torch.cuda.get_device_name(ctx.device)})" if ctx.device.type == 'cuda' else ''))
    return 1 if counts['FAIL'] else 0


if __name__ == '__main__': sys.exit(main())
