r"""The population's state: every chain's position, level, step size and monitors, and
what the chains share (the preconditioner, the mode mixture), and its construction at
iteration 0 (:func:`init_chains`, :func:`assemble_state`). Pure NamedTuples; the same
state serves the BlackJAX-level population algorithm (:mod:`numpyro_dilation.population`)
and the NumPyro kernel (:class:`~numpyro_dilation.mcmc.DilationLangevin`), whose
``last_state`` it is. The field names are NumPyro's (``z``, ``potential_energy``,
``z_grad``, ``adapt_state``), so NumPyro's ``MCMC`` collects and resumes it unchanged.
"""

import functools
from collections import namedtuple
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from numpyro_dilation.annealing import (
    AnnealingConfig,
    AnnealingState,
    annealing_init,
    first_level,
)
from numpyro_dilation.batching import map_items
from numpyro_dilation.global_moves import init_evidence
from numpyro_dilation.health import init_monitor
from numpyro_dilation.low_rank import DiagonalPlusLowRank, low_rank_size
from numpyro_dilation.modes import empty_mixture, uses_dense_covariance
from numpyro_dilation.population_settings import PopulationSettings
from numpyro_dilation.random_keys import original_layout
from numpyro_dilation.step_size import (
    dual_averaging_start,
    find_initial_step_size,
    step_size_search_proposals,
)

__all__ = [
    "DilationAdaptState",
    "DilationLangevinState",
    "assemble_state",
    "init_chains",
    "ravel_chains",
    "to_state",
    "with_inverse_mass_matrix",
]


class DilationAdaptState(
    namedtuple(
        "DilationAdaptState",
        ["step_size", "dual_averaging", "inverse_mass_matrix", "steps_per_draw", "mass_low_rank"],
        defaults=(None, None),
    )
):
    """What the warm-up adapts, with the field names of NumPyro's ``HMCAdaptState``:

    - **step_size** - step :math:`h` for the next iteration (per chain).
    - **dual_averaging** - its dual-averaging state.
    - **inverse_mass_matrix** - the preconditioner :math:`v` (flat, ``ravel_pytree``
      order): a diagonal, shape ``(d,)``, or with ``dense_mass=True`` a matrix, shape
      ``(d, d)``; shared by the chains of a vectorized run (not batched); ``None`` when
      it is not adapted (``adapt_mass_matrix=False``, or no latent site).
    - **steps_per_draw** - transitions per draw in the sampling phase (per chain, int32):
      the ``steps_per_draw`` setting, or with ``"auto"`` 1 until the end of the warm-up
      measures it (:mod:`numpyro_dilation.draw_length`).
    - **mass_low_rank** - with ``mass_rank > 0``, the
      :class:`~numpyro_dilation.low_rank.DiagonalPlusLowRank` preconditioner that the MALA
      steps use (its ``diagonal`` is ``inverse_mass_matrix``; shared by the chains);
      ``None`` otherwise. The mode finding, U-turn moves and properties below use the
      diagonal.

    Properties, as NumPyro's: **mass_matrix_sqrt** - :math:`L` with
    :math:`LL^\\top = v^{-1}` (lower Cholesky factor; elementwise :math:`v^{-1/2}` for a
    diagonal), and **mass_matrix_sqrt_inv** - :math:`L^{-1}` (:math:`v^{1/2}`); ``None``
    when ``inverse_mass_matrix`` is.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin

        def model():
            numpyro.sample("x", dist.Normal(0.0, 0.1).expand([2]))

        mcmc = MCMC(DilationLangevin(model), num_warmup=40, num_samples=20, progress_bar=False)
        mcmc.run(jax.random.key(0))
        adapt = mcmc.last_state.adapt_state  # a DilationAdaptState
        print(adapt.step_size)  # the tuned h
        print(jnp.exp(adapt.dual_averaging.log_step_size_avg))  # the same (averaged iterate)
        print(adapt.inverse_mass_matrix)  # [0.01 0.01]: the curvature's inverse, 0.1 ** 2
    """

    __slots__ = ()

    @property
    def mass_matrix_sqrt(self):
        """:math:`L` with :math:`LL^\\top = v^{-1}` (``None`` without a preconditioner)."""
        v = self.inverse_mass_matrix
        if v is None:
            return None
        if jnp.ndim(v) == 1:
            return lax.rsqrt(v)
        return jnp.linalg.cholesky(jnp.linalg.inv(v))

    @property
    def mass_matrix_sqrt_inv(self):
        """:math:`L^{-1}` (``None`` without a preconditioner)."""
        v = self.inverse_mass_matrix
        if v is None:
            return None
        if jnp.ndim(v) == 1:
            return jnp.sqrt(v)
        return jnp.linalg.inv(self.mass_matrix_sqrt)


