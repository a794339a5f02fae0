r"""Langevin kernel on the dilation path, in target coordinates (BlackJAX style).

One step at level :math:`\lambda_k` of the paper's annealed Langevin dynamics
with adaptive step size :math:`h_k = h\lambda_k`,

.. math::

    x' = x + h\lambda_k\,\nabla\log\pi_{\lambda_k}(x) + \sqrt{2h\lambda_k}\,\xi,
    \qquad \xi \sim \mathcal N(0, I),

is, in target coordinates :math:`y = c + (x - c)/\sqrt{\lambda_k}`, *exactly* one
Langevin step of size :math:`h` on the target itself:

.. math:: y' = y + h\,\nabla\log\gamma(y) + \sqrt{2h}\,\xi .

Moving from level :math:`\lambda_k` to :math:`\lambda_{k+1}` with :math:`x` held
fixed contracts :math:`y` toward the center,
:math:`y \leftarrow c + \sqrt{\lambda_k/\lambda_{k+1}}\,(y - c)`. The Jacobian
of :math:`x \mapsto y` is constant, so the Metropolis–Hastings ratio of MALA on
:math:`\pi_{\lambda}` with step :math:`h\lambda` equals that of MALA on
:math:`\gamma` with step :math:`h` in :math:`y`: adjustment, adaptation and
divergence checks all act on the target at its own scale, and nothing is
divided by :math:`\sqrt\lambda` (no float32 trouble at tiny :math:`\lambda`).

The state stores :math:`y`; the dilated particle is
:math:`x = c + \sqrt{\lambda}\,(y - c)` (:func:`dilated_position`).
:func:`build_dilated_kernel` is the same algorithm written in :math:`x`
(BlackJAX's MALA on :math:`\pi_\lambda` with step :math:`h\lambda`); it exists to
check this module step for step.
"""

from collections.abc import Callable
from typing import NamedTuple

import blackjax.mcmc.diffusions as diffusions
import blackjax.mcmc.mala as mala
import jax
import jax.numpy as jnp
from blackjax.types import ArrayLikeTree, ArrayTree, PRNGKey
from blackjax.util import generate_gaussian_noise
from jax.flatten_util import ravel_pytree

from numpyro_dilation._control import uniform_cond
from numpyro_dilation._metric import (  # interweaving and the tests import them from here
    _acceptance_log_ratio,
    _dense_metric,
    _dense_reverse_noise,
    _inverse_mass_tree,
    _reverse_noise,
)
from numpyro_dilation.low_rank import DiagonalPlusLowRank
from numpyro_dilation.path import change_level, dilated_logdensity, to_dilated
from numpyro_dilation.validation import (  # _check_center: inputs.py imports it from here
    _check_center,
    _check_level,
    _check_positive,
    _float_dtype,
)

__all__ = [
    "MAX_DELTA_ENERGY",
    "DilationState",
    "DilationInfo",
    "init",
    "build_kernel",
    "dilated_position",
    "build_dilated_kernel",
]


MAX_DELTA_ENERGY = 1000.0
"""Energy error :math:`-W` (minus the log Metropolis–Hastings ratio) above which a proposal
counts as divergent, as in NumPyro's HMC (``max_delta_energy``).

**Example**

.. code-block:: python

    import jax
    import jax.numpy as jnp
    from numpyro_dilation import kernel

    logdensity = lambda y: -0.5 * jnp.sum(y**2)  # N(0, 1)
    state = kernel.init(jnp.zeros(1), logdensity)
    _, info = kernel.build_kernel()(jax.random.key(0), state, logdensity, 1.0, 1e5)
    print(kernel.MAX_DELTA_ENERGY, info.is_divergent)  # 1000.0 True: a step of 1e5 is far too long
"""


