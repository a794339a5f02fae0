r"""Step size: its checks, the search for a first step, and dual averaging, in one place.

The step :math:`h` is in target coordinates (the dilated step at level :math:`\lambda` is
:math:`h\lambda`, see :mod:`numpyro_dilation.kernel`); it is tuned on the Metropolis
acceptance probability :math:`\alpha(h) = \min(1, e^{W})` of one MALA proposal.

**A first step** (:func:`find_initial_step_size`, the heuristic of Hoffman & Gelman, 2014,
BlackJAX's :func:`~blackjax.adaptation.step_size.find_reasonable_step_size`). From
:math:`h_0`, with target :math:`\delta` (``target_accept_prob``), try

.. math:: h_{j+1} = 2^{s_j} h_j, \qquad s_j = +1 \ \text{if}\ \alpha(h_j) > \delta,
   \ \text{else}\ -1,

doubling while proposals are accepted more often than :math:`\delta` and halving while
less, from the same position, until the direction :math:`s_j` changes (the acceptance
crossed :math:`\delta`); the last step tried is returned. It lies a power of two from
:math:`h_0`, so the search cost :math:`n = 1 + |\log_2(h/h_0)|` proposals
(:func:`step_size_search_proposals`).

**Dual averaging** (Nesterov, 2009; Hoffman & Gelman, 2014, §3.2.1; BlackJAX's
:func:`~blackjax.adaptation.step_size.dual_averaging_adaptation`, with :math:`t_0 = 10`,
:math:`\gamma = 0.05`, :math:`\kappa = 0.75`). With :math:`x = \log h`,
:math:`\mu = \log(10 h_1)` for the step :math:`h_1` it starts from
(``dual_averaging_start``) and :math:`\alpha_t` the acceptance probability of
iteration :math:`t = 1, 2, \dots`,

.. math::

    \bar H_t = \Big(1 - \frac{1}{t + t_0}\Big)\bar H_{t-1} + \frac{\delta - \alpha_t}{t + t_0},
    \qquad x_{t+1} = \mu - \frac{\sqrt t}{\gamma}\,\bar H_t,

    \bar x_{t+1} = t^{-\kappa} x_t + (1 - t^{-\kappa})\,\bar x_t .

Its target is :math:`\mathbb E[\alpha] = \delta`: the iterates drive the average error
:math:`\bar H_t` to 0, and the averaged :math:`\exp(\bar x_t)` converges to a step with
mean acceptance :math:`\delta` (default ``DEFAULT_TARGET_ACCEPT_PROB``, MALA's optimal
0.574). During adaptation the chain runs with :math:`h = e^{x_t}`; at the end
(``dual_averaging_update``) :math:`h` is fixed at :math:`e^{\bar x}`: at the end of the
warm-up, or earlier at ``AnnealingConfig.step_size_fixed_from`` (the population sampler
with ``steps_per_draw="auto"``, so that the draw length is measured at the draws' step).
The annealing restarts the averaging (:math:`\mu` from the current step) when the
annealing ends, so the final :math:`h` is tuned at :math:`\lambda = 1`.
"""

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from blackjax.adaptation.step_size import (
    DualAveragingAdaptationState,
    dual_averaging_adaptation,
    find_reasonable_step_size,
)
from blackjax.types import PRNGKey

from numpyro_dilation import kernel as dilation_kernel
from numpyro_dilation.kernel import DilationState
from numpyro_dilation.validation import _traced_scalar

__all__ = [
    "cap_at_median",
    "find_initial_step_size",
    "step_size_search_proposals",
    "check_step_size",
]

DEFAULT_TARGET_ACCEPT_PROB = 0.574
"""MALA's asymptotically optimal acceptance rate (Roberts & Rosenthal, 1998)."""