class DilationLangevinState(
    namedtuple(
        "DilationLangevinState",
        [
            "i",
            "z",
            "potential_energy",
            "z_grad",
            "lam",
            "center",
            "accept_prob",
            "mean_accept_prob",
            "diverging",
            "num_grad_evals",
            "global_accept_prob",
            "uturn_accept_prob",
            "evidence",
            "monitor",
            "mixture",
            "adapt_state",
            "rng_key",
            "pilot_end",
        ],
        defaults=(None,),
    )
):
    """State of :class:`DilationLangevin`, one chain (batched over chains in a
    vectorized run):

    - **i** - iterations done (warm-up included; reset to 0 only by the pilot-box start's
      restart).
    - **z** - target-coordinate position :math:`y` in unconstrained space (the draw once λ = 1).
    - **potential_energy** - :math:`-\\log\\gamma(y)`.
    - **z_grad** - gradient of the potential energy at ``z``.
    - **lam** - level :math:`\\lambda` of the last transition.
    - **center** - dilation center :math:`c` (unconstrained, structure of ``z``).
    - **accept_prob** - Metropolis acceptance probability of the last proposal.
    - **mean_accept_prob** - running mean of ``accept_prob`` (reset when sampling starts).
    - **diverging** - whether the last proposal had a non-finite log-density or gradient (rejected).
    - **num_grad_evals** - gradient evaluations spent by the last iteration (1 or 2 for the
      local step, +1 for a global move, + an exact U-turn move's, + the mode finding (and
      the explorer's U-turns) once during warm-up, + the preconditioner's
      Hessian (counted as :math:`d` gradients) and step-size search at its update
      iterations; the first iteration also counts the initialization: the initial
      gradient and the first step-size search). Summed over all iterations it is the
      run's whole gradient cost.
    - **global_accept_prob** - acceptance probability of the last global move (0 if none;
      with label swaps, ``GlobalMoves(exchangeable=...)``, the larger of it and the swap's).
    - **uturn_accept_prob** - acceptance probability :math:`\\min(1, e^W)` of the last exact
      U-turn move (0 if none; see ``uturn``).
    - **evidence** - :class:`~numpyro_dilation.global_moves.EvidenceAccumulator` of the
      global-move proposals' importance weights (for :func:`log_evidence`).
    - **monitor** - :class:`~numpyro_dilation.health.RunMonitor`: running statistics of the
      chain's draws at :math:`\\lambda = 1` in the current phase (warm-up, or one ``run``'s
      draws), from which the end of each phase checks the run (:mod:`numpyro_dilation.health`).
    - **mixture** - :class:`~numpyro_dilation.mode_mixture.ModeMixture` of the modes found at
      the end of warm-up, shared by all chains of a vectorized run (not batched); ``None`` when
      global moves are off.
    - **adapt_state** - :class:`DilationAdaptState` (``step_size``, ``dual_averaging``,
      ``inverse_mass_matrix``, as in NumPyro's ``HMCAdaptState``).
    - **rng_key** - random key for the next iteration.
    - **pilot_end** - with the pilot-box start (:mod:`numpyro_dilation.starts`), the
      iteration at which the pilot pass ends and the chains restart, then -1 (int32, per
      chain); ``None`` without it.

    Properties: **num_steps** - ``num_grad_evals`` under the name NumPyro's HMC and NUTS
    states give their cost per iteration, so ``extra_fields=("num_steps",)`` works as
    with ``NUTS`` (a MALA step is one gradient); **inverse_mass_matrix** -
    ``adapt_state.inverse_mass_matrix``, the preconditioner.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin

        def model():
            numpyro.sample("x", dist.Normal(1.0, 2.0).expand([2]))

        mcmc = MCMC(DilationLangevin(model), num_warmup=40, num_samples=20, num_chains=4,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        state = mcmc.last_state  # a DilationLangevinState, batched over the 4 chains
        print(state.i, state.lam, state.z["x"].shape)  # [60 60 60 60] [1. 1. 1. 1.] (4, 2)
        print(state.mean_accept_prob, state.adapt_state.step_size)  # acceptance and h, per chain
        print(state.mixture.num_modes, state.inverse_mass_matrix)  # 1 [4. 4.]: shared by the chains
    """

    __slots__ = ()

    @property
    def num_steps(self):
        """Gradient evaluations of the last iteration (``num_grad_evals``)."""
        return self.num_grad_evals

    @property
    def inverse_mass_matrix(self):
        """The preconditioner, ``adapt_state.inverse_mass_matrix``."""
        return self.adapt_state.inverse_mass_matrix

    @property
    def step_inverse_mass(self):
        """The inverse mass of the MALA steps: ``adapt_state.mass_low_rank`` if set, else
        ``adapt_state.inverse_mass_matrix``."""
        low_rank = self.adapt_state.mass_low_rank
        return self.adapt_state.inverse_mass_matrix if low_rank is None else low_rank