class DilationState(NamedTuple):
    """State of one dilation-path Langevin chain.

    position
        :math:`y`, the position in target coordinates (a pytree).
    logdensity
        :math:`\\log\\gamma(y)`, the target's (unnormalized) log-density at ``position``.
    logdensity_grad
        :math:`\\nabla\\log\\gamma(y)`, same structure as ``position``.
    lam
        The level :math:`\\lambda` at which :math:`x = c + \\sqrt\\lambda (y - c)`
        is the chain's particle; scalar.
    center
        The center :math:`c` of the dilation, same structure as ``position``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation import kernel

        logdensity = lambda y: -0.5 * jnp.sum((y - 3.0) ** 2)  # N(3, I) in 2-d
        state = kernel.init(jnp.array([1.0, 2.0]), logdensity, center=jnp.zeros(2), lam=0.25)
        print(state.position, state.logdensity, state.logdensity_grad)  # [1. 2.] -2.5 [2. 1.]
        print(state.lam, state.center)  # 0.25 [0. 0.]
        print(kernel.dilated_position(state))  # [0.5 1.]: the particle x = c + sqrt(lam) (y - c)
    """

    position: ArrayTree
    logdensity: jax.Array
    logdensity_grad: ArrayTree
    lam: jax.Array
    center: ArrayTree


class DilationInfo(NamedTuple):
    """Diagnostics of one transition.

    lam
        Level :math:`\\lambda` of the transition.
    step_size
        Step :math:`h` in target coordinates (the dilated step is :math:`h\\lambda`).
    acceptance_rate
        Metropolis–Hastings acceptance probability of the Langevin proposal
        (computed even when the step is unadjusted; used for adaptation).
    is_accepted
        Whether the chain moved to the proposal.
    is_divergent
        Whether the log-density or its gradient was non-finite at the proposal
        (or at the contracted point of a level change; such points are rejected), or
        with the Metropolis step, the energy error of the proposal exceeded
        :data:`MAX_DELTA_ENERGY` (:math:`-W > 1000`, NumPyro's rule for HMC: such a
        proposal is rejected with probability :math:`1 - e^{W}`, i.e. always).
    num_grad_evals
        Gradient evaluations spent: 1 for the proposal, plus 1 when the level changed.
    momentum
        The step read as one leapfrog step of HMC (same structure as the position):
        with :math:`r` the whitened noise (:math:`\\xi`) of the proposal, the momentum after
        the step, :math:`r' = L^{-1}(y' - y + hA\\nabla\\log\\gamma(y'))/\\sqrt{2h}` if the
        proposal was accepted and :math:`-r` if not (generalized HMC's flip; MALA's ratio
        is that of this step, so :mod:`numpyro_dilation.persistence` carries it on).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel

        logdensity = lambda y: -0.5 * jnp.sum((y - 3.0) ** 2)  # N(3, I) in 2-d
        step = kernel.build_kernel()
        state = kernel.init(jnp.zeros(2), logdensity, lam=0.1)
        state, info = step(jax.random.key(0), state, logdensity, 0.2, 0.5)  # lam 0.1 -> 0.2, h 0.5
        print(info.lam, info.step_size, info.num_grad_evals)  # 0.2 0.5 2: the level changed
        print(info.acceptance_rate, info.is_accepted, info.is_divergent)  # MALA's min(1, e^W), ...
    """

    lam: jax.Array
    step_size: jax.Array
    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    num_grad_evals: jax.Array
    momentum: ArrayTree = None


def _all_finite(logdensity: jax.Array, grad: ArrayTree) -> jax.Array:
    finite = jnp.isfinite(logdensity)
    for g in jax.tree.leaves(grad):
        finite = finite & jnp.all(jnp.isfinite(g))
    return finite


