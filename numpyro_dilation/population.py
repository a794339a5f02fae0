r"""The population algorithm: :math:`C` annealed dilation-path chains that share a
preconditioner and a mode mixture, as a BlackJAX-style algorithm on any log-density.

One iteration of the population (:func:`build_kernel`) is, in order:

1. at the iterations of ``settings.mass_schedule``, the pooled preconditioner update
   (:func:`update_preconditioner`: curvature at every chain, median over chains, then
   each chain re-finds its step size);
2. at ``settings.mode_iteration`` (warm-up, after the annealing), mode finding from the
   chains' positions, the U-turn explorer's returns and contracted centers
   (:mod:`numpyro_dilation.population_modes`, :mod:`numpyro_dilation.modes`) into the
   shared :class:`~numpyro_dilation.mode_mixture.ModeMixture`;
3. every chain's own step (:func:`chain_step`): one annealed MALA transition at its level
   :math:`\lambda(t)` (:func:`~numpyro_dilation.annealing.annealing_step`), then, from
   the mode-finding iteration on, every ``GlobalMoves.every`` iterations, an independence
   Metropolis-Hastings move proposing from the mixture (this corrects the chains' shares
   of separated modes and feeds the log-evidence estimate), then an exact U-turn move if
   asked for.

The warm-up stages are data (:class:`PopulationSettings`: the annealing levels, the
preconditioner's update iterations, the mode-finding iteration), fixed before the run.
Nothing here imports NumPyro: the NumPyro kernel
(:class:`~numpyro_dilation.mcmc.DilationLangevin`) handles the model and delegates each
iteration to :func:`build_kernel`'s kernel, and :func:`as_top_level_api`
(``population_sampler``) gives the same algorithm to BlackJAX users.

**Cost.** Per iteration and chain: one gradient for the local step (two without
Metropolis adjustment at a level change), one per global move. Once per update of the
preconditioner: :math:`d` Hessian-vector products for each of at most
:data:`~numpyro_dilation.preconditioner.CURVATURE_CHAINS` chains up to
:data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions, else
:data:`HUTCHINSON_PROBES` per chain. Memory is :math:`O(Cd)` plus the mixture (``max_modes``
means and covariance factors; diagonal above ``GlobalMoves.dense_max_dim``).
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax import GenerateSamplingAPI
from blackjax.base import SamplingAlgorithm
from jax import lax, random
from jax.flatten_util import ravel_pytree

from numpyro_dilation.annealing import step_size_fixed_at
from numpyro_dilation.batching import map_items
from numpyro_dilation.draws import draw_transitions, stop_idle_global_moves
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.persistence import DEFAULT_PERSISTENCE, check_persistence
from numpyro_dilation.population_chain import chain_step
from numpyro_dilation.population_modes import find_population_modes
from numpyro_dilation.population_settings import (
    DEFAULT_ANNEALING_FRACTION,
    DEFAULT_GLOBAL_MOVES,
    DEFAULT_UTURN,
    MIN_ANNEALING_STEPS,
    PopulationSettings,
    annealing_levels,
    check_mass_rank,
    check_steps_per_draw,
    make_settings,
)
from numpyro_dilation.population_state import (
    DilationLangevinState,
    assemble_state,
    init_chains,
    with_inverse_mass_matrix,
)
from numpyro_dilation.preconditioner import update_preconditioner
from numpyro_dilation.random_keys import with_original_layout
from numpyro_dilation.schedules import DEFAULT_LAMBDA_MIN
from numpyro_dilation.step_size import (
    DEFAULT_TARGET_ACCEPT_PROB,
    cap_at_median,
    check_step_size,
)
from numpyro_dilation.uturn import UTurn

__all__ = [
    "PopulationInfo",
    "as_top_level_api",
    "build_kernel",
    "init",
    "population_sampler",
    "population_step",
]


class PopulationInfo(NamedTuple):
    """What one population iteration reports, per chain (shape ``(C,)``).

    - **acceptance_rate** - the local step's Metropolis acceptance probability.
    - **global_acceptance_rate** - the global move's (0 if none this iteration).
    - **uturn_acceptance_rate** - the exact U-turn move's (0 if none).
    - **is_divergent** - a non-finite log-density or gradient was proposed (rejected).
    - **num_grad_evals** - gradients spent by the chain this iteration, its share of the
      preconditioner updates and mode finding included.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.population import PopulationInfo

        info = PopulationInfo(*(jnp.zeros(4) for _ in range(5)))
        print(info.acceptance_rate.shape)  # (4,): one per chain
    """

    acceptance_rate: jax.Array
    global_acceptance_rate: jax.Array
    uturn_acceptance_rate: jax.Array
    is_divergent: jax.Array
    num_grad_evals: jax.Array


def init(
    position,
    logdensity_fn: Callable,
    rng_key: jax.Array,
    settings: PopulationSettings,
    *,
    center=None,
    step_size: float | None = None,
    batched: bool = True,
) -> DilationLangevinState:
    """The population at iteration 0: every chain at its initial point (``position``,
    leading axis the chains when ``batched``), at the first level, its center the Dirac
    at ``center`` (``None``: its own initial point); step size ``step_size``, or found
    per chain (:func:`~numpyro_dilation.annealing.find_initial_step_size`; by the first
    iteration's preconditioner update when ``settings`` has one, as
    :func:`~numpyro_dilation.population_state.init_chains` says);
    ``rng_key``: one key per chain (shape ``(C,)``) when ``batched``. The gradients of
    the initialization are in ``num_grad_evals`` (reported with the first iteration).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum(x**2)
        settings = make_settings(100, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        state = init(jnp.zeros((8, 2)), logdensity, keys, settings)
        print(state.z.shape, state.lam[0], state.inverse_mass_matrix)  # (8, 2) 0.001 [1. 1.]
    """
    if batched:
        keys = jax.vmap(random.split)(rng_key)
        rng_key, step_keys = keys[:, 0], keys[:, 1]
    else:
        rng_key, step_keys = random.split(rng_key)
    astate, init_grads = init_chains(
        position,
        logdensity_fn,
        step_keys,
        settings,
        center=center,
        step_size=step_size,
        batched=batched,
    )
    return assemble_state(astate, init_grads, rng_key, settings, batched)


@with_original_layout
def population_step(
    state: DilationLangevinState, logdensity_fn: Callable, settings: PopulationSettings
) -> DilationLangevinState:
    """One iteration of all chains (``state`` batched over chains; keys in
    ``state.rng_key``): the preconditioner update and the mode finding whose iteration
    it is, then every chain's :func:`chain_step`. Random numbers: Threefry in its
    original counter layout (:func:`~numpyro_dilation.random_keys.with_original_layout`;
    the state's keys come back in the caller's form).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import init, population_step
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        settings = make_settings(60, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        state = init(jnp.zeros((8, 2)), logdensity, keys, settings)
        step = jax.jit(lambda s: population_step(s, logdensity, settings))
        for _ in range(100):
            state = step(state)
        print(state.i[0], state.lam[0], state.mixture.num_modes)  # 100 1.0 1
    """
    extra_grads = jnp.zeros(state.i.shape, jnp.int32)
    pilot_end, state = state.pilot_end, state._replace(pilot_end=None)  # starts.pilot_step's
    if settings.mass_schedule:
        update_now = jnp.any(state.i[0] == jnp.asarray(settings.mass_schedule))
        state, extra_grads = lax.cond(
            update_now,
            lambda s: update_preconditioner(s, logdensity_fn, settings),
            lambda s: (s, extra_grads),
            state,
        )
    if settings.global_moves is not None:

        def build(operands):
            state, grads = operands
            state, mode_grads = find_population_modes(state, logdensity_fn, settings)
            return state, grads + mode_grads

        state, extra_grads = lax.cond(
            state.i[0] == settings.mode_iteration, build, lambda o: o, (state, extra_grads)
        )
    state, num_transitions = draw_transitions(stop_idle_global_moves(state, settings), settings)
    # the mixture and the preconditioner are shared by the chains (not batched)
    mixture, v = state.mixture, state.inverse_mass_matrix
    low_rank = state.adapt_state.mass_low_rank

    def one(per_chain):
        per_chain = with_inverse_mass_matrix(per_chain._replace(mixture=mixture), v, low_rank)
        new = chain_step(per_chain, logdensity_fn, settings, num_transitions, state.i[0])
        return with_inverse_mass_matrix(new._replace(mixture=None), None)

    unshared = with_inverse_mass_matrix(state._replace(mixture=None), None)
    new = map_items(one, settings.one_chain_at_a_time)(unshared)
    new = with_inverse_mass_matrix(new._replace(mixture=mixture), v, low_rank)
    new = _cap_fixed_steps(new, settings)
    return new._replace(num_grad_evals=new.num_grad_evals + extra_grads, pilot_end=pilot_end)


def _cap_fixed_steps(state: DilationLangevinState, settings: PopulationSettings):
    """At the iteration from which the chains' steps are fixed (the end of the step-size
    adaptation, or ``config.step_size_fixed_from`` before it), each chain's step is capped at
    the chains' median (:func:`~numpyro_dilation.step_size.cap_at_median`: a chain tuned
    where the posterior is easy otherwise keeps a step that every proposal can fail with
    elsewhere)."""
    step_size = state.adapt_state.step_size
    if not settings.config.adapt_step_size or jnp.ndim(step_size) == 0:
        return state
    # the chains share the iteration: the median is taken once, not every iteration
    fixed_now = state.i[0] == step_size_fixed_at(settings.config)
    capped = lax.cond(fixed_now, cap_at_median, lambda h: h, step_size)
    return state._replace(adapt_state=state.adapt_state._replace(step_size=capped))


def build_kernel() -> Callable:
    """BlackJAX's ``build_kernel()``: returns ``kernel(rng_key, state, logdensity_fn,
    settings) -> (DilationLangevinState, PopulationInfo)``, one iteration of the
    population (:func:`population_step`) with one key per chain split from
    ``rng_key``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population import build_kernel, init
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)
        settings = make_settings(60, 2)
        keys = jax.random.split(jax.random.key(0), 16)
        state = init(jnp.zeros((16, 2)), logdensity, keys, settings)
        kernel = build_kernel()
        step = jax.jit(lambda key, state: kernel(key, state, logdensity, settings))
        for key in jax.random.split(jax.random.key(1), 100):
            state, info = step(key, state)
        print(state.z.mean(axis=0))  # about [3, 3]
    """

    def kernel(
        rng_key: jax.Array,
        state: DilationLangevinState,
        logdensity_fn: Callable,
        settings: PopulationSettings,
    ) -> tuple[DilationLangevinState, PopulationInfo]:
        keys = random.split(rng_key, state.i.shape[0])
        new = population_step(state._replace(rng_key=keys), logdensity_fn, settings)
        info = PopulationInfo(
            new.accept_prob,
            new.global_accept_prob,
            new.uturn_accept_prob,
            new.diverging,
            new.num_grad_evals,
        )
        return new, info

    return kernel


def as_top_level_api(
    logdensity_fn: Callable,
    num_warmup: int,
    *,
    num_annealing_steps: int | None = None,
    annealing_fraction: float = DEFAULT_ANNEALING_FRACTION,
    schedule="linear",
    lambda_min: float = DEFAULT_LAMBDA_MIN,
    global_moves: GlobalMoves | None = DEFAULT_GLOBAL_MOVES,
    uturn: UTurn | None = DEFAULT_UTURN,
    adapt_mass_matrix: bool = True,
    dense_mass: bool = False,
    step_size: float | None = None,
    adapt_step_size: bool = True,
    target_accept_prob: float = DEFAULT_TARGET_ACCEPT_PROB,
    metropolis: bool = True,
    anneal_metropolis: bool = True,
    center=None,
    steps_per_draw: int | str = "auto",
    mass_rank: int | str = "auto",
    momentum_persistence: float = DEFAULT_PERSISTENCE,
) -> SamplingAlgorithm:
    r"""The population algorithm as a BlackJAX ``SamplingAlgorithm``: the sampler the
    NumPyro kernel runs (annealing, pooled preconditioner, mode finding, global moves,
    log-evidence), on any log-density, with all chains in one state.

    Called as :data:`population_sampler` (``population_sampler(logdensity_fn, num_warmup,
    ...)``). ``init(position, rng_key)`` takes the chains' initial points (a pytree whose
    leaves have a leading chain axis :math:`C`) and returns a
    :class:`~numpyro_dilation.population_state.DilationLangevinState`; ``step(rng_key,
    state)`` runs one iteration of every chain and returns ``(state, PopulationInfo)``.
    The first ``num_warmup`` steps are the warm-up (annealing over the first
    ``ceil(annealing_fraction * num_warmup)``, preconditioner updates, mode finding);
    every later step is a draw of each chain at :math:`\lambda = 1`, made of
    ``steps_per_draw`` transitions (``"auto"``: measured at the end of the warm-up,
    :mod:`numpyro_dilation.draw_length`; the state's ``adapt_state.steps_per_draw``).
    ``mass_rank``: the low-rank correction to the diagonal preconditioner
    (:mod:`numpyro_dilation.low_rank`; ``"auto"``: rank 8 above 100 dimensions).
    ``momentum_persistence``: the draws' persistent momentum
    (:mod:`numpyro_dilation.persistence`; 0: MALA). Not jitted: the caller jits
    (``jax.jit(algo.step)``) or uses ``blackjax``'s ``run_inference_algorithm``.

    The arguments are the NumPyro kernel's
    (:class:`~numpyro_dilation.mcmc.DilationLangevin`), with its defaults: the same
    ``num_warmup`` and settings give the same algorithm and gradient cost. Not here: the
    NumPyro kernel's model handling and its pilot-box start (``start="auto"`` with
    256 chains or more, a start strategy): here the chains start at ``position``, each
    annealed from the Dirac at its own initial point (``center=None``) or at ``center``.

    After the run: the draws are the chains' positions at every step after the warm-up,
    their modes' weights corrected by the global moves; :func:`numpyro_dilation.log_evidence`
    of the final state gives :math:`(\log\hat Z, \mathrm{se})`.

    **Cost.** The NumPyro kernel's: per chain and step one gradient (local step) and one
    per global move, plus the warm-up's preconditioner updates and mode finding, all in
    ``info.num_grad_evals``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        import numpyro_dilation as nd

        def logdensity(x):  # 0.3 N(-4, 1) + 0.7 N(4, 1) in one dimension, Z = 1
            log_terms = jnp.log(jnp.array([0.3, 0.7])) - 0.5 * (x[0] - jnp.array([-4.0, 4.0])) ** 2
            return logsumexp(log_terms) - 0.5 * jnp.log(2 * jnp.pi)

        algo = nd.population_sampler(logdensity, num_warmup=200)
        state = algo.init(jax.random.normal(jax.random.key(0), (64, 1)), jax.random.key(1))
        step = jax.jit(algo.step)
        draws = []
        for i, key in enumerate(jax.random.split(jax.random.key(2), 400)):
            state, info = step(key, state)
            if i >= 200:
                draws.append(state.z[:, 0])
        print(jnp.mean(jnp.stack(draws) > 0))  # about 0.7
        print(nd.log_evidence(state))  # about (0.0, se)
    """
    if not callable(logdensity_fn):
        raise ValueError(f"`logdensity_fn` must be callable, got {type(logdensity_fn).__name__}.")
    if not isinstance(num_warmup, (int, np.integer)) or num_warmup < MIN_ANNEALING_STEPS:
        raise ValueError(
            f"`num_warmup` must be an integer >= {MIN_ANNEALING_STEPS} (the warm-up "
            f"anneals), got {num_warmup!r}."
        )
    if global_moves is not None and not isinstance(global_moves, GlobalMoves):
        raise ValueError(
            f"`global_moves` must be a GlobalMoves or None, got {type(global_moves).__name__}."
        )
    if uturn is not None and not isinstance(uturn, UTurn):
        raise ValueError(f"`uturn` must be a UTurn or None, got {type(uturn).__name__}.")
    if uturn is not None and uturn.kind == "explore" and global_moves is None:
        raise ValueError(
            "`uturn=UTurn(kind='explore')` feeds the global moves' mode finding: give "
            "`global_moves`, or `uturn=None`."
        )
    if step_size is not None:
        check_step_size(step_size)
    steps_per_draw = check_steps_per_draw(steps_per_draw)
    check_mass_rank(mass_rank, 2)  # before any work: "auto" or an integer >= 0
    check_persistence(momentum_persistence)
    levels = annealing_levels(
        num_warmup, num_annealing_steps, annealing_fraction, schedule, lambda_min
    )

    def settings_for(position) -> PopulationSettings:
        dim = ravel_pytree(jax.tree.map(lambda x: x[0], position))[0].shape[0]
        return make_settings(
            int(num_warmup),
            dim,
            levels=levels,
            global_moves=global_moves,
            uturn=uturn,
            adapt_mass_matrix=adapt_mass_matrix,
            dense_mass=dense_mass,
            adapt_step_size=adapt_step_size,
            target_accept_prob=target_accept_prob,
            metropolis=metropolis,
            anneal_metropolis=anneal_metropolis,
            steps_per_draw=steps_per_draw,
            mass_rank=mass_rank,
            persistence=momentum_persistence,
        )

    kernel = build_kernel()

    def init_fn(position, rng_key: jax.Array) -> DilationLangevinState:
        num_chains = jax.tree.leaves(position)[0].shape[0]
        if num_chains < 2:
            raise ValueError(
                f"`position` must hold at least 2 chains (leading axis), got {num_chains}."
            )
        keys = random.split(rng_key, num_chains)
        settings = settings_for(position)
        return init(position, logdensity_fn, keys, settings, center=center, step_size=step_size)

    def step_fn(rng_key: jax.Array, state: DilationLangevinState):
        return kernel(rng_key, state, logdensity_fn, settings_for(state.z))

    return SamplingAlgorithm(init_fn, step_fn)


population_sampler = GenerateSamplingAPI(as_top_level_api, init, build_kernel)
"""The population algorithm for BlackJAX users: ``population_sampler(logdensity_fn,
num_warmup, ...)`` builds it (:func:`as_top_level_api`); ``population_sampler.init`` and
``population_sampler.build_kernel`` (:func:`init`, :func:`build_kernel`) are its
lower-level pieces, which take a :class:`PopulationSettings` (:func:`make_settings`).

**Example**

.. code-block:: python

    import jax
    import jax.numpy as jnp
    import numpyro_dilation as nd

    logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
    algo = nd.population_sampler(logdensity, num_warmup=100)
    state = algo.init(jnp.zeros((32, 2)), jax.random.key(0))
    step = jax.jit(algo.step)
    for key in jax.random.split(jax.random.key(1), 200):
        state, info = step(key, state)
    print(state.z.mean(axis=0), state.mixture.num_modes)  # about [3, 3], 1
"""

population_sampler.__doc__ = as_top_level_api.__doc__
population_sampler.__module__ = __name__  # documented here (autodoc skips imported objects)