def with_inverse_mass_matrix(state, v, low_rank=None):
    """``state`` (a :class:`DilationLangevinState`) with
    ``adapt_state.inverse_mass_matrix = v`` and ``adapt_state.mass_low_rank = low_rank``
    (the preconditioner has one owner, the adaptation state).

    **Example**

    .. code-block:: python

        from collections import namedtuple

        import jax.numpy as jnp
        from numpyro_dilation.population_state import DilationAdaptState, with_inverse_mass_matrix

        S = namedtuple("S", ["adapt_state"])  # any NamedTuple with an ``adapt_state`` field
        s = with_inverse_mass_matrix(S(DilationAdaptState(0.1, None, None)), jnp.ones(2))
        print(s.adapt_state.inverse_mass_matrix)  # [1. 1.]
    """
    return state._replace(
        adapt_state=state.adapt_state._replace(inverse_mass_matrix=v, mass_low_rank=low_rank)
    )


def ravel_chains(z):
    """Flatten batched positions (leading axis: chains) to shape ``(C, d)``, in
    ``ravel_pytree`` order; also return the one-chain ``unravel``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.population_state import ravel_chains

        flat, unravel = ravel_chains({"a": jnp.zeros((4, 2)), "b": jnp.ones(4)})
        print(flat.shape, unravel(flat[0])["a"].shape)  # (4, 3) (2,)
    """
    one_chain = jax.tree.map(lambda x: x[0], z)
    _, unravel_one = ravel_pytree(one_chain)
    flat = jax.vmap(lambda zc: ravel_pytree(zc)[0])(z)
    return flat, unravel_one


def to_state(
    astate: AnnealingState, inverse_mass_matrix, steps_per_draw=None, mass_low_rank=None,
    **fields,
) -> DilationLangevinState:
    """The :class:`~numpyro_dilation.population_state.DilationLangevinState` of an
    annealed chain (NumPyro's sign conventions: potential energy and its gradient).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.annealing import AnnealingConfig, annealing_init
        from numpyro_dilation.population_state import to_state

        config = AnnealingConfig(levels=jnp.ones(1), num_adaptation_steps=0)
        astate = annealing_init(jnp.ones(2), lambda x: -0.5 * jnp.sum(x**2), config, 0.1)
        state = to_state(astate, None, accept_prob=0.0, mean_accept_prob=0.0, diverging=False,
                         num_grad_evals=1, global_accept_prob=0.0, uturn_accept_prob=0.0,
                         evidence=None, monitor=None, mixture=None, rng_key=None)
        print(state.potential_energy, state.z_grad)  # 1.0 [1. 1.]
    """
    d = astate.dilation
    return DilationLangevinState(
        i=astate.iteration,
        z=d.position,
        potential_energy=-d.logdensity,
        z_grad=jax.tree.map(jnp.negative, d.logdensity_grad),
        lam=d.lam,
        center=d.center,
        adapt_state=DilationAdaptState(
            astate.step_size,
            astate.adaptation,
            inverse_mass_matrix,
            jnp.ones_like(astate.iteration) if steps_per_draw is None else steps_per_draw,
            mass_low_rank,
        ),
        **fields,
    )