def _tree_where(pred: jax.Array, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def init(
    position: ArrayLikeTree,
    logdensity_fn: Callable,
    center: ArrayLikeTree | None = None,
    lam: float = 1.0,
) -> DilationState:
    """Initialize a chain at target-coordinate ``position`` and level ``lam``.

    With ``center=None`` the center is ``position`` itself, so the particle
    :math:`x = c + \\sqrt\\lambda (y - c) = c` is the Dirac at the center. With
    an explicit center, :math:`x_0 = c + \\sqrt{\\lambda}(y_0 - c)`, which tends
    to the Dirac at :math:`c` as ``lam`` goes to 0.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel, schedules

        logdensity = lambda y: -0.5 * jnp.sum((y - 3.0) ** 2)  # N(3, I) in 2-d
        levels = schedules.linear_schedule(50, 1e-3)
        step = jax.jit(kernel.build_kernel(), static_argnums=2)
        state = kernel.init(jnp.zeros(2), logdensity, lam=levels[0])  # the Dirac at the center 0
        for k, key in enumerate(jax.random.split(jax.random.key(0), 100)):
            lam = levels[min(k, len(levels) - 1)]  # anneal for 50 steps, then sample at lambda = 1
            state, info = step(key, state, logdensity, lam, 0.5)
        print(state.lam, state.position, info.acceptance_rate)  # 1.0, a draw of N(3, I), ...
    """
    _check_level("lam", lam)
    if center is not None:
        _check_center(center, position)
    logdensity, logdensity_grad = jax.value_and_grad(logdensity_fn)(position)
    center = position if center is None else center
    lam = jnp.asarray(lam, dtype=_float_dtype(position))
    return DilationState(position, logdensity, logdensity_grad, lam, center)


def dilated_position(state: DilationState) -> ArrayTree:
    """The chain's particle :math:`x = c + \\sqrt\\lambda\\,(y - c)` in dilated coordinates.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation import kernel

        logdensity = lambda y: -0.5 * jnp.sum(y**2)  # N(0, I) in 2-d
        state = kernel.init(jnp.array([2.0, -2.0]), logdensity, center=jnp.zeros(2), lam=0.01)
        print(kernel.dilated_position(state))  # [0.2 -0.2] = c + sqrt(0.01) (y - c)
        print(kernel.dilated_position(state._replace(lam=jnp.ones(()))))  # [2. -2.]: x = y at 1
    """
    return to_dilated(state.position, state.center, state.lam)


def build_kernel() -> Callable:
    """Build the dilation-path Langevin kernel.

    Returns
    -------
    kernel
        ``kernel(rng_key, state, logdensity_fn, lam, step_size)``, with keyword arguments
        ``metropolis=True``, ``inverse_mass_matrix=None`` and ``noise=None`` (the whitened
        noise :math:`\\xi`, a pytree like the position; if ``None``, drawn with the key
        ``jax.random.split(rng_key)[0]``, so a caller that draws it from that key itself
        gets the same step),
        returning ``(DilationState, DilationInfo)``. It

    1. moves the state to level ``lam`` (contraction toward the center in
       target coordinates, one gradient evaluation; skipped when
       ``lam == state.lam``, also under ``vmap`` when all chains agree). ``lam=None``
       keeps the state's level: the level change is then not even traced, so a caller
       that never changes level (a step-size search, the U-turn explorer's MALA steps)
       does not compile a second copy of the model's gradient;
    2. proposes :math:`y' = y + h\\,v\\odot\\nabla\\log\\gamma(y) + \\sqrt{2h v}\\odot\\xi`
       with :math:`h` = ``step_size`` and :math:`v` = ``inverse_mass_matrix``
       (a diagonal preconditioner, shape ``(d,)`` in ``ravel_pytree`` order;
       ones if ``None``), or, for a dense ``(d, d)`` inverse mass :math:`A = LL^\\top`
       (BlackJAX's matrix form), :math:`y' = y + hA\\nabla\\log\\gamma(y) + \\sqrt{2h}\\,L\\xi`
       (its Cholesky factor and inverse are computed once per call: :math:`O(d^3)`, shared
       by chains that share :math:`A`; each chain's step then costs :math:`O(d^2)`), or a
       :class:`~numpyro_dilation.low_rank.DiagonalPlusLowRank` :math:`A` (the same step
       with its square root :math:`L`, :math:`O(dr)` per step). In
       dilated coordinates this is preconditioned Langevin on :math:`\\pi_\\lambda` with step
       :math:`h\\lambda` and the same preconditioner;
    3. accepts with probability :math:`\\min(1, e^{W})`, the MALA ratio, when
       ``metropolis`` is true (a bool or a traced boolean), and always otherwise
       (unadjusted Langevin). Proposals with a non-finite log-density or
       gradient are always rejected and reported as divergent.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel

        logdensity = lambda y: -0.5 * jnp.sum(y**2 / jnp.array([1.0, 0.01]))  # scales 1 and 0.1
        step = kernel.build_kernel()
        v = jnp.array([1.0, 0.01])  # diagonal preconditioner: the target's variances

        def one_step(key, state):  # MALA at lambda = 1 with h = 0.5, preconditioned by v
            return step(key, state, logdensity, 1.0, 0.5, inverse_mass_matrix=v)

        run = jax.jit(jax.vmap(one_step))
        states = jax.vmap(lambda y: kernel.init(y, logdensity))(jnp.zeros((16, 2)))  # 16 chains
        for key in jax.random.split(jax.random.key(0), 50):
            states, info = run(jax.random.split(key, 16), states)
        print(states.position.std(axis=0), info.acceptance_rate.mean())  # about [1, 0.1], ...
    """

    def kernel(
        rng_key: PRNGKey,
        state: DilationState,
        logdensity_fn: Callable,
        lam: float | None,
        step_size: float,
        metropolis: bool | jax.Array = True,
        inverse_mass_matrix: jax.Array | None = None,
        noise: ArrayTree | None = None,
    ) -> tuple[DilationState, DilationInfo]:
        if lam is not None:
            _check_level("lam", lam)
        _check_positive("step_size", step_size)
        value_and_grad = jax.value_and_grad(logdensity_fn)
        low_rank = isinstance(inverse_mass_matrix, DiagonalPlusLowRank)
        dense = low_rank or (
            inverse_mass_matrix is not None and jnp.ndim(inverse_mass_matrix) == 2
        )
        if low_rank:
            metric = inverse_mass_matrix
        elif dense:
            metric = _dense_metric(inverse_mass_matrix, state.lam.dtype)
        else:
            inverse_mass = _inverse_mass_tree(state.position, inverse_mass_matrix)
        step_size = jnp.asarray(step_size, dtype=state.lam.dtype)
        keep_level = lam is None  # the state's own level: nothing to move, nothing traced
        lam = state.lam if keep_level else jnp.asarray(lam, dtype=state.lam.dtype)

        def move_to_level(s: DilationState, lam: jax.Array):
            y = change_level(s.position, s.center, s.lam, lam)
            logdensity, grad = value_and_grad(y)
            finite = _all_finite(logdensity, grad)
            moved = DilationState(y, logdensity, grad, lam, s.center)
            # A non-finite contracted point keeps the old target-coordinate state.
            return _tree_where(finite, moved, s._replace(lam=lam)), ~finite

        def stay(s: DilationState, lam: jax.Array):
            del lam
            return s, jnp.zeros((), dtype=bool)

        if keep_level:
            level_changes = level_divergent = jnp.zeros((), dtype=bool)
        else:
            level_changes = lam != state.lam
            state, level_divergent = uniform_cond(level_changes, move_to_level, stay, state, lam)

        key_integrator, key_rmh = jax.random.split(rng_key)
        if noise is None:
            noise = generate_gaussian_noise(key_integrator, state.position)
        if dense:  # y + h A g + sqrt(2h) L xi, on the flat vector (the same xi)
            y, unravel = ravel_pytree(state.position)
            g = ravel_pytree(state.logdensity_grad)[0]
            xi = ravel_pytree(noise)[0]
            drift = step_size * metric.matvec(g)
            position = unravel(y + drift + jnp.sqrt(2 * step_size) * metric.sqrt_matvec(xi))
        else:
            position = jax.tree.map(
                lambda y, g, v, n: y + step_size * v * g + jnp.sqrt(2 * step_size * v) * n,
                state.position,
                state.logdensity_grad,
                inverse_mass,
                noise,
            )
        new = diffusions.DiffusionState(position, *value_and_grad(position))
        current = diffusions.DiffusionState(state.position, state.logdensity, state.logdensity_grad)
        # the reverse move's noise xi' gives both the ratio and the momentum r' = -xi'
        if dense:
            reverse = _dense_reverse_noise(current, new, step_size, metric)
            log_p_accept = _acceptance_log_ratio(current, new, xi, reverse)
            reverse = unravel(reverse)
        else:
            reverse = _reverse_noise(current, new, step_size, inverse_mass)
            log_p_accept = _acceptance_log_ratio(current, new, noise, reverse)
        divergent = ~_all_finite(new.logdensity, new.logdensity_grad)
        log_p_accept = jnp.where(divergent, -jnp.inf, log_p_accept)
        # with the Metropolis step only (the ratio then rejects it); NaN counts too
        energy_divergent = metropolis & ~(log_p_accept >= -MAX_DELTA_ENERGY)
        p_accept = jnp.clip(jnp.exp(log_p_accept), max=1.0)
        coin = jax.random.bernoulli(key_rmh, p_accept)
        do_accept = jnp.where(metropolis, coin, True) & ~divergent

        proposed = state._replace(
            position=new.position,
            logdensity=new.logdensity,
            logdensity_grad=new.logdensity_grad,
        )
        new_state = _tree_where(do_accept, proposed, state)
        info = DilationInfo(
            lam=lam,
            step_size=step_size,
            acceptance_rate=p_accept,
            is_accepted=do_accept,
            is_divergent=divergent | energy_divergent | level_divergent,
            num_grad_evals=1 + level_changes.astype(jnp.int32),
            momentum=jax.tree.map(jnp.negative, _tree_where(do_accept, reverse, noise)),
        )
        return new_state, info

    return kernel


def build_dilated_kernel() -> Callable:
    """The same transition written in dilated coordinates (reference implementation).

    ``kernel(rng_key, x, logdensity_fn, center, lam, step_size, metropolis=True)``
    runs BlackJAX's MALA (or its unadjusted Langevin proposal when
    ``metropolis`` is false) on :math:`\\pi_\\lambda` with step :math:`h\\lambda`
    from dilated position ``x`` and returns the new dilated position. It computes
    :math:`\\log\\pi_\\lambda` and its closed-form score at every call, so it is
    slower; with the same keys it must agree with :func:`build_kernel` step for
    step (up to rounding).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel

        logdensity = lambda y: -0.5 * jnp.sum((y - 3.0) ** 2)  # N(3, I) in 2-d
        center, lam, h, key = jnp.zeros(2), 0.25, 0.5, jax.random.key(0)
        state = kernel.init(jnp.array([1.0, 2.0]), logdensity, center=center, lam=lam)
        x = kernel.dilated_position(state)  # [0.5 1.]
        x_new = kernel.build_dilated_kernel()(key, x, logdensity, center, lam, h)
        new_state, _ = kernel.build_kernel()(key, state, logdensity, lam, h)
        print(x_new, kernel.dilated_position(new_state))  # the same particle, up to rounding
    """
    mala_kernel = mala.build_kernel()

    def kernel(
        rng_key: PRNGKey,
        x: ArrayLikeTree,
        logdensity_fn: Callable,
        center: ArrayLikeTree,
        lam: float,
        step_size: float,
        metropolis: bool = True,
    ) -> ArrayTree:
        target = dilated_logdensity(logdensity_fn, center, lam)
        state = mala.init(x, target)
        if metropolis:
            new_state, _ = mala_kernel(rng_key, state, target, step_size * lam)
            return new_state.position
        key_integrator, _ = jax.random.split(rng_key)
        integrator = diffusions.overdamped_langevin(jax.value_and_grad(target))
        return integrator(key_integrator, state, step_size * lam).position

    return kernel
