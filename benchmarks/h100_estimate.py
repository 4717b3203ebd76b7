"""First-principles estimate of the full protocol's training time on one H100 (docs/PERFORMANCE.md).

Per configuration (all 5 seeds as one stack, one configuration at a time) and step:
    step time = max(latency floor, conv FLOPs / T(B) + activation bytes / BW)
with the assumptions below (every number is an assumption, stated; none is measured).
    python3 benchmarks/h100_estimate.py
"""
import math

W, S, C_IN, CLASSES = 64, 32, 3, 10          # the paper's width and CIFAR-10-shaped input
N, EPOCHS, SEEDS = 50_000, 10, 5
PX = S * S
CONV_MAC = PX * W * W * 9                     # one 3x3 64->64 conv, per image
STEM_MAC = PX * C_IN * W * 9
TRAIN = 3                                     # forward + input grad + weight grad
STEM_TRAIN = 2                                # no input grad for the stem
PASSES = 10                                   # activation passes per block (conv out, norm, act; x2 backward)
BW = 2.5e12                                   # achievable HBM3 bandwidth, B/s (3.35 peak)
NODE_US = 3.0                                 # one dependent kernel inside a graph replay, us
# Achievable TF32 (torch's default for cuDNN convs) TFLOP/s of the stacked grouped conv
# (groups=5, 64 channels each) by per-replica batch: 20% of the 495 TFLOP/s dense peak at
# large batch, less as the GEMM's M = B*32*32 shrinks.
def tflops(b):
    return 100e12 if b >= 32 else 50e12 if b >= 8 else 25e12


def cnn_step(blocks, b, k=SEEDS):
    imgs = b * k
    flops = imgs * 2 * (TRAIN * blocks * CONV_MAC + STEM_TRAIN * STEM_MAC)
    bytes_ = imgs * PASSES * blocks * PX * W * 4
    nodes = 25 * blocks + 30                  # fwd+bwd kernels per block, plus loss/metrics/Adam
    return max(nodes * NODE_US * 1e-6, flops / tflops(b) + bytes_ / BW), nodes


def mlp_step(b, k=SEEDS):
    mac = C_IN * PX * 8 * W + 8 * W * 4 * W + 4 * W * 2 * W + 2 * W * CLASSES
    return max(60 * NODE_US * 1e-6, b * k * 2 * TRAIN * mac / tflops(b)), 60


def grid():
    steps = lambda b: EPOCHS * math.ceil(N / b)
    g = [(f"Q4 d{d} {a}", "cnn", d, 128) for d in (1, 2, 4, 6, 8) for a in ("relu", "sigmoid")]
    g += [(f"Q5 {n} B={b}", "cnn", 4, b) for n in ("BN", "GN") for b in (2, 4, 8, 16, 32, 64, 128)]
    g += [(f"Q6 CNN {o}", "cnn", 8, 128) for o in ("case1", "case2", "case3")]
    g += [(f"Q6 MLP {o}", "mlp", 0, 128) for o in ("case1", "case2", "case3")]
    return [(name, kind, blocks, b, steps(b)) for name, kind, blocks, b in g]


def main():
    total = 0.0
    by_part = {}
    print("| configuration (5 seeds stacked) | steps | ms/step | seconds |")
    print("|---|---|---|---|")
    for name, kind, blocks, b, n in grid():
        t, _ = cnn_step(blocks, b) if kind == "cnn" else mlp_step(b)
        total += n * t
        part = "Q5 B=2,4" if name.startswith("Q5") and b <= 4 else name.split()[0]
        by_part[part] = by_part.get(part, 0.0) + n * t
        print(f"| {name} | {n:,} | {1000 * t:.3f} | {n * t:.0f} |")
    flops = sum(n * (b * SEEDS * 2 * (TRAIN * blocks * CONV_MAC + STEM_TRAIN * STEM_MAC))
                for _, kind, blocks, b, n in grid() if kind == "cnn")
    print(f"\ntotal training FLOPs (CNNs): {flops / 1e15:.1f} PFLOP")
    print("by part: " + ", ".join(f"{k} {v:.0f} s" for k, v in by_part.items()))
    print(f"whole protocol, training steps: {total:.0f} s = {total / 60:.1f} min")


if __name__ == "__main__":
    main()