def check_step_size(value: float) -> None:
    """Raise ``ValueError`` unless the step size is a finite positive number,
    :math:`h \\in (0, \\infty)`.

    **Example**

    .. code-block:: python

        from numpyro_dilation.step_size import check_step_size

        check_step_size(0.1)  # valid: returns None
        try:
            check_step_size(-0.1)
        except ValueError as err:
            print(err)  # `step_size` must be a finite number > 0, got -0.1.
    """
    if _traced_scalar(value):
        return
    try:
        ok = math.isfinite(float(value)) and float(value) > 0.0
    except (TypeError, ValueError):
        ok = False
    if not ok or isinstance(value, (bool, str, bytes)):
        raise ValueError(f"`step_size` must be a finite number > 0, got {value!r}.")


def dual_averaging_start(target_accept_prob: float, step_size: jax.Array):
    """BlackJAX's dual-averaging state started at ``step_size``, every field strongly typed.

    :func:`blackjax.adaptation.step_size.dual_averaging_adaptation`'s ``init`` fills
    ``log_x_avg``, ``step`` and ``avg_error`` with Python scalars (weakly typed); after
    one update they are strongly typed, so a compiled step taking the state would be
    traced and compiled twice (the first call's inputs differ in type from the rest).
    """
    da_init, _, _ = dual_averaging_adaptation(target_accept_prob)
    state = da_init(step_size)
    dtype = jnp.result_type(state.log_step_size)

    def strong(x):
        kind = jnp.int32 if jnp.issubdtype(jnp.result_type(x), jnp.integer) else dtype
        return jnp.asarray(x, dtype=kind)

    return jax.tree.map(strong, state)


def dual_averaging_update(
    adaptation: DualAveragingAdaptationState,
    step_size: jax.Array,
    acceptance_rate: jax.Array,
    iteration: jax.Array,
    target_accept_prob: float,
    num_adaptation_steps: int,
    restart_at: int,
) -> tuple[DualAveragingAdaptationState, jax.Array]:
    """One iteration of dual averaging: ``(adaptation, step_size)`` for the next transition.

    ``iteration`` :math:`t` (0-based) has just run with ``step_size`` and ``acceptance_rate``.
    The state is updated while :math:`t < W` (``num_adaptation_steps``); after iteration
    ``restart_at - 1`` (the end of the annealing, if before :math:`W`) the averaging restarts
    from the current step; the next step is :math:`e^{x}` while :math:`t + 1 < W`, the
    averaged :math:`e^{\\bar x}` at :math:`t + 1 = W`, and ``step_size`` after that.
    """
    _, da_update, _ = dual_averaging_adaptation(target_accept_prob)
    t, num_adapt = iteration, num_adaptation_steps
    adapting = t < num_adapt
    updated = da_update(adaptation, acceptance_rate)
    adaptation = jax.tree.map(lambda a, b: jnp.where(adapting, a, b), updated, adaptation)
    # Restart the averaging when annealing ends, so the final h is tuned at λ = 1.
    restart = (t + 1 == restart_at) & (restart_at < num_adapt)
    restarted = dual_averaging_start(target_accept_prob, jnp.exp(adaptation.log_step_size))
    adaptation = jax.tree.map(lambda a, b: jnp.where(restart, a, b), restarted, adaptation)
    new_step_size = jnp.where(
        t + 1 < num_adapt,
        jnp.exp(adaptation.log_step_size),
        jnp.where(t + 1 == num_adapt, jnp.exp(adaptation.log_step_size_avg), step_size),
    ).astype(step_size.dtype)
    return adaptation, new_step_size


