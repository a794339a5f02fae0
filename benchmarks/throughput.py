r"""Throughput of DilationLangevin against the bare-gradient limit, and its scaling.

The *bare-gradient limit* is a jitted ``lax.scan`` whose body is one batched
gradient, :math:`x \leftarrow x + 10^{-3}\,\nabla\log\gamma(x)` over all chains
(``vmap(grad(logdensity))``); nothing can sample with fewer operations per
gradient. DilationLangevin is timed as its NumPyro kernel's ``sample`` (the
function ``MCMC`` iterates; default settings, vectorized chains) in a jitted
``lax.scan`` over warm-up and sampling, keeping the draws; the bare loop does the
same number of gradients per chain. Both are compiled ahead of time and timed
after compilation (best of ``repeats`` calls, ``block_until_ready``). The
kernel's ``init`` (not jitted by the kernel) is timed separately. Optionally,
the BlackJAX-level ``dilation_langevin`` (annealing + MALA only) is timed the
same way, to separate the core kernel's cost from the NumPyro kernel's.

Ratio reported: :math:`(t_\text{DL}/G_\text{DL}) / (t_\text{bare}/G_\text{bare})`,
time per gradient over the limit's.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import numpyro_dilation as nd
from benchmarks import metrics
from benchmarks.targets import Target

__all__ = ["bare_gradient_loop", "dilation_kernel_loop", "time_compiled", "measure"]


def bare_gradient_loop(logdensity_fn, num_steps: int):
    """``x0 (C, d) -> x`` after ``num_steps`` batched gradient steps (one gradient each)."""
    grad = jax.vmap(jax.grad(logdensity_fn))

    def run(x0):
        def body(x, _):
            return x + 1e-3 * grad(x), None

        return lax.scan(body, x0, None, length=num_steps)[0]

    return run


def dilation_kernel_loop(kernel: nd.DilationLangevin, num_warmup: int, num_samples: int):
    """``state -> (draws (S, C, d), grad_evals)``: ``kernel.sample`` iterated in ``lax.scan``."""

    def run(state):
        z = state.z
        buffer = jnp.zeros((num_samples,) + z.shape, z.dtype)

        def body(carry, _):
            state, buffer, grads, i = carry
            state = kernel.sample(state, (), {})
            idx = jnp.maximum(i - num_warmup, 0)
            buffer = lax.dynamic_update_index_in_dim(buffer, state.z, idx, 0)
            return (state, buffer, grads + state.num_grad_evals.sum(), i + 1), None

        carry = (state, buffer, jnp.asarray(0), jnp.asarray(0))
        (_, draws, grads, _), _ = lax.scan(body, carry, None, length=num_warmup + num_samples)
        return draws, grads

    return run


def blackjax_loop(logdensity_fn, num_chains: int, num_warmup: int, num_samples: int):
    """``(key, x0) -> (final positions, grad_evals)``: ``dilation_langevin`` in ``lax.scan``.

    The BlackJAX-level algorithm (annealing + MALA, no NumPyro wrapper) with
    ``K = ceil(W / 2)`` annealing steps and the step size adapted over the ``W``
    warm-up iterations, as the NumPyro kernel's defaults do; initial step 0.1.
    """
    algo = nd.dilation_langevin(
        logdensity_fn,
        0.1,
        num_annealing_steps=-(-num_warmup // 2),
        num_adaptation_steps=num_warmup,
    )

    def run(key, x0):
        def body(state, key):
            state, info = jax.vmap(algo.step)(jax.random.split(key, num_chains), state)
            return state, info.num_grad_evals.sum()

        keys = jax.random.split(key, num_warmup + num_samples)
        state, grads = lax.scan(body, jax.vmap(algo.init)(x0), keys)
        return state.position, grads.sum()

    return run


def time_compiled(fn, *args, repeats: int = 3) -> tuple[Any, float, float]:
    """Compile ``jit(fn)`` for ``args``, then call it ``repeats`` times.

    Returns ``(output of the last call, compile seconds, best call seconds)``.
    """
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        best = min(best, time.perf_counter() - t0)
    return out, compile_s, best


def measure(
    target: Target,
    rng_key: jax.Array,
    num_chains: int,
    num_warmup: int,
    num_samples: int,
    reference: np.ndarray,
    num_eval: int,
    repeats: int = 3,
    blackjax_level: bool = False,
) -> dict[str, Any]:
    """One throughput point: DilationLangevin kernel loop vs the bare limit, plus quality.

    Returns a dict with ``grad_evals``, ``dl_s``, ``bare_s``, per-gradient
    nanoseconds, their ``ratio``, ``init_s``, compile times, and the draws'
    mode-weight TV (if multimodal) and energy distance to ``reference``.
    """
    k_init, k_kernel, k_eval = jax.random.split(rng_key, 3)
    x0 = target.init_positions(k_init, num_chains)
    kernel = nd.DilationLangevin(potential_fn=lambda x: -target.logdensity_fn(x))
    t0 = time.perf_counter()
    state = kernel.init(jax.random.split(k_kernel, num_chains), num_warmup, x0, (), {})
    state = jax.block_until_ready(state)
    init_s = time.perf_counter() - t0
    (draws, grads), dl_compile_s, dl_s = time_compiled(
        dilation_kernel_loop(kernel, num_warmup, num_samples), state, repeats=repeats
    )
    grads = int(grads)
    per_chain = int(round(grads / num_chains))
    _, bare_compile_s, bare_s = time_compiled(
        bare_gradient_loop(target.logdensity_fn, per_chain), x0, repeats=repeats
    )
    dl_ns = 1e9 * dl_s / grads
    bare_ns = 1e9 * bare_s / (per_chain * num_chains)
    out = target.to_output(np.asarray(draws).reshape(-1, target.dim))
    rng = np.random.default_rng(int(jax.random.randint(k_eval, (), 0, 2**31 - 1)))
    sub = out[rng.choice(len(out), size=min(num_eval, len(out)), replace=False)]
    record = {
        "target": target.name,
        "dim": target.dim,
        "num_chains": num_chains,
        "num_warmup": num_warmup,
        "num_samples": num_samples,
        "grad_evals": grads,
        "dl_s": dl_s,
        "bare_s": bare_s,
        "dl_ns_per_grad": dl_ns,
        "bare_ns_per_grad": bare_ns,
        "ratio": dl_ns / bare_ns,
        "init_s": init_s,
        "dl_compile_s": dl_compile_s,
        "bare_compile_s": bare_compile_s,
        "energy_distance": metrics.energy_distance(sub, reference),
    }
    if blackjax_level:
        (_, bj_grads), _, bj_s = time_compiled(
            blackjax_loop(target.logdensity_fn, num_chains, num_warmup, num_samples),
            k_kernel, x0, repeats=repeats,
        )
        record["blackjax_ns_per_grad"] = 1e9 * bj_s / int(bj_grads)
        record["blackjax_ratio"] = record["blackjax_ns_per_grad"] / bare_ns
    if target.multimodal:
        record["mode_tv"] = metrics.mode_weight_tv(target.assign_fn(out), target.mode_weights)
    return record
