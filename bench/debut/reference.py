"""Reference DeBut ALS in numpy: the corrected ALS3 of debut.md §4.2/§4.4.

It solves each factor block by block through the normal equations
G w = rhs with G[(a,c,d),(a',c',d')] = AtA[at+d, a't+d'] * CCt[ct+d, c't+d'],
using a tiny ridge (LU solve; scipy is not installed here for cho_solve) with
an eigen min-norm fallback, and reuses prefix/suffix products across a sweep.
It does not exploit the diagonal structure of G, as the spec's reference
timing does not. It reads the matrix and the initial factors written by the
Go benchmark so both start from the same point.

usage: reference.py DIR ITERS "p q r s t;p q r s t;..."   (output side first)
"""
import json
import sys
import time

import numpy as np


def parse_chain(text):
    return [tuple(int(v) for v in part.split()) for part in text.split(";") if part.strip()]


def prefix_mul(A, W, f):
    """A (m, p) times the factor (p, q), via nb*t small GEMMs."""
    p, q, r, s, t = f
    nb = p // (r * t)
    m = A.shape[0]
    A4 = A.reshape(m, nb, r, t).transpose(1, 3, 0, 2)          # nb, t, m, r
    out = A4 @ W.transpose(0, 3, 1, 2)                          # nb, t, m, s
    return out.transpose(2, 0, 3, 1).reshape(m, q)


def suffix_mul(W, C, f):
    """The factor (p, q) times C (q, n)."""
    p, q, r, s, t = f
    nb = p // (r * t)
    n = C.shape[1]
    C4 = C.reshape(nb, s, t, n).transpose(0, 2, 1, 3)           # nb, t, s, n
    out = W.transpose(0, 3, 1, 2) @ C4                          # nb, t, r, n
    return out.transpose(0, 2, 1, 3).reshape(p, n)


def solve_min_norm(G, rhs):
    dim = G.shape[0]
    ridge = 1e-8 * np.trace(G) / dim
    try:
        w = np.linalg.solve(G + ridge * np.eye(dim), rhs)
        if np.all(np.isfinite(w)):
            return w
    except np.linalg.LinAlgError:
        pass
    vals, vecs = np.linalg.eigh(G)
    keep = vals > 1e-10 * vals.max()
    return vecs[:, keep] @ ((vecs[:, keep].T @ rhs) / vals[keep])


def update(F, A, C, f):
    p, q, r, s, t = f
    nb = p // (r * t)
    n = F.shape[1]
    w = n // nb
    W = np.empty((nb, r, s, t))
    for i in range(nb):
        Ai = A[:, i * r * t:(i + 1) * r * t]
        Di = F[:, i * w:(i + 1) * w]
        Ci = C[i * s * t:(i + 1) * s * t, i * w:(i + 1) * w]
        AtA = (Ai.T @ Ai).reshape(r, t, r, t)
        CCt = (Ci @ Ci.T).reshape(s, t, s, t)
        E = ((Ai.T @ Di) @ Ci.T).reshape(r, t, s, t)
        G = np.einsum("adbe,cdfe->acdbfe", AtA, CCt).reshape(r * s * t, r * s * t)
        rhs = np.einsum("adcd->acd", E).reshape(-1)
        W[i] = solve_min_norm(G, rhs).reshape(r, s, t)
    return W


def main():
    folder, iters, chain = sys.argv[1], int(sys.argv[2]), parse_chain(sys.argv[3])
    m, n = chain[0][0], chain[-1][1]
    F = np.fromfile(f"{folder}/F.bin", dtype="<f8").reshape(m, n)
    Ws = []
    for k, (p, q, r, s, t) in enumerate(chain):
        Ws.append(np.fromfile(f"{folder}/init_{k}.bin", dtype="<f8").reshape(p // (r * t), r, s, t))
    N = len(chain)
    norm = np.linalg.norm(F)
    errors = []
    start = time.perf_counter()
    for it in range(iters):
        if it % 2 == 0:
            suffix = [None] * N
            suffix[N - 1] = np.eye(n)
            for k in range(N - 1, 0, -1):
                suffix[k - 1] = suffix_mul(Ws[k], suffix[k], chain[k])
            A = np.eye(m)
            for k in range(N):
                Ws[k] = update(F, A, suffix[k], chain[k])
                A = prefix_mul(A, Ws[k], chain[k])
            approx = A
        else:
            prefix = [None] * N
            prefix[0] = np.eye(m)
            for k in range(N - 1):
                prefix[k + 1] = prefix_mul(prefix[k], Ws[k], chain[k])
            C = np.eye(n)
            for k in range(N - 1, -1, -1):
                Ws[k] = update(F, prefix[k], C, chain[k])
                C = suffix_mul(Ws[k], C, chain[k])
            approx = C
        errors.append(float(np.linalg.norm(F - approx) / norm))
    elapsed = time.perf_counter() - start
    print(json.dumps({"impl": "numpy", "iterations": iters, "seconds": elapsed,
                      "sec_per_iter": elapsed / iters, "errors": errors, "final_error": errors[-1]}))


if __name__ == "__main__":
    main()