def cap_at_median(step_size: jax.Array) -> jax.Array:
    r"""The chains' draws' steps, each capped at their median:
    :math:`h_c \leftarrow \min(h_c, \operatorname{median}_{c'} h_{c'})` (``step_size`` of
    shape ``(C,)``; the same shape back; non-finite steps are ignored by the median and left
    as they are).

    **Why.** Each chain's dual averaging ends at a step tuned where *that chain* spent its
    warm-up; on a unimodal posterior the chains' steps then differ by noise and region alone
    (5–95% quantiles 0.23 to 0.69 on posteriordb's eight_schools_noncentered, 256 chains).
    A chain whose warm-up stayed where the posterior is easy ends with one of the largest
    steps, and where its draws then reach a harder region (a funnel's tail) every proposal
    can be rejected: measured on that posterior (256 × (300 + 100), keys 0 and 2), one chain
    with a step 1.55× the median sat at :math:`\tau = 23.7` through all its draws, the run's
    split :math:`\hat R` on ``tau`` 1.027 and 1.022 and bulk ESS 6,580 and 9,163. With the
    steps capped at the median, no chain stuck, :math:`\hat R` 1.012 and 1.009, ESS 12,962
    and 14,732; on arK, the logistic regression and hierarchical_1000 of the real-model suite
    the cap changed neither (same draw length, :math:`\hat R` and ESS within 2%). A chain
    whose step is below the median keeps it (a narrow mode's chains keep their small steps).
    The population sampler applies it once, when the steps are fixed for the draws.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.step_size import cap_at_median

        print(cap_at_median(jnp.array([0.2, 0.4, 0.5, 0.9, jnp.nan])))  # [0.2 0.4 0.45 0.45 nan]
    """
    median = jnp.nanmedian(step_size)
    return jnp.where(step_size > median, median, step_size).astype(step_size.dtype)


_kernel = dilation_kernel.build_kernel()


def find_initial_step_size(
    rng_key: PRNGKey,
    state: DilationState,
    logdensity_fn: Callable,
    target_accept_prob: float = DEFAULT_TARGET_ACCEPT_PROB,
    initial_step_size: float = 1.0,
    inverse_mass_matrix: jax.Array | None = None,
) -> jax.Array:
    """A first step size :math:`h` at ``state``'s position and level.

    Doubles or halves :math:`h` until the MALA acceptance probability of one
    proposal crosses ``target_accept_prob`` (BlackJAX's
    :func:`~blackjax.adaptation.step_size.find_reasonable_step_size`, the
    heuristic of Hoffman & Gelman, 2014). Dual averaging refines it.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel
        from numpyro_dilation.step_size import find_initial_step_size

        logdensity = lambda y: -0.5 * jnp.sum(y**2 / jnp.array([1.0, 0.01]))  # scales 1 and 0.1
        state = kernel.init(jnp.array([0.5, 0.05]), logdensity)  # a chain at lambda = 1
        h = find_initial_step_size(jax.random.key(0), state, logdensity)
        v = jnp.array([1.0, 0.01])  # diagonal preconditioner: the target's variances
        h_v = find_initial_step_size(jax.random.key(0), state, logdensity, inverse_mass_matrix=v)
        print(h, h_v)  # 0.0078 (the narrow coordinate sets h), 2.0 (with v it does not)
    """

    def kernel_generator(step_size):
        def kernel(key, s):
            return _kernel(key, s, logdensity_fn, None, step_size, True, inverse_mass_matrix)

        return kernel

    step_size = find_reasonable_step_size(
        rng_key,
        kernel_generator,
        state,
        jnp.asarray(initial_step_size, dtype=state.lam.dtype),
        target_accept_prob,
    )
    return step_size


def step_size_search_proposals(
    initial_step_size: jax.Array | float, step_size: jax.Array
) -> jax.Array:
    r"""Number of MALA proposals (one gradient each) that
    :func:`find_initial_step_size` spent to go from ``initial_step_size``
    :math:`h_0` to the returned ``step_size`` :math:`h`.

    The search tries :math:`h_0` first, then keeps doubling (or halving) until the
    acceptance probability crosses the target; it returns the last step size
    tried. So :math:`h = h_0\,2^{\pm(n-1)}` after :math:`n` proposals, and

    .. math:: n = 1 + |\log_2(h / h_0)|

    (exact: the step sizes differ by powers of two). Shapes broadcast; returns ``int32``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.step_size import step_size_search_proposals

        print(step_size_search_proposals(1.0, 0.125))  # 4: tried 1, 0.5, 0.25, 0.125
    """
    h0 = jnp.asarray(initial_step_size)
    ratio = jnp.abs(jnp.log2(jnp.asarray(step_size) / h0))
    ratio = jnp.where(jnp.isfinite(ratio), ratio, 0.0)
    return (1 + jnp.round(ratio)).astype(jnp.int32)
