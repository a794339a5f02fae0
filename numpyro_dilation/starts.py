r"""Where chains start: the pilot-box start (``DilationLangevin(start=Pilot())``).

Each chain anneals from the Dirac at its own center, so the chains' starting points
decide which modes the annealing reaches (DESIGN.md §3, BENCHMARKS.md "Robust
defaults"). A fixed box such as NumPyro's ``init_to_uniform`` (:math:`[-2, 2]^d` in
unconstrained space) knows nothing of the posterior's location or scale: a target
moved 50 units away is reached from one side only, and the nearer, wider mode takes
the weight.

The pilot-box start asks a pilot instead. The warm-up of :math:`W` iterations is two
passes of one schedule (:func:`pilot_split`): the **pilot pass**, the first
:math:`P = \lceil W/2\rceil - 1` iterations, in which all :math:`C` chains run the
population algorithm from their initial points (``init_params`` or the init strategy's;
annealing, preconditioner updates, mode finding and global moves, as the run's warm-up of
:math:`W_r = \lfloor W/2\rfloor + 1` iterations has them up to its iteration :math:`P`),
and the **run pass**, :math:`W_r` iterations from fresh starts. Between them the final
positions :math:`y_1, \dots, y_M` of the first :math:`M` chains (``Pilot.num_chains``;
shape ``(M, d)``) span the region where the posterior has mass, and the chains restart,
each with its own center, at

.. math::

    x_c \sim \mathcal U\big([\ell - w(u - \ell),\; u + w(u - \ell)]\big),
    \qquad \ell_i = \min_m y_{m,i}, \quad u_i = \max_m y_{m,i},

independently per chain :math:`c` and coordinate :math:`i`: the particles' bounding
box widened by :math:`w` (25%) of its width on each side. The box adapts to the
posterior's location and per-coordinate scale, and surrounds every mode the pilot
reached, so chains approach each mode from all sides.

A share :math:`k` (``keep``, one half) of the chains restarts at its initial point instead,
as with ``start=None``. The box holds only what the pilot's :math:`M` particles reached,
and with many chains the run's own per-chain centers find modes that :math:`M` pilot
chains miss (measured: a 50-d two-mode target, 256 chains, where a box for every chain
lost the narrow mode and per-chain centers found it); the modes found by either half
enter the global moves' mixture, so a mode is lost only if both halves miss it.

**One program.** Both passes are iterations of the run's own compiled loop: the restart
(:func:`restart_in_box`: the box, the new starts, the chains' initialization) is a branch
taken once, at the pilot pass's end, and the pilot pass runs the run's step with the run's
settings. The pilot compiles nothing of its own (an earlier pilot ran 64 chains for
:math:`W/2` iterations *before* a warm-up of :math:`W`, in a second program as large as the
run's: 8-9 s of compilation on a 2-core CPU; BENCHMARKS.md, "The pilot pass").

Measured (``python -m benchmarks.robustness --sections strategies`` and ``--sections
pilot``, 500 chains): of the start strategies that adapt to the posterior's scale,
only the pilot boxes reached every mode of every target in 2 and 10 dimensions
(mode-weight TV <= 0.011); the pilot box found all 40 modes of the 40-mode mixture
(per-chain centers: 0 of 2), and, as the pilot pass, both modes of the 10-d two-mode target
moved 50 units in 10 of 10 runs (``python -m benchmarks.pilot_moves``; per-chain centers: 6
of 10), found by the pilot pass's wide starts or, in one run, their second try in the run
pass
(:mod:`~numpyro_dilation.population_modes`); without them 0 of 10 (the explorer from 64
chains reaches the hidden mode in none), 4 of 10 with the explorer from every chain. The box
must stay narrow in high dimension, where uniform draws in a wide box lie far from every mode
and the wider mode's basin takes them all: on a 50-d two-mode target with 128 chains,
widening by 100% lost the narrow mode; 25% (the default) found both. See BENCHMARKS.md and
the user guide ("The center").

It is the kernel's default start (``start="auto"``) in vectorized runs with per-chain
centers and at least 256 chains (:data:`~numpyro_dilation.run_plan.AUTO_PILOT_MIN_CHAINS`).

This module holds the settings and the pure array functions of the pilot-box start and the
step of a run with a pilot pass (:func:`pilot_step`).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.types import PRNGKey
from jax import lax, random
from jax.scipy.special import logsumexp

from numpyro_dilation.batching import map_items
from numpyro_dilation.mode_mixture import ModeMixture, _whitened_norm2
from numpyro_dilation.population import population_step
from numpyro_dilation.population_settings import PopulationSettings
from numpyro_dilation.population_state import (
    DilationLangevinState,
    assemble_state,
    init_chains,
    ravel_chains,
)
from numpyro_dilation.random_keys import with_original_layout

__all__ = [
    "Pilot",
    "occupied_modes",
    "bounding_box",
    "uniform_in_box",
    "check_pilot",
    "pilot_split",
    "restart_in_box",
    "pilot_step",
]


class Pilot(NamedTuple):
    r"""Settings of the pilot-box start (see the module docstring).

    num_chains
        :math:`M`: the box is that of the first :math:`\min(M, C)` chains' positions at
        the end of the pilot pass.
    widen
        :math:`w`, the box is widened by this fraction of its width on each side.
    keep
        :math:`k`, share of the chains (the last :math:`\lfloor kC \rfloor`) that restart
        at their own initial points instead of in the box, in [0, 1).

    The pilot pass takes the first :math:`\lceil W/2\rceil - 1` of the ``num_warmup``
    iterations :math:`W` (:func:`pilot_split`) and runs the run's own algorithm on all
    chains. (Earlier versions had ``warmup_fraction`` and ``global_moves`` fields, for a
    pilot run in a program of its own; both are gone with it.)

    **Example**

    .. code-block:: python

        from numpyro_dilation import DilationLangevin, Pilot

        kernel = DilationLangevin(potential_fn=lambda z: 0.5 * (z**2).sum(),
                                  start=Pilot(num_chains=128))  # a box from 128 chains
        print(Pilot())  # Pilot(num_chains=64, widen=0.25, keep=0.5)
    """

    num_chains: int = 64
    widen: float = 0.25
    keep: float = 0.5


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
        "widen": isinstance(pilot.widen, (int, float)) and pilot.widen >= 0,
        "keep": isinstance(pilot.keep, (int, float)) and 0 <= pilot.keep < 1,
    }
    allowed = {"num_chains": "an integer >= 2", "widen": ">= 0", "keep": "in [0, 1)"}
    for name, ok in checks.items():
        if not ok:
            raise ValueError(
                f"`Pilot.{name}` must be {allowed[name]}, got {getattr(pilot, name)!r}."
            )


def pilot_split(num_warmup: int) -> tuple[int, int]:
    r"""``(P, W_r)``: the pilot pass's iterations :math:`P = \lceil W/2\rceil - 1` and the
    run pass's warm-up :math:`W_r = \lfloor W/2\rfloor + 1` of a warm-up of :math:`W`
    iterations (:math:`P + W_r = W`). Both passes follow the schedule of a warm-up of
    :math:`W_r` iterations, the same compiled step; the pilot pass, one iteration shorter
    or two, restarts before that schedule's end, so it never reaches the sampling phase
    nor the end-of-warm-up checks.

    **Example**

    .. code-block:: python

        from numpyro_dilation.starts import pilot_split

        print(pilot_split(300), pilot_split(301))  # (149, 151) (150, 151)
    """
    run_warmup = int(num_warmup) // 2 + 1
    return int(num_warmup) - run_warmup, run_warmup


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


def restart_in_box(
    state: DilationLangevinState,
    logdensity_fn: Callable,
    settings: PopulationSettings,
    pilot: Pilot,
    step_size: float | None = None,
) -> DilationLangevinState:
    r"""The restart at the end of the pilot pass (module docstring): the first
    :math:`C - \lfloor kC \rfloor` chains at uniform draws in the widened bounding box of
    the first :math:`\min(M, C)` chains' positions (a draw where the log-density or its
    gradient is not finite, outside a bounded support or where float32 arithmetic
    overflows, replaced by one of those positions: a chain started there never moves), the last
    :math:`\lfloor kC \rfloor` at their initial points (their per-chain centers); then the
    population initialized there (:func:`~numpyro_dilation.population_state.init_chains`:
    iteration 0, first level, each chain its own center, step size ``step_size`` or found
    afresh, by iteration 0's preconditioner update under the defaults) with the settings'
    shared parts reset, but for the pilot's modes that its chains occupy
    (:func:`occupied_modes`), kept until the run pass's mode finding replaces them (no global
    move comes before; with one the run pass skips the U-turn explorer:
    :mod:`~numpyro_dilation.population_modes`). ``state``: all :math:`C` chains
    (batched), per-chain centers. The new state's ``num_grad_evals`` is the initialization's
    plus one (the log-density and gradient at each draw), reported by the next iteration; its
    ``pilot_end`` is -1 (no further restart).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_settings import make_settings
        from numpyro_dilation.starts import Pilot, restart_in_box

        logdensity = lambda x: -0.5 * jnp.sum((x - 20.0) ** 2)  # far from the starts
        settings = make_settings(40, 2)
        keys = jax.random.split(jax.random.key(0), 64)
        state = init(jnp.zeros((64, 2)), logdensity, keys, settings)
        pilot_state = state._replace(z=20.0 + jax.random.normal(keys[0], (64, 2)))
        new = restart_in_box(pilot_state, logdensity, settings, Pilot(num_chains=16))
        print(new.z[:32].mean(axis=0))  # about [20, 20]: the box around the pilot's chains
        print(new.z[32:].mean(axis=0), new.i[0])  # [0. 0.] 0: the last half (keep=0.5)
    """
    flat, unravel_one = ravel_chains(state.z)
    num_chains = flat.shape[0]
    m = min(num_chains, pilot.num_chains)
    num_kept = int(pilot.keep * num_chains)
    keys = jax.vmap(lambda k: random.split(k, 3))(state.rng_key)
    k_box, k_fallback = random.split(keys[0, 2])
    particles = flat[:m]
    lower, upper = bounding_box(particles, pilot.widen)
    starts = uniform_in_box(k_box, lower, upper, num_chains).astype(flat.dtype)
    def usable(v):  # a finite log-density and gradient there
        ld, g = jax.value_and_grad(lambda u: logdensity_fn(unravel_one(u)))(v)
        return jnp.isfinite(ld) & jnp.all(jnp.isfinite(g))

    finite = map_items(usable, settings.one_chain_at_a_time)(starts)
    fallback = particles[random.randint(k_fallback, (num_chains,), 0, m)]
    starts = jnp.where(finite[:, None], starts, fallback)
    kept = jnp.arange(num_chains) >= num_chains - num_kept
    starts = jnp.where(kept[:, None], ravel_chains(state.center)[0].astype(flat.dtype), starts)
    astate, grads = init_chains(
        jax.vmap(unravel_one)(starts), logdensity_fn, keys[:, 1], settings, step_size=step_size
    )
    new = assemble_state(astate, grads + 1, keys[:, 0], settings, True)
    # the pilot's modes that its chains occupy stay until the run pass's mode finding
    # replaces them (no global move comes before it): where one does, that pass skips the
    # U-turn explorer
    mixture = None if state.mixture is None else occupied_modes(state.mixture, flat)
    return new._replace(pilot_end=jnp.full(num_chains, -1, jnp.int32), mixture=mixture)


def occupied_modes(mixture: ModeMixture, positions: jax.Array) -> ModeMixture:
    r"""The modes of ``mixture`` that are the nearest, in the Mahalanobis metric of their
    proposal factors, to at least one row of ``positions`` ``(C, d)``, moved to the first
    slots in their order (the rest unused; the blocks' per-mode scales moved with them, the
    blocks themselves as they were), weights renormalized. Memory :math:`O(C d)`: one mode
    at a time.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.modes import empty_mixture
        from numpyro_dilation.starts import occupied_modes

        mixture = empty_mixture(dim=1, max_modes=3)
        mixture = mixture._replace(means=jnp.array([[-3.0], [0.0], [3.0]]),
                                   log_weights=jnp.log(jnp.full(3, 1 / 3)), num_modes=3)
        kept = occupied_modes(mixture, jnp.array([[-2.9], [3.2], [2.5]]))  # none near 0
        print(kept.num_modes, kept.means[:2, 0], kept.log_weights)  # 2 [-3.  3.] [-0.69 -0.69 -inf]
    """
    num_slots = mixture.means.shape[0]
    used = jnp.arange(num_slots) < mixture.num_modes

    def distances(mode):  # squared whitened distances of every position to one mode
        mean, chol = mode
        return jax.vmap(lambda y: _whitened_norm2(chol, y - mean)[0])(positions)

    dist2 = jnp.where(used[:, None], lax.map(distances, (mixture.means, mixture.chol)), jnp.inf)
    occupied = used & jnp.zeros(num_slots, bool).at[jnp.argmin(dist2, axis=0)].set(True)
    order = jnp.argsort(~occupied, stable=True)  # occupied slots first, in their order
    num = jnp.sum(occupied).astype(jnp.asarray(mixture.num_modes).dtype)
    kept = jnp.arange(num_slots) < num
    log_weights = jnp.where(kept, mixture.log_weights[order], -jnp.inf)
    return mixture._replace(
        means=mixture.means[order],
        chol=mixture.chol[order],
        log_weights=jnp.where(kept, log_weights - logsumexp(log_weights), -jnp.inf),
        laplace_log_mass=jnp.where(kept, mixture.laplace_log_mass[order], -jnp.inf),
        num_modes=num,
        blocks=None if mixture.blocks is None else mixture.blocks._replace(
            scales=mixture.blocks.scales[order]
        ),
    )


@with_original_layout
def pilot_step(
    state: DilationLangevinState,
    logdensity_fn: Callable,
    settings: PopulationSettings,
    pilot: Pilot,
    step_size: float | None = None,
) -> DilationLangevinState:
    """One iteration of a run with a pilot pass: at the pilot pass's end (``state.i`` equal
    to ``state.pilot_end``, shared by the chains) the restart (:func:`restart_in_box`, a
    branch taken once), then the population's iteration
    (:func:`~numpyro_dilation.population.population_step`). ``state.pilot_end`` is the
    pilot pass's length :math:`P` until the restart and -1 after it (``None``: no pilot
    pass, the population's iteration alone).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_settings import make_settings
        from numpyro_dilation.starts import Pilot, pilot_split, pilot_step

        logdensity = lambda x: -0.5 * jnp.sum((x - 20.0) ** 2)
        num_pilot, run_warmup = pilot_split(100)  # 49 + 51
        settings = make_settings(run_warmup, 2)
        keys = jax.random.split(jax.random.key(0), 64)
        state = init(jnp.zeros((64, 2)), logdensity, keys, settings)
        state = state._replace(pilot_end=jnp.full(64, num_pilot, jnp.int32))
        step = jax.jit(lambda s: pilot_step(s, logdensity, settings, Pilot()))
        for _ in range(100):
            state = step(state)
        print(state.i[0], state.pilot_end[0], state.center[:32].mean(axis=0))
        # 51 -1 about [20, 20]: restarted in the box after 49 iterations
    """
    if state.pilot_end is None:
        return population_step(state, logdensity_fn, settings)
    restart = lambda s: restart_in_box(s, logdensity_fn, settings, pilot, step_size)  # noqa: E731
    state = lax.cond(state.i[0] == state.pilot_end[0], restart, lambda s: s, state)
    return population_step(state, logdensity_fn, settings)
