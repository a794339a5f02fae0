r"""Where chains start: the pilot-box start (``DilationLangevin(start=Pilot())``).

Each chain anneals from the Dirac at its own center, so the chains' starting points
decide which modes the annealing reaches (DESIGN.md §3, BENCHMARKS.md "Robust
defaults"). A fixed box such as NumPyro's ``init_to_uniform`` (:math:`[-2, 2]^d` in
unconstrained space) knows nothing of the posterior's location or scale: a target
moved 50 units away is reached from one side only, and the nearer, wider mode takes
the weight.

The pilot-box start asks a short pilot instead. :math:`M` chains anneal from the
initial points (``init_params`` or the init strategy's) for a fraction of the
warm-up; their final positions :math:`y_1, \dots, y_M` (shape ``(M, d)``) span the
region where the posterior has mass. The run's chains then start, each with its
own center, at

.. math::

    x_c \sim \mathcal U\big([\ell - w(u - \ell),\; u + w(u - \ell)]\big),
    \qquad \ell_i = \min_m y_{m,i}, \quad u_i = \max_m y_{m,i},

independently per chain :math:`c` and coordinate :math:`i`: the particles' bounding
box widened by :math:`w` (25%) of its width on each side. The box adapts to the
posterior's location and per-coordinate scale, and surrounds every mode the pilot
reached, so chains approach each mode from all sides.

A share :math:`k` (``keep``, one half) of the chains keeps its initial point instead,
as with ``start=None``. The box holds only what the pilot's :math:`M` particles reached,
and with many chains the run's own per-chain centers find modes that :math:`M` pilot
chains miss (measured: a 50-d two-mode target, 256 chains, where a box for every chain
lost the narrow mode and per-chain centers found it); the modes found by either half
enter the global moves' mixture, so a mode is lost only if both halves miss it.

Measured (``python -m benchmarks.robustness --sections strategies`` and ``--sections
pilot``, 500 chains): of the start strategies that adapt to the posterior's scale,
only the pilot boxes reached every mode of every target in 2 and 10 dimensions
(mode-weight TV <= 0.011), and this built-in one found both modes of the 10-d
two-mode target moved 50 units in 2 of 5 runs (4 of 5 with ``keep=0``; per-chain
centers: 0 of 5) and all 40 modes of the 40-mode mixture in 2 of 2 (per-chain
centers: 0 of 2). The box
must stay narrow in high dimension, where uniform draws in a wide box lie far from
every mode and the wider mode's basin takes them all: on a 50-d two-mode target with
128 chains, widening by 100% lost the narrow mode; 25% (the default) found both. See
BENCHMARKS.md and the user guide ("The center").

The pilot runs the run's algorithm, global moves included, but not the U-turn explorer:
with and without it the pilot box found the same modes in every measured run (the targets
below and GMM-40, 18 runs), and without it the pilot costs half the gradients and compiles
faster (BENCHMARKS.md, "The pilot's global moves"). ``Pilot(global_moves=False)`` anneals
only: a smaller program (eight schools: ``init`` in 15.4-20.5 s against the default's 23.2 s
on a 2-core CPU) and half the pilot's gradients, but its box found fewer modes: the 10-d
two-mode target moved 50 units, both modes in 2 of 10 runs against 3 of 10, and the 50-d
two-mode target from :math:`\mathcal N(0, 9I)` starts with 128 chains, one mode lost where
the default found both (BENCHMARKS.md, "The pilot's global moves"). The pilot's
initialization runs on all :math:`C` chains, so the run's own initialization reuses the
compiled program.

It is the kernel's default start (``start="auto"``) in vectorized runs with per-chain
centers and at least 256 chains (:data:`~numpyro_dilation.run_plan.AUTO_PILOT_MIN_CHAINS`),
where its 64 pilot chains are at most a quarter of the run's.

This module holds the settings, the pure array functions and :func:`pilot_starts`, which
runs the pilot (the population algorithm) and draws the starts.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.types import PRNGKey
from jax import lax, random

from numpyro_dilation.batching import map_items
from numpyro_dilation.population import population_step
from numpyro_dilation.population_settings import PopulationSettings
from numpyro_dilation.population_state import assemble_state, init_chains, ravel_chains

__all__ = ["Pilot", "bounding_box", "uniform_in_box", "check_pilot", "pilot_starts"]


class Pilot(NamedTuple):
    r"""Settings of the pilot-box start (see the module docstring).

    num_chains
        :math:`M`, pilot chains (the first :math:`\min(M, C)` of the :math:`C`
        initial points start them).
    warmup_fraction
        The pilot's warm-up (annealing included, no draws) is this fraction of the
        run's ``num_warmup`` (at least 40 iterations).
    widen
        :math:`w`, the box is widened by this fraction of its width on each side.
    keep
        :math:`k`, share of the chains (the last :math:`\lfloor kC \rfloor`) that start
        at their own initial points instead of in the box, in [0, 1).
    global_moves
        Whether the pilot runs the run's global moves too (mode finding included; the
        pilot never runs the U-turn explorer). Its mode finding also ascends from the
        pilot chains' centers contracted towards their mean, so the box can hold a mode
        that no pilot chain annealed into. ``False``: the pilot anneals only, a smaller
        program that compiles a few seconds faster and costs half the gradients, but it found fewer
        modes where a mode lies far from the initial points (BENCHMARKS.md, "The pilot's
        global moves").

    **Example**

    .. code-block:: python

        from numpyro_dilation import DilationLangevin, Pilot

        kernel = DilationLangevin(potential_fn=lambda z: 0.5 * (z**2).sum(),
                                  start=Pilot(num_chains=128))  # a larger pilot
        print(Pilot())  # Pilot(num_chains=64, warmup_fraction=0.5, widen=0.25, keep=0.5,
                        #       global_moves=True)
    """

    num_chains: int = 64
    warmup_fraction: float = 0.5
    widen: float = 0.25
    keep: float = 0.5
    global_moves: bool = True


def check_pilot(pilot: Pilot) -> None:
    """Raise ``ValueError`` naming the first invalid field of ``pilot``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.starts import Pilot, check_pilot

        check_pilot(Pilot())  # valid: returns None
        try:
            check_pilot(Pilot(num_chains=1))
        except ValueError as err:
            print(err)  # `Pilot.num_chains` must be an integer >= 2, got 1.
    """
    checks = {
        "num_chains": isinstance(pilot.num_chains, int)
        and not isinstance(pilot.num_chains, bool)
        and pilot.num_chains >= 2,
        "warmup_fraction": isinstance(pilot.warmup_fraction, (int, float))
        and 0 < pilot.warmup_fraction <= 1,
        "widen": isinstance(pilot.widen, (int, float)) and pilot.widen >= 0,
        "keep": isinstance(pilot.keep, (int, float)) and 0 <= pilot.keep < 1,
        "global_moves": isinstance(pilot.global_moves, bool),
    }
    allowed = {
        "num_chains": "an integer >= 2",
        "warmup_fraction": "in (0, 1]",
        "widen": ">= 0",
        "keep": "in [0, 1)",
        "global_moves": "True or False",
    }
    for name, ok in checks.items():
        if not ok:
            raise ValueError(
                f"`Pilot.{name}` must be {allowed[name]}, got {getattr(pilot, name)!r}."
            )


def bounding_box(particles: jax.Array, widen: float) -> tuple[jax.Array, jax.Array]:
    r"""The particles' bounding box widened by ``widen`` of its width on each side.

    ``particles``: shape ``(M, d)``. Returns ``(lower, upper)``, each ``(d,)``:
    :math:`\ell - w(u - \ell)` and :math:`u + w(u - \ell)` with :math:`\ell, u` the
    coordinate-wise minimum and maximum. Non-finite particles are ignored.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.starts import bounding_box

        lo, hi = bounding_box(jnp.array([[0.0, 1.0], [4.0, 3.0]]), 0.25)
        print(lo, hi)  # [-1.  0.5] [5.  3.5]
    """
    finite = jnp.all(jnp.isfinite(particles), axis=1, keepdims=True)
    lo = jnp.min(jnp.where(finite, particles, jnp.inf), axis=0)
    hi = jnp.max(jnp.where(finite, particles, -jnp.inf), axis=0)
    pad = widen * (hi - lo)
    return lo - pad, hi + pad


def uniform_in_box(
    rng_key: PRNGKey, lower: jax.Array, upper: jax.Array, num_points: int
) -> jax.Array:
    """``num_points`` independent uniform draws in the box, shape ``(num_points, d)``.

    **Example**

    .. code-block:: python

        import jax, jax.numpy as jnp
        from numpyro_dilation.starts import uniform_in_box

        x = uniform_in_box(jax.random.key(0), jnp.array([-1.0, 0.5]), jnp.array([5.0, 3.5]), 3)
        print(x.shape)  # (3, 2), every row inside [-1, 5] x [0.5, 3.5]
    """
    u = jax.random.uniform(rng_key, (num_points,) + jnp.shape(lower), dtype=lower.dtype)
    return lower + u * (upper - lower)


def pilot_starts(
    rng_key: PRNGKey,
    pilot: Pilot,
    init_params,
    logdensity_fn: Callable,
    settings: PopulationSettings,
    step_size: float | None = None,
) -> tuple:
    r"""The pilot-box start: run the population algorithm
    (:mod:`numpyro_dilation.population`, with ``settings``, whose warm-up length is the
    pilot's) on :math:`\min(M, C)` pilot chains (:math:`M` = ``pilot.num_chains``) from
    the first initial points (per-chain centers), then draw the first
    :math:`C - \lfloor kC \rfloor` initial points uniformly in the pilot particles'
    widened bounding box (the last
    :math:`\lfloor kC \rfloor`, ``keep``, stay). A draw where the log-density is not
    finite (outside a bounded support) is replaced by a pilot particle.

    ``init_params``: the :math:`C` chains' initial points (leading axis: chains). Returns
    ``(init_params, grads)``: the new initial points and, per chain, the pilot's gradients
    (its steps, and the initialization of all :math:`C` chains, from which it takes its
    first :math:`M`: the run's own initialization then reuses that compiled program)
    spread over the :math:`C` chains (rounded up) plus one for the log-density check at
    each chain's draw. Keys and initial points are arguments of one compiled program, so
    the pilot compiles once for every run of the same shapes.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population_settings import make_settings
        from numpyro_dilation.starts import Pilot, pilot_starts

        logdensity = lambda x: -0.5 * jnp.sum((x - 20.0) ** 2)  # far from the starts
        settings = make_settings(40, 2)
        starts, grads = pilot_starts(
            jax.random.key(0), Pilot(num_chains=16), jnp.zeros((64, 2)), logdensity, settings
        )
        print(starts[:32].mean(axis=0))  # about [20, 20]: the box around the pilot particles
        print(starts[32:].mean(axis=0))  # [0. 0.]: the last half (keep=0.5) stays
    """
    flat, unravel_one = ravel_chains(init_params)
    num_chains = flat.shape[0]
    m = min(num_chains, pilot.num_chains)
    num_kept = int(pilot.keep * num_chains)
    k_init, k_box, k_fallback = random.split(rng_key, 3)
    # each chain's key split as the NumPyro kernel's init splits it (state, model, step size)
    keys = jax.vmap(lambda k: random.split(k, 3))(random.split(k_init, num_chains))
    # initialized on all C chains, the pilot's first M taken: the run's own initialization
    # then calls the same compiled program (population_state.init_chains)
    astate, grads = init_chains(
        init_params, logdensity_fn, keys[:, 2], settings, step_size=step_size
    )
    init_grads = jnp.sum(grads[m:])  # the pilot's own M count in its state's grads
    astate, grads = jax.tree.map(lambda x: x[:m], (astate, grads))
    state = assemble_state(astate, grads, keys[:m, 0], settings, True)
    one_at_a_time = settings.one_chain_at_a_time

    def body(carry, _):
        state, grads = carry
        state = population_step(state, logdensity_fn, settings)
        return (state, grads + jnp.sum(state.num_grad_evals)), None

    @jax.jit
    def run(state, k_box, k_fallback, flat, init_grads):
        carry = (state, init_grads.astype(jnp.int32))
        length = settings.config.num_adaptation_steps
        state, grads = lax.scan(body, carry, None, length=length)[0]
        particles = ravel_chains(state.z)[0]
        lower, upper = bounding_box(particles, pilot.widen)
        starts = uniform_in_box(k_box, lower, upper, num_chains).astype(flat.dtype)
        at_starts = map_items(lambda v: logdensity_fn(unravel_one(v)), one_at_a_time)
        finite = jnp.isfinite(at_starts(starts))
        fallback = particles[random.randint(k_fallback, (num_chains,), 0, m)]
        starts = jnp.where(finite[:, None], starts, fallback.astype(flat.dtype))
        kept = jnp.arange(num_chains) >= num_chains - num_kept
        starts = jnp.where(kept[:, None], flat, starts)
        per_chain = (grads + num_chains - 1) // num_chains + 1
        return jax.vmap(unravel_one)(starts), per_chain.astype(jnp.int32)

    return run(state, k_box, k_fallback, flat, init_grads)
