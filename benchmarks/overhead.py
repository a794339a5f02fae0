r"""Where DilationLangevin's time per gradient goes, one feature at a time.

    python -m benchmarks.overhead [--target gauss_mix_unordered] [--chains 128]
                                  [--warmup 400] [--samples 100]
    python -m benchmarks.overhead --layers [--target gauss_mix_unordered] [--chains 128]
    python -m benchmarks.overhead --numpyro [--target gauss_mix_unordered] [--chains 128]

Times the NumPyro kernel's ``sample`` in a jitted ``lax.scan`` (as
:func:`benchmarks.throughput.measure` does) with features switched off one after the
other, next to the bare ``vmap(grad)`` scan doing the same number of counted
gradients per chain. A ratio that grows when a feature is on, beyond the gradients
it counts, is work that ``num_grad_evals`` does not show.

``--layers``: time per transition at :math:`\lambda = 1` of each layer alone, in a
jitted loop of ``--samples`` iterations, against the bare scan: the MALA kernel
(:func:`numpyro_dilation.kernel.build_kernel`), the annealing step with dual averaging
(:func:`numpyro_dilation.annealing.annealing_step`, after its warm-up), and the
population's sampling iterations (``global_moves=None, uturn=None,
adapt_mass_matrix=False``) with one transition per draw and with four (a loop of
transitions inside the iteration), the latter also called once per iteration from Python
(as NumPyro's ``MCMC`` runs its kernel with the progress bar, the default); and the bare
scan with its gradients four to an iteration of an inner loop of run-time length (what
any loop of transitions inside a jitted loop compiles to: XLA's while-loop-invariant code
motion can make the log-density slower there, section "Time per gradient, layer by
layer" of BENCHMARKS.md). Best of 5 interleaved calls each.

``--numpyro``: the draws as a user gets them, per counted gradient: ``MCMC`` with
NumPyro's progress bar (the default: one call of the compiled iteration per draw from
Python), ``mcmc.warmup`` once, then ``mcmc.run`` from the post-warm-up state, best of 3
calls (none compiles), against the bare scan doing the same gradients per chain; with the
defaults, with 8 transitions per draw, and without global moves. This includes NumPyro's
own per-iteration work (the collection of draws, the progress bar). Beside it, the same
draws from the same state with the kernel's ``sample`` in one jitted ``fori_loop`` (best of
3): the sampler's own work per gradient, without NumPyro's one call per draw.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

import numpyro_dilation as nd
from benchmarks import throughput
from benchmarks.targets import get_target

CONFIGS = {
    "defaults": {},
    "uturn=None": {"uturn": None},
    "global_moves=None": {"global_moves": None, "uturn": None},
    "global_moves=None, adapt_mass_matrix=False": {
        "global_moves": None,
        "uturn": None,
        "adapt_mass_matrix": False,
    },
}


def layers(target, num_chains: int, num_iterations: int) -> None:
    """Print the ``--layers`` table (see the module docstring)."""
    import time

    import jax.numpy as jnp
    from jax import lax

    from numpyro_dilation import kernel as dilation_kernel
    from numpyro_dilation.annealing import AnnealingConfig, annealing_init, annealing_step
    from numpyro_dilation.population import population_sampler

    ld, n = target.logdensity_fn, num_iterations
    x0 = target.init_positions(jax.random.key(0), num_chains)
    v = jnp.ones(x0.shape[1])
    mala = dilation_kernel.build_kernel()
    config = AnnealingConfig(levels=(), num_adaptation_steps=0)

    def per_chain_loop(init_one, step_one):
        def run(x0):
            states = jax.vmap(init_one)(x0)

            def body(carry, _):
                s, keys = carry
                ks = jax.vmap(jax.random.split)(keys)
                return (jax.vmap(step_one)(ks[:, 1], s)[0], ks[:, 0]), None

            keys = jax.random.split(jax.random.key(3), num_chains)
            return lax.scan(body, (states, keys), None, length=n)[0]

        return run, (x0,), 1

    def population(steps_per_draw):
        algo = population_sampler(ld, 60, global_moves=None, uturn=None,
                                  adapt_mass_matrix=False, steps_per_draw=steps_per_draw)
        step = lambda s: algo.step(jax.random.key(0), s)[0]  # noqa: E731
        warm = jax.jit(lambda s: lax.fori_loop(0, 60, lambda i, s: step(s), s))
        state = warm(algo.init(x0, jax.random.key(1)))
        loop = lambda s: lax.fori_loop(0, n, lambda i, s: step(s), s)  # noqa: E731
        return loop, (state,), steps_per_draw, step

    def bare_nested(per_draw):
        # the bare gradients, ``per_draw`` of them in a loop of dynamic length inside the
        # outer loop: what any sampler with a run-time draw length compiles to
        grad = jax.vmap(jax.grad(ld))

        def run(x, k):
            inner = lambda x: lax.fori_loop(0, k, lambda i, y: y + 1e-6 * grad(y), x)  # noqa: E731
            return lax.scan(lambda x, _: (inner(x), None), x, None, length=n // per_draw)[0]

        return run, (x0, jnp.int32(per_draw)), 1  # n gradients in all, as the flat scan

    pop4 = population(4)
    # label: (program, its arguments, transitions per iteration of its n)
    programs = {
        "bare `vmap(grad)` scan": (throughput.bare_gradient_loop(ld, n), (x0,), 1),
        "MALA kernel (`kernel.build_kernel`)": per_chain_loop(
            lambda y: dilation_kernel.init(y, ld),
            lambda k, s: mala(k, s, ld, 1.0, 0.05, inverse_mass_matrix=v)),
        "annealing step with dual averaging (`annealing_step`)": per_chain_loop(
            lambda y: annealing_init(y, ld, config, step_size=0.05),
            lambda k, s: annealing_step(k, s, ld, config, v)),
        "population, `steps_per_draw=1`": population(1)[:3],
        "population, `steps_per_draw=4` (per transition)": pop4[:3],
        "bare scan, 4 gradients per outer iteration in an inner loop": bare_nested(4),
    }
    compiled = {k: (jax.jit(f).lower(*a).compile(), a, per) for k, (f, a, per) in programs.items()}
    # the population's iteration called from Python, once per draw, as NumPyro's ``MCMC``
    # runs it with its progress bar (the default): no outer loop in the program
    _, (state4,), _, step4 = pop4
    one_iteration = jax.jit(step4)

    def from_python(s):
        for _ in range(n):
            s = one_iteration(s)
        return s

    compiled["population, `steps_per_draw=4`, one iteration per call from Python "
             "(per transition)"] = (from_python, (state4,), 4)
    best = {k: np.inf for k in compiled}
    for _ in range(5):
        for k, (c, a, per) in compiled.items():
            jax.block_until_ready(c(*a))
            t = time.perf_counter()
            jax.block_until_ready(c(*a))
            best[k] = min(best[k], (time.perf_counter() - t) / per)
    bare = best["bare `vmap(grad)` scan"]
    print("| layer | us per transition | ratio to the bare scan |")
    print("|---|---|---|")
    for k, t in best.items():
        print(f"| {k} | {t / n * 1e6:.0f} | {t / bare:.2f} |")


NUMPYRO_CONFIGS = {
    "defaults": {},
    "`steps_per_draw=8`": {"steps_per_draw": 8},
    "`global_moves=None`": {"global_moves": None},
}


def numpyro_way(target, num_chains: int, num_warmup: int, num_samples: int) -> None:
    """Print the ``--numpyro`` table (see the module docstring)."""
    import time

    from jax import lax
    from numpyro.infer import MCMC

    x0 = target.init_positions(jax.random.key(0), num_chains)
    print("| configuration | transitions per draw | gradients per chain | `mcmc.run` s (best of 3) "
          "| the same draws in one compiled loop s | bare s | ratio | ratio, one compiled loop |")
    print("|---|---|---|---|---|---|---|---|")
    for name, kwargs in NUMPYRO_CONFIGS.items():
        kernel = nd.DilationLangevin(potential_fn=lambda x: -target.logdensity_fn(x), **kwargs)
        mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples,
                    num_chains=num_chains, chain_method="vectorized", progress_bar=True)
        mcmc.warmup(jax.random.key(1), init_params=x0)
        warm = mcmc.post_warmup_state = mcmc.last_state
        best = np.inf
        for _ in range(3):  # the first call compiles nothing: the iteration is the warm-up's
            mcmc.post_warmup_state = warm
            t = time.perf_counter()
            mcmc.run(jax.random.key(2), init_params=x0, extra_fields=("num_grad_evals",))
            jax.block_until_ready(mcmc.last_state)
            best = min(best, time.perf_counter() - t)
        per_chain = int(np.asarray(mcmc.get_extra_fields()["num_grad_evals"]).sum()) // num_chains
        steps = int(np.max(np.asarray(mcmc.last_state.adapt_state.steps_per_draw)))
        # the same draws from the same state, the kernel's ``sample`` in one jitted loop:
        # what is left is NumPyro's loop of one compiled call per draw
        draws = lambda s, k=kernel: lax.fori_loop(  # noqa: E731
            0, num_samples, lambda i, s: k.sample(s, (), {}), s)
        _, _, loop_s = throughput.time_compiled(draws, warm, repeats=3)
        bare = throughput.bare_gradient_loop(target.logdensity_fn, per_chain)
        _, _, bare_s = throughput.time_compiled(bare, x0, repeats=3)
        print(f"| {name} | {steps} | {per_chain:,} | {best:.2f} | {loop_s:.2f} | {bare_s:.2f} | "
              f"{best / bare_s:.2f} | {loop_s / bare_s:.2f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="gauss_mix_unordered")
    parser.add_argument("--chains", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=400)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--layers", action="store_true", help="time each layer alone")
    parser.add_argument("--numpyro", action="store_true",
                        help="time the draws of `mcmc.run` as the README runs it")
    args = parser.parse_args(argv)
    target = get_target(args.target)
    if args.layers:
        layers(target, args.chains, 4 * args.samples)
        return
    if args.numpyro:
        numpyro_way(target, args.chains, args.warmup, args.samples)
        return
    x0 = target.init_positions(jax.random.key(0), args.chains)
    print("| configuration | counted gradients per chain | DL s | bare s | ratio |")
    print("|---|---|---|---|---|")
    for name, kwargs in CONFIGS.items():
        kernel = nd.DilationLangevin(potential_fn=lambda x: -target.logdensity_fn(x), **kwargs)
        keys = jax.random.split(jax.random.key(1), args.chains)
        state = jax.block_until_ready(kernel.init(keys, args.warmup, x0, (), {}))
        loop = throughput.dilation_kernel_loop(kernel, args.warmup, args.samples)
        (_, grads), _, dl_s = throughput.time_compiled(loop, state, repeats=2)
        per_chain = int(round(int(grads) / args.chains))
        bare = throughput.bare_gradient_loop(target.logdensity_fn, per_chain)
        _, _, bare_s = throughput.time_compiled(bare, x0, repeats=2)
        print(f"| {name} | {per_chain:,} | {dl_s:.2f} | {bare_s:.2f} | {dl_s / bare_s:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
