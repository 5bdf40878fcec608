"""pandas on the same job as `cargo bench --bench data_pipeline`: read the CSV, split 80/20, standardise the
features with the training rows' mean and standard deviation, and make float32 arrays. Prints the same figures."""
import resource
import sys
import time

import numpy as np
import pandas as pd

path = sys.argv[1]
started = time.perf_counter()
frame = pd.read_csv(path)
read = time.perf_counter() - started
started = time.perf_counter()
rng = np.random.default_rng(1)
order = rng.permutation(len(frame))
cut = int(round(0.8 * len(frame)))
features = frame.drop(columns=["y"]).to_numpy(dtype=np.float64)
train, test = features[order[:cut]], features[order[cut:]]
mean, std = train.mean(axis=0), train.std(axis=0)
std[std == 0] = 1.0
train_x = ((train - mean) / std).astype(np.float32)
test_x = ((test - mean) / std).astype(np.float32)
transform = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"pandas {pd.__version__}, numpy {np.__version__}")
print(f"read_csv:              {read:.3f} s")
print(f"split + fit + apply:   {transform:.3f} s ({train_x.size + test_x.size} values)")
print(f"total:                 {read + transform:.3f} s")
print(f"peak memory:           {peak:.1f} MB")