def init_chains(
    position,
    logdensity_fn: Callable,
    step_keys: jax.Array,
    settings: PopulationSettings,
    *,
    center=None,
    step_size: float | None = None,
    batched: bool = True,
) -> tuple[AnnealingState, jax.Array]:
    """Every chain's :class:`~numpyro_dilation.annealing.AnnealingState` at iteration 0
    and the gradients spent on it (the initial gradient and the step-size search, whose
    keys are ``step_keys``); :func:`init` without the shared parts. Without ``step_size``
    each chain searches its :math:`h`, unless iteration 0 does it with the first
    preconditioner (the defaults): then that search starts from :math:`h = 1`.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population_state import assemble_state, init_chains
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        settings = make_settings(60, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        astate, grads = init_chains(jnp.zeros((8, 2)), logdensity, keys, settings)
        state = assemble_state(astate, grads, keys, settings, True)  # what init returns
        print(astate.dilation.lam[0], grads[0] >= 1)  # 0.001 True
    """
    config = settings.config
    if step_size is None and settings.mass_schedule[:1] == (0,) and config.adapt_step_size:
        step_size = 1.0  # iteration 0's preconditioner update finds h (from this start)
    program = _init_program(
        logdensity_fn, first_level(config), config.target_accept_prob, step_size,
        settings.one_chain_at_a_time, batched,
    )  # fmt: skip
    step_keys = original_layout(step_keys)  # half the hashing (numpyro_dilation.random_keys)
    if not batched:
        return program(position, step_keys, center)
    astate, init_grads = program(position, step_keys, center)
    # vmapped, the search's while loop runs until the slowest chain stops, and
    # every chain evaluates its gradient at each of those iterations
    return astate, jnp.broadcast_to(jnp.max(init_grads), init_grads.shape)


def _init_program(
    logdensity_fn: Callable,
    lambda_0: float,
    target_accept_prob: float,
    step_size: float | None,
    one_at_a_time: bool,
    batched: bool,
) -> Callable:
    """The jitted per-chain initialization ``(position, step_keys, center) -> (astate,
    grads)``, one per set of arguments (a few kept, so that calls with the same
    log-density reuse one compiled program; the pilot-box start's restart calls it inside
    the run's loop, where it is part of that program). It reads only
    the first level and the step-size target, the parts of a configuration that
    :func:`~numpyro_dilation.annealing.annealing_init` uses."""
    key = (logdensity_fn, lambda_0, target_accept_prob, step_size, one_at_a_time, batched)
    try:
        return _cached_init_program(*key)
    except TypeError:  # an unhashable argument: build it afresh
        return _build_init_program(*key)


def _build_init_program(logdensity_fn, lambda_0, target_accept_prob, step_size,
                        one_at_a_time, batched):  # fmt: skip
    config = AnnealingConfig(
        levels=np.asarray([lambda_0]), num_adaptation_steps=0,
        target_accept_prob=target_accept_prob,
    )  # fmt: skip

    def init_one(z, key, c):
        state = annealing_init(z, logdensity_fn, config, 1.0, c)
        grads = jnp.ones((), jnp.int32)  # the gradient at the initial point
        if step_size is None:
            h = find_initial_step_size(
                key, state.dilation, logdensity_fn, config.target_accept_prob
            )
            grads = grads + step_size_search_proposals(1.0, h)
        else:
            h = step_size
        h = jnp.asarray(h, dtype=state.step_size.dtype)
        adaptation = dual_averaging_start(config.target_accept_prob, h)
        return state._replace(step_size=h, adaptation=adaptation), grads

    if not batched:
        return jax.jit(init_one)

    def init_all(position, keys, center):
        return map_items(lambda z, k: init_one(z, k, center), one_at_a_time)(position, keys)

    return jax.jit(init_all)


