r"""Annealed Langevin along the dilation path: the top-level BlackJAX algorithm.

Iteration :math:`t` of a chain runs the kernel of :mod:`numpyro_dilation.kernel` at level

.. math:: \lambda(t) = \lambda_t \ \ (t < K), \qquad \lambda(t) = 1 \ \ (t \ge K),

where :math:`\lambda_0 < \dots < \lambda_{K-1} = 1` is the annealing schedule. The chain starts
from the Dirac at its center (see :func:`kernel.init`), anneals for :math:`K` steps and then
samples the target.

Step size. The step :math:`h` (target coordinates; the dilated step is :math:`h_k =
h\lambda_k`, the paper's adaptive rule) is tuned by dual averaging on the Metropolis
acceptance probability toward ``target_accept_prob`` during the first :math:`W \ge K`
iterations (BlackJAX's :func:`~blackjax.adaptation.step_size.dual_averaging_adaptation`);
the averaging restarts when the annealing ends if :math:`W > K`, so the final step size is
tuned at :math:`\lambda = 1`. From iteration :math:`W` on, :math:`h` is fixed at the
averaged iterate. The step-size machinery (its checks, the search for a first step, dual
averaging) is :mod:`numpyro_dilation.step_size`.

Metropolis adjustment. MALA at every level by default; ``anneal_metropolis=False`` gives the
paper's unadjusted Langevin during annealing (dual averaging's first, large trial steps can
then throw chains far out), ``metropolis=False`` unadjusted steps at :math:`\lambda = 1`.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax import GenerateSamplingAPI
from blackjax.adaptation.step_size import DualAveragingAdaptationState
from blackjax.base import SamplingAlgorithm
from blackjax.types import ArrayLikeTree, ArrayTree, PRNGKey

from numpyro_dilation import kernel as dilation_kernel
from numpyro_dilation._control import uniform_cond
from numpyro_dilation.kernel import DilationInfo, DilationState
from numpyro_dilation.schedules import DEFAULT_LAMBDA_MIN, resolve_levels
from numpyro_dilation.step_size import (  # re-exported: their old home
    DEFAULT_TARGET_ACCEPT_PROB,
    check_step_size,
    dual_averaging_start,
    dual_averaging_update,
    find_initial_step_size,
    step_size_search_proposals,
)
from numpyro_dilation.validation import _check_inverse_mass_matrix, check_probability

__all__ = ["AnnealingState", "AnnealingConfig", "annealing_init", "annealing_step",
           "find_initial_step_size", "step_size_search_proposals", "dilation_langevin",
           "as_top_level_api", "init", "build_kernel", "check_probability", "check_step_size"]


class AnnealingState(NamedTuple):
    """State of :func:`dilation_langevin`.

    dilation
        The kernel state (:class:`~numpyro_dilation.kernel.DilationState`).
    iteration
        Number of transitions done (int scalar).
    step_size
        Step :math:`h` for the next transition.
    adaptation
        Dual-averaging state of the step size.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import dilation_langevin

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        algo = dilation_langevin(logdensity, 0.5, num_annealing_steps=20)
        state = algo.init(jnp.zeros(2))  # an AnnealingState at lambda_0 = 1e-3
        step = jax.jit(algo.step)
        for key in jax.random.split(jax.random.key(0), 30):
            state, info = step(key, state)
        print(state.iteration, state.dilation.lam, state.step_size)  # 30 1.0 and the tuned h
        print(state.position, state.logdensity)  # a draw of N(3, I) and log gamma there
    """

    dilation: DilationState
    iteration: jax.Array
    step_size: jax.Array
    adaptation: DualAveragingAdaptationState

    @property
    def position(self) -> ArrayTree:
        """Target-coordinate position (the sample once :math:`\\lambda = 1`)."""
        return self.dilation.position

    @property
    def logdensity(self) -> jax.Array:
        r""":math:`\log\gamma` at :attr:`position`."""
        return self.dilation.logdensity

    @property
    def logdensity_grad(self) -> ArrayTree:
        """Its gradient (what BlackJAX's adaptation reads from a chain state)."""
        return self.dilation.logdensity_grad


class AnnealingConfig(NamedTuple):
    """Static settings shared by the BlackJAX and NumPyro front ends.

    levels
        Annealing schedule, shape ``(K,)``, strictly increasing, ending at 1.
    num_adaptation_steps
        :math:`W \\ge K`: iterations during which the step size adapts.
    adapt_step_size, target_accept_prob
        Dual-averaging switch and target.
    metropolis, anneal_metropolis
        Metropolis adjustment at :math:`\\lambda = 1` / during annealing.
    step_size_fixed_from
        :math:`W_h \\le W`: the iteration from which the step size stays at the averaged
        iterate :math:`e^{\\bar x}` (the draws' step) for the rest of the warm-up; ``None``:
        :math:`W`. The population sampler sets it when it measures the draw length, so that
        the jumps it measures are those of the draws' kernel
        (:mod:`numpyro_dilation.draw_length`).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.annealing import AnnealingConfig, annealing_init
        from numpyro_dilation.schedules import geometric_schedule

        config = AnnealingConfig(levels=geometric_schedule(20, 1e-3), num_adaptation_steps=30)
        print(config.levels[:3], config.target_accept_prob)  # [0.001 0.0014 0.0021] 0.574
        print(config.metropolis, config.anneal_metropolis)  # True True: MALA throughout
        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        state = annealing_init(jnp.zeros(2), logdensity, config, step_size=0.5)
        print(state.dilation.lam)  # 0.001: the chain starts at the first level
    """

    levels: np.ndarray
    num_adaptation_steps: int
    adapt_step_size: bool = True
    target_accept_prob: float = DEFAULT_TARGET_ACCEPT_PROB
    metropolis: bool = True
    anneal_metropolis: bool = True
    step_size_fixed_from: int | None = None


def first_level(config: AnnealingConfig) -> float:
    """:math:`\\lambda_0`, the level a chain starts at: the schedule's first, 1 when it is
    empty (:math:`K = 0`: no annealing)."""
    return float(config.levels[0]) if len(config.levels) else 1.0


def step_size_fixed_at(config: AnnealingConfig) -> int:
    """:math:`\\min(W, W_h)`: the iteration from which the step stays at :math:`e^{\\bar x}`,
    the draws' step (``step_size_fixed_from``, or the end of the adaptation)."""
    fixed, end = config.step_size_fixed_from, config.num_adaptation_steps
    return end if fixed is None else min(fixed, end)


def annealing_init(
    position: ArrayLikeTree,
    logdensity_fn: Callable,
    config: AnnealingConfig,
    step_size: float,
    center: ArrayLikeTree | None = None,
) -> AnnealingState:
    """Start a chain at level :math:`\\lambda_0` (the Dirac at the center).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.annealing import AnnealingConfig, annealing_init
        from numpyro_dilation.kernel import dilated_position
        from numpyro_dilation.schedules import linear_schedule

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        config = AnnealingConfig(levels=linear_schedule(20, 1e-2), num_adaptation_steps=20)
        state = annealing_init(jnp.array([1.0, -1.0]), logdensity, config, 0.5, center=jnp.zeros(2))
        print(state.dilation.lam, state.iteration, state.step_size)  # 0.01 0 0.5
        print(dilated_position(state.dilation))  # [0.1 -0.1] = sqrt(0.01) * y: near the center 0
    """
    dilation = dilation_kernel.init(position, logdensity_fn, center, first_level(config))
    step_size = jnp.asarray(step_size, dtype=dilation.lam.dtype)
    adaptation = dual_averaging_start(config.target_accept_prob, step_size)
    return AnnealingState(dilation, jnp.asarray(0, dtype=jnp.int32), step_size, adaptation)


_kernel = dilation_kernel.build_kernel()


def annealing_step(
    rng_key: PRNGKey,
    state: AnnealingState,
    logdensity_fn: Callable,
    config: AnnealingConfig,
    inverse_mass_matrix: jax.Array | None = None,
    noise: ArrayTree | None = None,
) -> tuple[AnnealingState, DilationInfo]:
    """One iteration: kernel at level :math:`\\lambda(t)`, then step-size adaptation.
    ``inverse_mass_matrix`` (diagonal :math:`v`, ``(d,)``, or ``None``) and ``noise``: the
    kernel's (:func:`numpyro_dilation.kernel.build_kernel`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.annealing import AnnealingConfig, annealing_init, annealing_step
        from numpyro_dilation.schedules import linear_schedule

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        config = AnnealingConfig(levels=linear_schedule(20, 1e-3), num_adaptation_steps=30)
        step = jax.jit(lambda key, state: annealing_step(key, state, logdensity, config))
        state = annealing_init(jnp.zeros(2), logdensity, config, step_size=0.5)
        for key in jax.random.split(jax.random.key(0), 40):  # 20 annealing steps, then lambda = 1
            state, info = step(key, state)
        print(info.lam, state.step_size, state.position)  # 1.0, the tuned h, a draw of N(3, I)
    """
    num_levels = len(config.levels)
    t = state.iteration
    annealing = t < num_levels
    if num_levels:
        levels = jnp.asarray(config.levels, dtype=state.dilation.lam.dtype)
        lam = jnp.where(annealing, levels[jnp.minimum(t, num_levels - 1)], 1.0)
    else:  # no annealing: every step at lambda = 1
        lam = jnp.ones((), state.dilation.lam.dtype)
    metropolis = jnp.where(annealing, config.anneal_metropolis, config.metropolis)
    dilation, info = _kernel(
        rng_key,
        state.dilation,
        logdensity_fn,
        lam,
        state.step_size,
        metropolis,
        inverse_mass_matrix,
        noise,
    )
    adaptation, step_size = state.adaptation, state.step_size
    if config.adapt_step_size:  # restarted when the annealing ends: h is tuned at λ = 1
        adapt_end = step_size_fixed_at(config)  # from W_h on e^{x-bar}, the draws' step

        def update(adaptation, step_size, acceptance_rate, t):
            return dual_averaging_update(adaptation, step_size, acceptance_rate, t,
                                         config.target_accept_prob,
                                         adapt_end, restart_at=num_levels)

        # the identity after the warm-up: a real branch there (the chains of a vectorized
        # run share t). Inlined, its masked arithmetic made XLA on CPU compile the
        # gradient worse: 1.5x a bare gradient instead of 1.1x (BENCHMARKS.md)
        adaptation, step_size = uniform_cond(
            t < adapt_end, update, lambda a, h, *_: (a, h),
            adaptation, step_size, info.acceptance_rate, t,
        )  # fmt: skip
    new_state = AnnealingState(dilation, t + 1, step_size, adaptation)
    return new_state, info


def init(
    position: ArrayLikeTree, logdensity_fn: Callable, rng_key: PRNGKey | None = None
) -> AnnealingState:
    """BlackJAX's ``init(position, logdensity_fn)``: a chain at iteration 0 whose center is
    ``position`` (the Dirac at it, so any first level is exact), with step size 1 until the
    kernel of :func:`build_kernel` is given one. This is what BlackJAX's adaptation and SMC
    utilities call; :func:`dilation_langevin`'s own ``init`` also sets the center, the first
    level and the step size.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.annealing import init

        state = init(jnp.zeros(2), lambda x: -0.5 * jnp.sum(x**2))
        print(state.iteration, state.dilation.lam, state.logdensity)  # 0 1.0 0.0
    """
    del rng_key
    config = AnnealingConfig(levels=np.ones(0), num_adaptation_steps=0)
    return annealing_init(position, logdensity_fn, config, 1.0)


def build_kernel() -> Callable:
    r"""BlackJAX's ``build_kernel()``: returns

    ``kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix=None,
    num_annealing_steps=None, schedule="linear", lambda_min=1e-3, metropolis=True,
    anneal_metropolis=True) -> (AnnealingState, DilationInfo)``,

    one transition at level :math:`\lambda(t)` (:math:`t` = ``state.iteration``; the first
    ``num_annealing_steps`` iterations anneal along ``schedule``, later ones, or all of
    them with the default of no annealing, are MALA at :math:`\lambda = 1`) with the
    step size :math:`h` and preconditioner (diagonal or dense) given, and no adaptation of
    its own.
    The arguments after ``logdensity_fn`` are those of :func:`dilation_langevin`, so
    ``blackjax.window_adaptation(dilation_langevin, logdensity_fn, **extra)`` can tune
    :math:`h` and the diagonal :math:`v` and return parameters that
    ``dilation_langevin(logdensity_fn, **parameters)`` accepts, and
    ``blackjax.tempered_smc`` / ``adaptive_tempered_smc`` can use it as their MCMC move
    (``mcmc_step_fn=dilation_langevin.build_kernel()``,
    ``mcmc_init_fn=dilation_langevin.init``).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.annealing import build_kernel, init

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        kernel = jax.jit(build_kernel(), static_argnums=2)
        state = init(jnp.zeros(2), logdensity)
        for key in jax.random.split(jax.random.key(0), 200):  # MALA with h = 0.5
            state, info = kernel(key, state, logdensity, 0.5)
        print(state.position, state.step_size, info.lam)  # a draw of N(3, I), 0.5, 1.0
    """

    def kernel(
        rng_key: PRNGKey,
        state: AnnealingState,
        logdensity_fn: Callable,
        step_size: float,
        inverse_mass_matrix: jax.Array | None = None,
        num_annealing_steps: int | None = None,
        schedule="linear",
        lambda_min: float = DEFAULT_LAMBDA_MIN,
        metropolis: bool = True,
        anneal_metropolis: bool = True,
    ) -> tuple[AnnealingState, DilationInfo]:
        _check_inverse_mass_matrix(inverse_mass_matrix)
        config = AnnealingConfig(
            levels=resolve_levels(schedule, num_annealing_steps, lambda_min),
            num_adaptation_steps=0,
            adapt_step_size=False,
            metropolis=bool(metropolis),
            anneal_metropolis=bool(anneal_metropolis),
        )
        h = jnp.asarray(step_size, dtype=state.step_size.dtype)
        return annealing_step(
            rng_key, state._replace(step_size=h), logdensity_fn, config, inverse_mass_matrix
        )

    return kernel


def as_top_level_api(
    logdensity_fn: Callable,
    step_size: float,
    inverse_mass_matrix: jax.Array | None = None,
    *,
    num_annealing_steps: int | None = None,
    schedule="linear",
    lambda_min: float = DEFAULT_LAMBDA_MIN,
    center: ArrayLikeTree | None = None,
    metropolis: bool = True,
    anneal_metropolis: bool = True,
    adapt_step_size: bool = True,
    target_accept_prob: float = DEFAULT_TARGET_ACCEPT_PROB,
    num_adaptation_steps: int | None = None,
) -> SamplingAlgorithm:
    r"""Annealed Langevin dynamics along the dilation path, as a BlackJAX algorithm.

    Called as :func:`dilation_langevin` (``numpyro_dilation.dilation_langevin(logdensity_fn,
    step_size, ...)``, BlackJAX's calling convention, as ``blackjax.mala(logdensity_fn,
    step_size)``). The first ``num_annealing_steps`` steps anneal :math:`\lambda` from
    ``lambda_min`` to 1 along ``schedule``, starting from the Dirac at the center; later
    steps run at :math:`\lambda = 1` (MALA by default). With no annealing (the default,
    ``num_annealing_steps=None`` and a named schedule) it is MALA with a diagonal
    preconditioner. At level :math:`\lambda_k` the dilated step is
    :math:`h_k = h\lambda_k`, which in target coordinates is one Langevin step of size
    :math:`h` on the target followed by the contraction
    :math:`y \leftarrow c + \sqrt{\lambda_k/\lambda_{k+1}}(y - c)` (see
    :mod:`numpyro_dilation.kernel`).

    Parameters
    ----------
    logdensity_fn
        Log-density of the target (unnormalized), on pytree positions.
    step_size
        Initial step :math:`h` in target coordinates (> 0).
    inverse_mass_matrix
        Fixed preconditioner in ``ravel_pytree`` order, as BlackJAX's ``window_adaptation``
        returns it: a diagonal :math:`v`, shape ``(d,)``, or a dense :math:`A`, shape
        ``(d, d)`` (``is_mass_matrix_diagonal=False``; see :func:`kernel.build_kernel
        <numpyro_dilation.kernel.build_kernel>` for its cost). ``None``: identity. The
        NumPyro kernel estimates a diagonal one across chains.
    num_annealing_steps
        :math:`K \ge 0`, the number of annealing steps (length of the schedule);
        ``None``: the length of an explicit ``schedule`` array, else 0 (no annealing).
    schedule
        ``"linear"`` (default), ``"geometric"``, ``"cosine"``, a callable
        ``(num_steps, lambda_min) -> levels``, or an array of ``K`` levels.
    lambda_min
        First level :math:`\lambda_0 \in (0, 1)` of a named schedule.
    center
        The dilation center :math:`c` (same structure as the position). ``None``:
        each chain's initial position is its own center (per-chain Dirac start).
    metropolis, anneal_metropolis
        Metropolis adjustment at :math:`\lambda = 1` (default on) and during
        annealing (default on; off is the paper's unadjusted Langevin).
    adapt_step_size, target_accept_prob
        Dual averaging of :math:`h` toward this acceptance probability.
    num_adaptation_steps
        Iterations during which :math:`h` adapts; defaults to :math:`K` (so none
        without annealing: :math:`h` is then fixed, as in BlackJAX's MALA).

    Returns
    -------
    A ``SamplingAlgorithm`` whose ``init(position)`` returns an
    :class:`AnnealingState` and ``step(rng_key, state)`` returns
    ``(AnnealingState, DilationInfo)``. Not jitted: the caller jits.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        import numpyro_dilation as nd

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        algo = nd.dilation_langevin(logdensity, 0.5, num_annealing_steps=50)
        state = jax.vmap(algo.init)(jnp.zeros((16, 2)))  # 16 chains, each from the Dirac at 0
        step = jax.jit(jax.vmap(algo.step))
        for key in jax.random.split(jax.random.key(0), 100):  # 50 annealing steps, 50 at lambda = 1
            state, info = step(jax.random.split(key, 16), state)
        print(state.position.mean(axis=0), info.acceptance_rate.mean())  # about [3, 3], about 0.5
    """
    if not callable(logdensity_fn):
        raise ValueError(f"`logdensity_fn` must be callable, got {type(logdensity_fn).__name__}.")
    check_step_size(step_size)
    check_probability("target_accept_prob", target_accept_prob)
    _check_inverse_mass_matrix(inverse_mass_matrix)
    levels = resolve_levels(schedule, num_annealing_steps, lambda_min)
    num_levels = len(levels)
    num_adapt = num_levels if num_adaptation_steps is None else num_adaptation_steps
    if not isinstance(num_adapt, (int, np.integer)) or num_adapt < 0:
        raise ValueError(
            f"`num_adaptation_steps` must be a non-negative integer, got {num_adaptation_steps!r}."
        )
    config = AnnealingConfig(
        levels=levels,
        num_adaptation_steps=int(num_adapt),
        adapt_step_size=bool(adapt_step_size),
        target_accept_prob=float(target_accept_prob),
        metropolis=bool(metropolis),
        anneal_metropolis=bool(anneal_metropolis),
    )

    def init_fn(position: ArrayLikeTree, rng_key: PRNGKey | None = None) -> AnnealingState:
        del rng_key
        return annealing_init(position, logdensity_fn, config, step_size, center)

    def step_fn(rng_key: PRNGKey, state: AnnealingState):
        return annealing_step(rng_key, state, logdensity_fn, config, inverse_mass_matrix)

    return SamplingAlgorithm(init_fn, step_fn)


dilation_langevin = GenerateSamplingAPI(as_top_level_api, init, build_kernel)
"""The BlackJAX-level sampler: ``dilation_langevin(logdensity_fn, step_size, ...)`` builds
the algorithm (:func:`as_top_level_api`), and ``dilation_langevin.init`` /
``dilation_langevin.build_kernel`` (:func:`init`, :func:`build_kernel`) are the pieces that
BlackJAX's ``window_adaptation`` and tempered SMC drive, as for ``blackjax.mala``.

**Example**

.. code-block:: python

    import blackjax
    import jax
    import jax.numpy as jnp
    import numpyro_dilation as nd

    logdensity = lambda x: -0.5 * jnp.sum(x**2 / jnp.array([1.0, 100.0]))  # sds 1 and 10
    warmup = blackjax.window_adaptation(nd.dilation_langevin, logdensity, num_annealing_steps=100)
    (state, parameters), _ = warmup.run(jax.random.key(0), jnp.ones(2), num_steps=500)
    print(parameters["step_size"], parameters["inverse_mass_matrix"])  # about [1, 100]
    algo = nd.dilation_langevin(logdensity, **parameters)  # MALA at lambda = 1 from here
    state, info = jax.jit(algo.step)(jax.random.key(1), state)
"""

dilation_langevin.__doc__ = as_top_level_api.__doc__
dilation_langevin.__module__ = __name__  # documented here (autodoc skips imported objects)
