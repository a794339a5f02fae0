r"""The samplers compared by the suite, each run at a given gradient budget.

Every ``run_*`` function returns a :class:`SamplerResult`: pooled draws in the
target's sampling space, the number of gradient evaluations it spent, and its
wall-clock time. Gradient counts, per sampler:

- **DilationLangevin** (NumPyro ``MCMC``, ``potential_fn``, vectorized chains,
  default kernel settings): the sum of the ``num_grad_evals`` extra field over
  warm-up (``collect_warmup=True``) and sampling. Its count :math:`G` is the
  budget the others are sized to match. Its :math:`\log Z` estimate is
  ``numpyro_dilation.log_evidence(mcmc)`` when the package provides one.
- **annealed ULA** (the paper's algorithm: ``dilation_langevin(...,
  step_size=h, adapt_step_size=False, metropolis=False, center=0)``, same chains
  and initial points, :math:`K = \lceil W'/2\rceil` annealing steps out of
  :math:`W'` burn-in iterations, :math:`W'` sized to the budget): the sum of
  ``DilationInfo.num_grad_evals``.
- **MALA** (``blackjax.mala``, same initial points, step size by dual averaging on
  the chain-averaged acceptance rate during burn-in): one gradient per chain
  and iteration; iterations :math:`= \lceil G / C\rceil`.
- **NUTS** (NumPyro, ``num_chains`` vectorized chains from the first of the same
  initial points, its own warm-up adaptation): the sum of the ``num_steps``
  extra field, warm-up included; the number of draws is set after warm-up from
  the warm-up's late gradient rate so that the total is close to :math:`G`, and
  the chains are continued if the count falls more than 10% short.
- **tempered SMC** (``blackjax.adaptive_tempered_smc`` from the initial law
  :math:`\mathcal N(0, s^2I)` to the target, HMC moves with a diagonal inverse
  mass matrix from the weighted particle variance and a step size updated from
  the acceptance rate with BlackJAX's ``update_scale_from_acceptance_rate``,
  target 0.65; systematic resampling, target ESS 0.5): each tempering step
  costs :math:`N(1 + ML)` gradients (one per particle to initialize the HMC
  state, then :math:`M` HMC moves of :math:`L` leapfrog steps); :math:`M` is
  chosen so that the total is close to :math:`G` (runs spent searching for
  :math:`M` are reported as ``tuning_grad_evals``).
- **persistent sampling** (``blackjax.adaptive_persistent_sampling_smc``, Karamanis et
  al. 2025; not in :data:`SAMPLERS`, run where named): the tempered SMC's HMC moves,
  tuning and budget sizing, BlackJAX's default target ESS (3 :math:`N` over the
  persistent ensemble), draws resampled from the whole ensemble (:func:`run_persistent`).

DilationLangevin's count includes its initialization (the gradient at each starting
point and the first step-size search, in its first iteration's ``num_grad_evals``); the
baselines' initial gradients (one per chain or particle) are not counted, which favours
them by that much. Wall-clock time (``wall_s``) includes JIT compilation for every
sampler (NumPyro's ``MCMC`` compiles inside ``run``); for the samplers compiled here
ahead of time,
``compile_s`` and ``run_s`` are reported separately.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.step_size import dual_averaging_adaptation
from blackjax.smc import extend_params, resampling
from blackjax.smc.tuning.from_kernel_info import update_scale_from_acceptance_rate
from jax import lax
from numpyro.infer import MCMC, NUTS

import numpyro_dilation as nd
from benchmarks.targets import Target

__all__ = [
    "SamplerResult",
    "SAMPLERS",
    "run_dilation",
    "run_annealed_ula",
    "run_mala",
    "run_nuts",
    "run_smc",
    "run_persistent",
]

SAMPLERS = ("DilationLangevin", "annealed ULA", "MALA", "NUTS", "tempered SMC")
"""Display names, in table order."""


@dataclass
class SamplerResult:
    """Output of one sampler run.

    draws
        ``(n, d)`` NumPy array, pooled over chains, sampling space.
    grad_evals
        Gradient evaluations spent (see the module docstring for each sampler).
    wall_s
        Wall-clock seconds, JIT compilation included.
    log_z
        Estimate of :math:`\\log Z` or ``None``.
    settings
        Sizes and tuning parameters actually used.
    num_chains
        ``C`` when ``draws`` are chain-major (``draws.reshape(C, S, d)`` gives each
        chain's draws in order), for per-chain diagnostics; ``None`` otherwise.
    """

    name: str
    draws: np.ndarray
    grad_evals: int
    wall_s: float
    log_z: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    num_chains: int | None = None


def _potential(target: Target):
    logdensity = target.logdensity_fn
    return lambda x: -logdensity(x)


def _aot(fn, *args):
    """Compile ``jit(fn)`` for ``args``; return ``(compiled, seconds)``."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def _keep(buffer: jax.Array, value: jax.Array, index: jax.Array) -> jax.Array:
    """Write ``value`` at ``buffer[index]`` (index clipped to 0 before sampling starts)."""
    return lax.dynamic_update_index_in_dim(buffer, value, jnp.maximum(index, 0), 0)


def _timed(compiled, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - t0


# --------------------------------------------------------------------------- DilationLangevin


def run_dilation(
    target: Target,
    rng_key: jax.Array,
    x0: jax.Array,
    num_warmup: int,
    num_samples: int,
    name: str = "DilationLangevin",
    single_run: bool = False,
    count_warmup_gradients: bool = True,
    **kernel_kwargs,
) -> SamplerResult:
    """``DilationLangevin(potential_fn=..., **kernel_kwargs)`` (default settings unless
    given), ``C = len(x0)`` chains; the result is called ``name``.

    The timed run is ``mcmc.warmup(collect_warmup=True)`` then ``mcmc.run`` (two compiled
    loops: their collections differ in size), whose extra fields count every gradient.
    ``single_run=True``: the timed run is one ``mcmc.run`` (warm-up and draws in one
    compiled loop, as the README runs it; the time a user waits), and the warm-up's
    gradients, which one run does not collect, are counted by an identical, untimed
    ``mcmc.warmup`` from the same key afterwards (the same chains: NumPyro splits the key
    the same way for both). ``count_warmup_gradients=False`` skips that second warm-up (its
    gradients are then not in ``grad_evals``: ``settings["warmup_grad_evals"]`` is ``None``)
    where only the draws, the time and the modes are wanted."""
    num_chains = int(x0.shape[0])
    k_warm, k_run = jax.random.split(rng_key)

    def make_mcmc() -> MCMC:
        return MCMC(
            nd.DilationLangevin(potential_fn=_potential(target), **kernel_kwargs),
            num_warmup=num_warmup,
            num_samples=num_samples,
            num_chains=num_chains,
            chain_method="vectorized",
            progress_bar=False,
        )

    fields = ("num_grad_evals", "accept_prob", "diverging")
    t0 = time.perf_counter()
    mcmc = make_mcmc()
    if single_run:
        mcmc.run(k_warm, init_params=x0, extra_fields=fields)
    else:
        mcmc.warmup(k_warm, init_params=x0, collect_warmup=True, extra_fields=fields)
        warm = mcmc.get_extra_fields()
        mcmc.run(k_run, extra_fields=fields)
    extra = mcmc.get_extra_fields()
    draws = np.asarray(jax.block_until_ready(mcmc.get_samples()))
    wall = time.perf_counter() - t0
    if single_run and count_warmup_gradients:  # untimed: the same warm-up, its gradients
        counter = make_mcmc()
        counter.warmup(k_warm, init_params=x0, collect_warmup=True,
                       extra_fields=("num_grad_evals",))
        warm = counter.get_extra_fields()
    elif single_run:
        warm = None
    grads_warm = None if warm is None else int(np.asarray(warm["num_grad_evals"]).sum())
    grads = (grads_warm or 0) + int(np.asarray(extra["num_grad_evals"]).sum())
    step_size = np.asarray(mcmc.last_state.adapt_state.step_size)
    log_z, log_z_se = _dilation_log_z(mcmc)
    mixture = getattr(mcmc.last_state, "mixture", None)
    blocks = None if mixture is None else mixture.blocks
    return SamplerResult(
        name,
        draws.reshape(-1, target.dim),
        grads,
        wall,
        log_z=log_z,
        num_chains=num_chains,
        settings={
            "log_z_se": log_z_se,
            "num_chains": num_chains,
            "num_warmup": num_warmup,
            "num_samples": num_samples,
            "single_run": single_run,
            "num_annealing_steps": int(mcmc.sampler.num_annealing_steps(num_warmup)),
            "warmup_grad_evals": grads_warm,
            "sampling_grad_evals": grads - (grads_warm or 0),
            "mean_accept_prob": float(np.asarray(extra["accept_prob"]).mean()),
            "divergences": int(np.asarray(extra["diverging"]).sum()),
            "final_step_size_median": float(np.median(step_size)),
            "steps_per_draw": int(np.asarray(mcmc.last_state.adapt_state.steps_per_draw)[0]),
            "num_modes": None if mixture is None else int(mixture.num_modes),
            "active_blocks": None if blocks is None else int(blocks.num_active),
            "num_blocks": None if blocks is None else int(np.max(np.asarray(blocks.labels))) + 1,
        },
    )


def _dilation_log_z(mcmc: MCMC) -> tuple[float | None, float | None]:
    """``numpyro_dilation.log_evidence(mcmc)`` if the package has it and the run made
    global moves, else ``(None, None)``."""
    log_evidence = getattr(nd, "log_evidence", None)
    if log_evidence is None:
        return None, None
    try:
        log_z, se = log_evidence(mcmc)
    except (ValueError, AttributeError):
        return None, None
    return float(log_z), float(se)


# --------------------------------------------------------------------------- paper-faithful ULA


def run_annealed_ula(
    target: Target, rng_key: jax.Array, x0: jax.Array, grad_budget: int, num_samples: int
) -> SamplerResult:
    """The paper's annealed ULA: fixed ``h = target.ula_step_size``, center at the origin.

    ``W`` burn-in iterations of which the first ``K = ceil(W / 2)`` anneal
    (unadjusted, :math:`h_k = h\\lambda_k`, two gradients per level change), the
    rest unadjusted at :math:`\\lambda = 1`, then ``num_samples`` kept
    iterations; ``W = (grad_budget / C - num_samples) / 1.5`` so that the count
    :math:`C(2K + (W - K) + S)` matches the budget.
    """
    num_chains = int(x0.shape[0])
    num_warmup = max(20, int(round((grad_budget / num_chains - num_samples) / 1.5)))
    num_levels = math.ceil(num_warmup / 2)
    algo = nd.dilation_langevin(
        target.logdensity_fn,
        target.ula_step_size,
        num_annealing_steps=num_levels,
        adapt_step_size=False,
        metropolis=False,
        center=jnp.zeros(target.dim, dtype=x0.dtype),
    )

    def run(key, positions):
        state = jax.vmap(algo.init)(positions)
        buffer = jnp.zeros((num_samples,) + positions.shape, positions.dtype)

        def step(carry, key):
            state, buffer, grads, div, i = carry
            state, info = jax.vmap(algo.step)(jax.random.split(key, num_chains), state)
            buffer = _keep(buffer, state.position, i - num_warmup)
            grads = grads + info.num_grad_evals.sum()
            div = div + info.is_divergent.sum()
            return (state, buffer, grads, div, i + 1), None

        zero = jnp.asarray(0)
        carry = (state, buffer, zero, zero, zero)
        keys = jax.random.split(key, num_warmup + num_samples)
        (_, draws, grads, div, _), _ = lax.scan(step, carry, keys)
        return draws, grads, div

    compiled, compile_s = _aot(run, rng_key, x0)
    (draws, grads, div), run_s = _timed(compiled, rng_key, x0)
    return SamplerResult(
        "annealed ULA",
        np.asarray(draws).reshape(-1, target.dim),
        int(grads),
        compile_s + run_s,
        settings={
            "num_chains": num_chains,
            "num_iterations": num_warmup + num_samples,
            "num_warmup": num_warmup,
            "num_annealing_steps": num_levels,
            "num_samples": num_samples,
            "step_size": target.ula_step_size,
            "center": "origin",
            "divergences": int(div),
            "compile_s": compile_s,
            "run_s": run_s,
        },
    )


# --------------------------------------------------------------------------- MALA


def run_mala(
    target: Target,
    rng_key: jax.Array,
    x0: jax.Array,
    grad_budget: int,
    num_samples: int,
    initial_step_size: float = 0.01,
    target_accept_prob: float = 0.574,
) -> SamplerResult:
    """``blackjax.mala`` from ``x0``, ``ceil(grad_budget / C)`` iterations per chain.

    Dual averaging of the (shared) step size on the chain-averaged acceptance
    probability during the burn-in (all iterations but the last
    ``num_samples``), then fixed at the averaged iterate; draws are the last
    ``num_samples`` iterations.
    """
    num_chains = int(x0.shape[0])
    num_iter = max(math.ceil(grad_budget / num_chains), num_samples + 1)
    num_burn = num_iter - num_samples
    kernel = blackjax.mala.build_kernel()
    logdensity = target.logdensity_fn
    da_init, da_update, _ = dual_averaging_adaptation(target_accept_prob)

    def run(key, positions):
        states = jax.vmap(blackjax.mala.init, in_axes=(0, None))(positions, logdensity)

        def step(carry, key):
            states, da, h, i, buffer, acc_sum = carry
            keys = jax.random.split(key, num_chains)
            states, info = jax.vmap(lambda k, s: kernel(k, s, logdensity, h))(keys, states)
            acc = jnp.mean(info.acceptance_rate)
            adapting = i < num_burn
            da = jax.tree.map(lambda a, b: jnp.where(adapting, a, b), da_update(da, acc), da)
            h = jnp.where(
                i + 1 < num_burn,
                jnp.exp(da.log_step_size),
                jnp.where(i + 1 == num_burn, jnp.exp(da.log_step_size_avg), h),
            ).astype(h.dtype)
            buffer = _keep(buffer, states.position, i - num_burn)
            acc_sum = acc_sum + jnp.where(i >= num_burn, acc, 0.0)
            return (states, da, h, i + 1, buffer, acc_sum), None

        h0 = jnp.asarray(initial_step_size, dtype=positions.dtype)
        buffer = jnp.zeros((num_samples,) + positions.shape, positions.dtype)
        zero = jnp.zeros((), positions.dtype)
        carry = (states, da_init(h0), h0, jnp.asarray(0), buffer, zero)
        carry, _ = lax.scan(step, carry, jax.random.split(key, num_iter))
        _, _, h, _, draws, acc_sum = carry
        return draws, acc_sum / num_samples, h

    compiled, compile_s = _aot(run, rng_key, x0)
    (draws, acc, h), run_s = _timed(compiled, rng_key, x0)
    return SamplerResult(
        "MALA",
        np.asarray(draws).reshape(-1, target.dim),
        num_chains * num_iter,
        compile_s + run_s,
        settings={
            "num_chains": num_chains,
            "num_iterations": num_iter,
            "num_samples": num_samples,
            "step_size": float(h),
            "mean_accept_prob": float(acc),
            "compile_s": compile_s,
            "run_s": run_s,
        },
    )


# --------------------------------------------------------------------------- NUTS


def run_nuts(
    target: Target,
    rng_key: jax.Array,
    x0: jax.Array,
    grad_budget: int,
    num_chains: int,
    num_warmup: int,
    min_samples: int = 10,
    tolerance: float = 0.1,
    max_extra_runs: int = 2,
) -> SamplerResult:
    """NumPyro ``NUTS(potential_fn=...)``: ``num_chains`` vectorized chains from ``x0``.

    After warm-up, the number of draws per chain is
    :math:`S = 0.95 (G - G_\\text{warm}) / r` with :math:`r` the gradients per
    iteration (all chains) over the second half of warm-up, at least ``min_samples``.
    If that leaves the count more than ``tolerance`` under the budget, the chains
    are continued (``post_warmup_state = last_state``) for the rest, at most
    ``max_extra_runs`` times (each ``run`` recompiles, which adds wall time).
    """
    k_warm, k_run = jax.random.split(rng_key)
    t0 = time.perf_counter()
    mcmc = MCMC(
        NUTS(potential_fn=_potential(target)),
        num_warmup=num_warmup,
        num_samples=min_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.warmup(
        k_warm, init_params=x0[:num_chains], collect_warmup=True, extra_fields=("num_steps",)
    )
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["num_steps"], dtype=np.int64)
    grads_warm = int(steps.sum())
    rate = float(steps[:, num_warmup // 2 :].sum(axis=0).mean())
    # plan 95% of the rest: sampling trees are often deeper than warm-up ones, and an
    # overspent budget cannot be undone while an underspent one is topped up below
    planned = 0.95 * (grad_budget - grads_warm)
    num_samples = max(min_samples, int(round(planned / max(rate, 1.0))))
    fields = ("num_steps", "accept_prob", "diverging")
    draws, extras, grads = [], [], grads_warm
    for k in jax.random.split(k_run, 1 + max_extra_runs):
        mcmc.num_samples = num_samples
        mcmc.run(k, extra_fields=fields)
        extra = mcmc.get_extra_fields(group_by_chain=True)
        draws.append(np.asarray(jax.block_until_ready(mcmc.get_samples(group_by_chain=True))))
        extras.append({f: np.asarray(extra[f]) for f in fields})
        steps = extras[-1]["num_steps"].astype(np.int64)
        grads += int(steps.sum())
        # under budget by more than `tolerance`: continue the chains for the rest
        rate = float(steps.sum(axis=0).mean())
        num_samples = int(round((grad_budget - grads) / max(rate, 1.0)))
        if grads >= (1.0 - tolerance) * grad_budget or num_samples < 1:
            break
        mcmc.post_warmup_state = mcmc.last_state
    wall = time.perf_counter() - t0
    draws = np.concatenate(draws, axis=1)
    extra = {f: np.concatenate([e[f] for e in extras], axis=1) for f in fields}
    return SamplerResult(
        "NUTS",
        draws.reshape(-1, target.dim),
        grads,
        wall,
        num_chains=num_chains,
        settings={
            "num_chains": num_chains,
            "num_warmup": num_warmup,
            "num_samples": int(draws.shape[1]),
            "sampling_runs": len(extras),
            "warmup_grad_evals": grads_warm,
            "mean_accept_prob": float(np.asarray(extra["accept_prob"]).mean()),
            "divergences": int(np.asarray(extra["diverging"]).sum()),
            "mean_steps_per_iteration": float(extra["num_steps"].mean()),
        },
    )


# --------------------------------------------------------------------------- tempered SMC


def _dynamic_steps_update(
    mcmc_init_fn,
    logposterior_fn,
    shared_mcmc_step_fn,
    num_mcmc_steps,
    n_particles,
    batch_size: int = 0,
):
    """BlackJAX ``update_strategy``: ``num_mcmc_steps`` moves per particle, keep the last.

    Same as ``blackjax.smc.base.update_and_take_last`` except that the number of
    moves may be a traced integer (``fori_loop``), so changing it does not
    recompile, and the info returned is each particle's mean acceptance rate.
    """
    del batch_size

    def move(rng_key, position, step_parameters):
        state = mcmc_init_fn(position, logposterior_fn)

        def body(i, carry):
            state, acc = carry
            state, info = shared_mcmc_step_fn(
                jax.random.fold_in(rng_key, i), state, logposterior_fn, **step_parameters
            )
            return state, acc + info.acceptance_rate

        state, acc = lax.fori_loop(0, num_mcmc_steps, body, (state, jnp.zeros(())))
        return state.position, acc / num_mcmc_steps

    return jax.vmap(move), n_particles


class _SMCCarry(NamedTuple):
    rng_key: jax.Array
    state: Any
    step_size: jax.Array
    log_z: jax.Array
    num_steps: jax.Array
    acc_sum: jax.Array


def _tempering_run(target, num_particles, max_steps, target_accept_prob, algorithm, variance,
                   log_z_after, draws):  # fmt: skip
    """The tempering loop that tempered SMC and persistent sampling share: from
    ``num_particles`` draws of the initial law, steps of ``algorithm(params,
    num_mcmc_steps)`` (a BlackJAX algorithm; ``params`` the HMC step size and the diagonal
    inverse mass matrix ``variance(state)``) until the tempering parameter reaches 1 or
    ``max_steps``, the step size updated from each step's mean acceptance toward
    ``target_accept_prob``; ``log_z_after(log_z, state, info)`` is the running log Z and
    ``draws(key, state)`` the final draws. Returns ``run(rng_key, num_mcmc_steps) -> (draws,
    tempering_steps, log_z, acceptance, final_tempering_param)``."""

    def run(rng_key, num_mcmc_steps):
        k_init, k_loop, k_final = jax.random.split(rng_key, 3)
        particles = target.init_positions(k_init, num_particles)
        init = algorithm({}).init(particles)
        step0 = jnp.asarray(0.5 * target.dim**-0.25, dtype=particles.dtype)

        def cond(c):
            return (c.state.tempering_param < 1.0) & (c.num_steps < max_steps)

        def body(c):
            key, sub = jax.random.split(c.rng_key)
            var = jnp.maximum(variance(c.state), 1e-12)
            params = extend_params({"step_size": c.step_size, "inverse_mass_matrix": var})
            state, info = algorithm(params, num_mcmc_steps).step(sub, c.state)
            acc = jnp.mean(info.update_info)
            step_size = update_scale_from_acceptance_rate(c.step_size, acc, target_accept_prob)
            return _SMCCarry(key, state, step_size.astype(c.step_size.dtype),
                             log_z_after(c.log_z, state, info), c.num_steps + 1,
                             c.acc_sum + acc)  # fmt: skip

        zero = jnp.zeros((), dtype=particles.dtype)
        carry = _SMCCarry(k_loop, init, step0, zero, jnp.asarray(0), zero)
        c = lax.while_loop(cond, body, carry)
        return (
            draws(k_final, c.state),
            c.num_steps,
            c.log_z,
            c.acc_sum / jnp.maximum(c.num_steps, 1),
            c.state.tempering_param,
        )

    return run


def _loglikelihood(target: Target):
    """The tempered part, log gamma minus the (normalized) initial law's log-density."""
    return lambda x: target.logdensity_fn(x) - target.init_logdensity(x)


def _hmc_step(num_integration_steps: int):
    return partial(blackjax.hmc.build_kernel(), num_integration_steps=num_integration_steps)


def _build_smc(
    target: Target,
    num_particles: int,
    num_integration_steps: int,
    target_ess: float,
    max_tempering_steps: int,
    target_accept_prob: float = 0.65,
):
    """BlackJAX adaptive tempered SMC in :func:`_tempering_run`: the mass matrix from the
    weighted particles' variance, draws resampled from the final weighted particles."""
    hmc_step = _hmc_step(num_integration_steps)

    def algorithm(params, num_mcmc_steps=1):
        return blackjax.adaptive_tempered_smc(
            target.init_logdensity, _loglikelihood(target), hmc_step, blackjax.hmc.init,
            params, resampling.systematic, target_ess, num_mcmc_steps=num_mcmc_steps,
            update_strategy=_dynamic_steps_update,
        )  # fmt: skip

    def variance(state):
        x, w = state.particles, state.weights
        return w @ (x - w @ x) ** 2

    def draws(key, state):
        return state.particles[resampling.systematic(key, state.weights, num_particles)]

    return _tempering_run(
        target, num_particles, max_tempering_steps, target_accept_prob, algorithm, variance,
        lambda log_z, state, info: log_z + info.log_likelihood_increment, draws,
    )  # fmt: skip


def run_smc(
    target: Target,
    rng_key: jax.Array,
    grad_budget: int,
    num_particles: int,
    num_integration_steps: int = 5,
    target_ess: float = 0.5,
    max_tempering_steps: int = 1000,
    guess_tempering_steps: int = 20,
    max_attempts: int = 4,
    tolerance: float = 0.1,
) -> SamplerResult:
    """Adaptive tempered SMC sized to ``grad_budget`` (see the module docstring).

    ``num_mcmc_steps`` :math:`M` is first set from a guess of the number of
    tempering steps :math:`T`, then corrected from the observed :math:`T` until
    the count is within ``tolerance`` of the budget (at most ``max_attempts``
    runs); if even :math:`M = 1` overspends, the number of particles is reduced.
    """

    def build(n):
        return _build_smc(target, n, num_integration_steps, target_ess, max_tempering_steps)

    return _sized_tempering("tempered SMC", target, build, rng_key, grad_budget, num_particles,
                            num_integration_steps, target_ess, guess_tempering_steps,
                            max_attempts, tolerance)  # fmt: skip


def _sized_tempering(name, target, build, rng_key, grad_budget, num_particles, L, target_ess,
                     guess_tempering_steps, max_attempts, tolerance) -> SamplerResult:  # fmt: skip
    """Run the tempering sampler ``build(n)`` (a function ``(rng_key, num_mcmc_steps) ->
    (draws, tempering_steps, log_z, acceptance, final_tempering_param)`` for ``n``
    particles), its number of MCMC moves per step sized to ``grad_budget`` (see
    :func:`run_smc`)."""

    def steps_for(num_steps, n):
        return max(1, int(round((grad_budget / (num_steps * n) - 1.0) / L)))

    n = num_particles
    m = steps_for(guess_tempering_steps, n)
    compiled_for: dict[int, Any] = {}
    tuning_grads, tuning_wall = 0, 0.0
    history = []
    for attempt in range(max_attempts):
        if n not in compiled_for:
            compiled_for[n] = _aot(build(n), rng_key, jnp.asarray(m))
        compiled, compile_s = compiled_for[n]
        out, run_s = _timed(compiled, rng_key, jnp.asarray(m))
        draws, num_steps, log_z, acc, beta = out
        num_steps = int(num_steps)
        grads = num_steps * n * (1 + m * L)
        history.append({"particles": n, "mcmc_steps": m, "tempering_steps": num_steps,
                        "grad_evals": grads})
        if abs(grads / grad_budget - 1.0) <= tolerance or attempt == max_attempts - 1:
            break
        new_m = steps_for(num_steps, n)
        if new_m == 1 and num_steps * n * (1 + L) > (1 + tolerance) * grad_budget:
            new_n = max(32, int(n * grad_budget / (num_steps * n * (1 + L))) // 8 * 8)
            if new_n == n:
                break
            n, new_m = new_n, 1
        elif new_m == m:
            break
        tuning_grads += grads
        tuning_wall += run_s
        m = new_m
    return SamplerResult(
        name,
        np.asarray(draws).reshape(-1, target.dim),
        grads,
        compile_s + run_s,
        log_z=float(log_z) + 0.0,
        settings={
            "num_particles": n,
            "num_mcmc_steps": m,
            "num_integration_steps": L,
            "tempering_steps": num_steps,
            "final_tempering_param": float(beta),
            "target_ess": target_ess,
            "mean_accept_prob": float(acc),
            "tuning_grad_evals": tuning_grads,
            "tuning_wall_s": tuning_wall,
            "budget_search": history,
            "compile_s": compile_s,
            "run_s": run_s,
        },
    )


# --------------------------------------------------------------------------- persistent sampling


def _build_persistent(
    target: Target,
    num_particles: int,
    num_integration_steps: int,
    target_ess: float,
    max_iterations: int,
    target_accept_prob: float = 0.65,
):
    """BlackJAX adaptive persistent sampling in :func:`_tempering_run`, with the tempered
    SMC's HMC moves and tuning (the mass matrix from the current iteration's unweighted
    particles); the final draws are resampled from the whole persistent ensemble with its
    weights at :math:`\\lambda = 1`."""
    hmc_step = _hmc_step(num_integration_steps)

    def algorithm(params, num_mcmc_steps=1):
        return blackjax.adaptive_persistent_sampling_smc(
            target.init_logdensity, _loglikelihood(target), max_iterations, hmc_step,
            blackjax.hmc.init, params, resampling.systematic, target_ess,
            num_mcmc_steps=num_mcmc_steps, update_strategy=_dynamic_steps_update,
        )  # fmt: skip

    def draws(key, state):
        weights = state.persistent_weights.reshape(-1)
        idx = resampling.systematic(key, weights / jnp.sum(weights), num_particles)
        return state.persistent_particles.reshape(-1, target.dim)[idx]

    return _tempering_run(
        target, num_particles, max_iterations, target_accept_prob, algorithm,
        lambda state: jnp.var(state.particles, axis=0),
        lambda log_z, state, info: state.log_Z, draws,
    )  # fmt: skip


def run_persistent(
    target: Target,
    rng_key: jax.Array,
    grad_budget: int,
    num_particles: int,
    num_integration_steps: int = 5,
    target_ess: float = 3.0,
    max_iterations: int = 100,
    guess_tempering_steps: int = 20,
    max_attempts: int = 4,
    tolerance: float = 0.1,
) -> SamplerResult:
    """BlackJAX adaptive persistent sampling (Karamanis et al. 2025,
    ``blackjax.adaptive_persistent_sampling_smc``) sized to ``grad_budget`` as
    :func:`run_smc` sizes tempered SMC: the same HMC moves (``num_integration_steps``
    leapfrog steps, diagonal mass matrix from the current particles' variance, step size
    tuned toward acceptance 0.65), systematic resampling, BlackJAX's default target ESS
    of 3 (in units of ``num_particles``: the persistent ensemble's ESS may exceed
    :math:`N`), at most ``max_iterations`` tempering steps (preallocated). Each step costs
    :math:`N(1 + ML)` gradients. Draws: ``num_particles`` resampled from the persistent
    ensemble (every iteration's particles) with its weights at :math:`\\lambda = 1`;
    :math:`\\log Z` is the ensemble's estimate."""

    def build(n):
        return _build_persistent(target, n, num_integration_steps, target_ess, max_iterations)

    return _sized_tempering("persistent sampling", target, build, rng_key, grad_budget,
                            num_particles, num_integration_steps, target_ess,
                            guess_tempering_steps, max_attempts, tolerance)  # fmt: skip