# a few kept: they hold the models' data
_cached_init_program = functools.lru_cache(maxsize=4)(_build_init_program)


def assemble_state(
    astate: AnnealingState,
    init_grads: jax.Array,
    rng_key: jax.Array,
    settings: PopulationSettings,
    batched: bool,
) -> DilationLangevinState:
    """The population state around initialized chains ``astate``
    (:class:`~numpyro_dilation.annealing.AnnealingState`, batched when ``batched``):
    empty mixture, identity preconditioner, fresh evidence and monitors.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.population_state import assemble_state, init_chains
        from numpyro_dilation.population_settings import make_settings

        logdensity = lambda x: -0.5 * jnp.sum((x - 3.0) ** 2)  # N(3, I) in 2-d
        settings = make_settings(60, 2)
        keys = jax.random.split(jax.random.key(0), 8)
        astate, grads = init_chains(jnp.zeros((8, 2)), logdensity, keys, settings)
        state = assemble_state(astate, grads, keys, settings, True)
        print(state.mixture.num_modes, state.inverse_mass_matrix)  # 0 [1. 1.]
    """
    spec = (settings.global_moves, settings.adapt_mass_matrix or settings.dense_mass,
            settings.dense_mass, settings.mass_rank, settings.steps_per_draw or 1, batched)
    try:  # one program, cached (op by op: ~25 small programs, 0.5 s of compilation on arK)
        hash(spec)
    except TypeError:  # an unhashable setting: op by op
        return _assemble(astate, init_grads, rng_key, spec)
    return _assemble_jit(astate, init_grads, rng_key, spec)


def _assemble(astate, init_grads, rng_key, spec) -> DilationLangevinState:
    gm, adapt_mass, dense_mass, mass_rank, steps_per_draw, batched = spec
    zero = jnp.zeros_like(astate.dilation.logdensity)
    position = astate.dilation.position
    flat = ravel_pytree(jax.tree.map(lambda x: x[0], position) if batched else position)[0]
    dim = flat.shape[0]
    mixture = inverse_mass_matrix = None
    if batched and gm is not None and dim > 0:
        mixture = empty_mixture(dim, gm.max_modes, flat.dtype, gm.tail_weight, gm.tail_dof,
                                uses_dense_covariance(gm, dim))  # fmt: skip
    if adapt_mass and dim > 0:
        inverse_mass_matrix = jnp.eye(dim, dtype=flat.dtype) if dense_mass else jnp.ones_like(flat)
    rank = low_rank_size(mass_rank, zero.shape[0] if batched else 1, dim)
    low_rank = None
    if rank > 0 and inverse_mass_matrix is not None:  # the identity until the first update
        low_rank = DiagonalPlusLowRank(
            inverse_mass_matrix, jnp.eye(dim, rank, dtype=flat.dtype), jnp.zeros(rank, flat.dtype)
        )
    swaps = gm is not None and gm.exchangeable is not None
    evidence = jax.tree.map(  # with label swaps, the modified harmonic mean's reverse weights
        lambda x: jnp.broadcast_to(x, zero.shape), init_evidence(zero.dtype, reverse=swaps)
    )
    monitor = jax.tree.map(
        lambda x: jnp.broadcast_to(x, zero.shape + x.shape), init_monitor(dim, flat.dtype)
    )
    return to_state(
        astate, inverse_mass_matrix, jnp.full_like(astate.iteration, steps_per_draw), low_rank,
        accept_prob=zero, mean_accept_prob=zero, diverging=jnp.zeros(zero.shape, dtype=bool),
        num_grad_evals=init_grads, global_accept_prob=zero, uturn_accept_prob=zero,
        evidence=evidence, monitor=monitor, mixture=mixture, rng_key=rng_key,
    )  # fmt: skip


_assemble_jit = jax.jit(_assemble, static_argnums=3)
