"""numpy (LAPACK/OpenBLAS, float64) reference implementations for bench/solvers.

Reads the matrices main.go wrote into DIR, runs the same algorithms with the same
parameters (same Gaussian test matrix for the randomized SVD, same SVD init and
proximal ridge for CP-ALS, same sweep counts), and prints {seconds, error} as
JSON for the one operation named on the command line (DIR OP REPS). Seconds are the best of REPS repetitions (main.go
calls it with 1, alternating with its own runs); errors are relative Frobenius
errors of the dense reconstruction.
"""
import json
import sys
import time

import numpy as np

D, OP, REPS = sys.argv[1], sys.argv[2], int(sys.argv[3])


def load(name, shape):
    return np.fromfile(f"{D}/{name}.f64", dtype="<f8").reshape(shape)


def best_of(reps, fn):
    best, res = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        res = fn()
        best = min(best, time.perf_counter() - t)
    return best, res


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def truncated_svd(a, r):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return u[:, :r], s[:r], vt[:r]


def randomized_svd(a, r, omega_t, q):
    def orth(y):
        return np.linalg.qr(y)[0]
    qm = orth(a @ omega_t.T)
    for _ in range(q):
        z = orth(a.T @ qm)
        qm = orth(a @ z)
    b = qm.T @ a
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    return qm @ ub[:, :r], s[:r], vt[:r]


def unfold(x, n):
    return np.moveaxis(x, n, 0).reshape(x.shape[n], -1)


def lead(m, r):
    return np.linalg.svd(m, full_matrices=False)[0][:, :r]


def tucker2(w, r_out, r_in, sweeps):
    # Mode products as single tensordot/GEMM calls (TensorLy's mode_dot); the
    # column order of an unfolding does not change its left singular vectors.
    t, s = w.shape[:2]
    u_out = lead(unfold(w, 0), r_out)
    u_in = lead(unfold(w, 1), r_in)
    for _ in range(sweeps):
        y = np.tensordot(w, u_in, axes=([1], [0]))        # t, h, w, b
        u_out = lead(y.reshape(t, -1), r_out)
        z = np.tensordot(w, u_out, axes=([0], [0]))       # s, h, w, a
        u_in = lead(z.reshape(s, -1), r_in)
    y = np.tensordot(w, u_in, axes=([1], [0]))            # t, h, w, b
    core = np.tensordot(u_out, y, axes=([0], [0]))        # a, h, w, b
    return core.transpose(0, 3, 1, 2), u_out, u_in


def khatri_rao(mats, r):
    out = np.ones((1, r))
    for m in mats:
        out = (out[:, None, :] * m[None, :, :]).reshape(-1, r)
    return out


def cp_als(x, r, sweeps, init, ridge=1e-8):
    d = x.ndim
    unf = [unfold(x, n) for n in range(d)]
    a = [f / np.linalg.norm(f, axis=0) for f in init]
    lam = np.ones(r)
    norm_sq = float(np.sum(x * x))
    errors = []
    for _ in range(sweeps):
        for n in range(d):
            others = [a[m] for m in range(d) if m != n]
            m_n = unf[n] @ khatri_rao(others, r)
            g = np.ones((r, r))
            for o in others:
                g *= o.T @ o
            mu = ridge * np.trace(g) / r
            prev = a[n] * lam
            b = np.linalg.solve(g + mu * np.eye(r), (m_n + mu * prev).T).T
            # TensorLy-style fast error from the MTTKRP.
            e2 = norm_sq - 2 * np.sum(b * m_n) + np.sum((b.T @ b) * g)
            errors.append(np.sqrt(max(e2, 0) / norm_sq))
            lam = np.linalg.norm(b, axis=0)
            a[n] = b / lam
    return lam, a, errors


def cp_reconstruct(lam, a):
    r = lam.shape[0]
    kr = khatri_rao(a[1:], r)
    return ((a[0] * lam) @ kr.T).reshape([f.shape[0] for f in a])


if OP == "svd":
    a = load("svd", (512, 4608))
    sec, (u, s, vt) = best_of(REPS, lambda: truncated_svd(a, 64))
    res = {"seconds": sec, "error": rel(a, (u * s) @ vt)}
elif OP == "rsvd":
    a = load("rsvd", (4096, 25088))
    om = load("rsvd_omega_t", (266, 25088))
    sec, (u, s, vt) = best_of(REPS, lambda: randomized_svd(a, 256, om, 2))
    res = {"seconds": sec, "error": rel(a, (u * s) @ vt)}
elif OP == "tucker":
    w = load("tucker", (512, 512, 3, 3))
    sec, (core, uo, ui) = best_of(REPS, lambda: tucker2(w, 128, 128, 10))
    res = {"seconds": sec, "error": rel(w, np.einsum("abhw,ta,sb->tshw", core, uo, ui, optimize=True))}
elif OP == "cp":
    x = load("cp", (256, 256, 3, 3))
    init = [load(f"cp_init{n}", (x.shape[n], 64)) for n in range(4)]
    sec, (lam, fac, _) = best_of(REPS, lambda: cp_als(x, 64, 20, init))
    res = {"seconds": sec, "error": rel(x, cp_reconstruct(lam, fac))}
else:
    sys.exit(f"unknown op {OP}")

json.dump(res, sys.stdout)
