r"""Momentum persistence in the draws: each draw's transitions as generalized HMC.

A MALA step is one leapfrog step of HMC whose momentum is drawn afresh: with the whitened
noise :math:`r \sim \mathcal N(0, I)`, the inverse mass :math:`A = LL^\top` and
:math:`\varepsilon = \sqrt{2h}`,

.. math::

    y' = y + hA\nabla\log\gamma(y) + \sqrt{2h}\,Lr
       = y + \varepsilon L\bigl(r + \tfrac{\varepsilon}{2}L^\top\nabla\log\gamma(y)\bigr),
    \qquad r' = r + \tfrac{\varepsilon}{2}L^\top\bigl(\nabla\log\gamma(y) +
    \nabla\log\gamma(y')\bigr),

and MALA's Metropolis–Hastings ratio is :math:`e^{-\Delta H}` with
:math:`H = -\log\gamma(y) + \lVert r\rVert^2/2`: the reverse proposal's noise is
:math:`-r'`. Generalized HMC (Horowitz, 1991) keeps the momentum between steps instead
of drawing it afresh:

.. math::

    r \leftarrow \alpha r + \sqrt{1 - \alpha^2}\,\xi, \quad \xi \sim \mathcal N(0, I);
    \qquad \text{then the step above; on rejection } r \leftarrow -r.

Each of the three parts leaves :math:`\gamma(y)\,\mathcal N(r; 0, I)` invariant (the
refresh is an autoregression of :math:`\mathcal N(0, I)`; the step with the flip is a
reversible Metropolis–Hastings move on :math:`(y, r)` followed by an involution), so the
chain of positions is exact, as MALA is; the moves the population makes between
transitions (global, interweaving, U-turn moves) act on :math:`y` alone and keep
:math:`r`. With :math:`\alpha` = ``persistence`` near 1 the chain moves in straight
lines for about :math:`(1+\alpha)/(1-\alpha)` steps before the momentum forgets its
direction, where MALA's chain diffuses: along a direction of scale :math:`\sigma` MALA
needs about :math:`(\sigma/\varepsilon)^2` transitions, a persistent chain about
:math:`\sigma/\varepsilon`. A rejection reverses the chain, so the step is shortened
(:data:`DRAW_STEP_SCALE`) to make rejections rare.

Where. Only in the draws (:math:`\lambda = 1` after the warm-up), within each draw: the
kernel (:func:`numpyro_dilation.kernel.build_kernel`) takes the refreshed :math:`r` as its
noise and returns :math:`r'` or :math:`-r` (``DilationInfo.momentum``); a draw's first
transition draws :math:`r` afresh (:math:`\alpha = 0`), so nothing is stored between
draws, and a draw of one transition is MALA's step; the warm-up (its step-size adaptation,
its draw-length measurement) is MALA's unchanged. The draw length measured on MALA's
transitions (:mod:`numpyro_dilation.draw_length`) is divided by :data:`DRAW_LENGTH_DIVISOR`
(never below two transitions: :func:`persistent_draw_length`) where the transitions make no
other move (:func:`numpyro_dilation.draws.draw_transitions`):
global moves carry the mode weights and interweaving moves a hierarchical scale by their
number per draw, which persistence does not change (measured on the radon-like model,
64 chains: with its draws cut to a third, split :math:`\hat R` on ``sigma_a`` was 1.017
at 50 draws, 22 to 8 transitions, and 1.025 at 400, 6 to 2; with the length kept, 1.000 at
50 draws).

The constants were measured at ``persistence=0.8`` (BENCHMARKS.md, "Momentum persistence in
the draws"); other values are accepted, for experiments. No NumPyro import.
"""

import math

import jax
import jax.numpy as jnp
from blackjax.types import ArrayTree, PRNGKey
from blackjax.util import generate_gaussian_noise

__all__ = [
    "DEFAULT_PERSISTENCE",
    "DRAW_LENGTH_DIVISOR",
    "DRAW_STEP_SCALE",
    "check_persistence",
    "persistent_draw_length",
    "refresh",
]

DEFAULT_PERSISTENCE = 0.8
r"""The draws' momentum persistence :math:`\alpha` by default (the NumPyro kernel's and
:func:`~numpyro_dilation.population.population_sampler`'s ``momentum_persistence``): the
momentum forgets its direction over about :math:`(1+\alpha)/(1-\alpha) = 9` steps; 0.7
gave a lower effective sample size at the same draw length, 0.9 (with the step scaled by
0.85) a lower one too (BENCHMARKS.md, "Momentum persistence in the draws").

**Example**

.. code-block:: python

    from numpyro_dilation.persistence import DEFAULT_PERSISTENCE

    print(DEFAULT_PERSISTENCE)  # 0.8
"""

DRAW_STEP_SCALE = 0.7
r"""The draws' leapfrog step :math:`\varepsilon` as a share of the tuned MALA step's
(the step :math:`h = \varepsilon^2/2` times 0.49) when the momentum persists: acceptance
about 0.88 instead of MALA's tuned 0.6-0.7, measured on the 1000-group hierarchical model,
where 0.6 and 0.7 gave the same effective sample size and 0.85 and 1.0 less.

**Example**

.. code-block:: python

    from numpyro_dilation.persistence import DRAW_STEP_SCALE

    h = 0.2  # the tuned step
    print(h * DRAW_STEP_SCALE**2)  # 0.098: the draws' step with persistent momentum
"""

DRAW_LENGTH_DIVISOR = 3
"""With persistent momentum the measured draw length (MALA transitions per draw) is divided
by this (rounded up; never below two transitions where MALA's length is two or more:
:func:`persistent_draw_length`): measured, a draw of 8 persistent transitions has about 3 times the
effective sample size of 8 MALA transitions (hierarchical_1000; the radon-like model without
its interweaving moves), and with the defaults the 1000-group model's draws take 10
transitions instead of 31 for the same effective sample size and split R-hat.

**Example**

.. code-block:: python

    from numpyro_dilation.persistence import persistent_draw_length

    print(persistent_draw_length(31, 0.8), persistent_draw_length(31, 0.0))  # 11 31
"""


def check_persistence(persistence) -> float:
    """``persistence`` as a float in :math:`[0, 1)`; ``ValueError`` naming the argument
    otherwise.

    **Example**

    .. code-block:: python

        from numpyro_dilation.persistence import check_persistence

        print(check_persistence(0.8))  # 0.8
    """
    ok = isinstance(persistence, (int, float)) and not isinstance(persistence, bool)
    if not ok or not 0.0 <= persistence < 1.0 or math.isnan(persistence):
        raise ValueError(
            f"`momentum_persistence` must be a number in [0, 1), got {persistence!r}."
        )
    return float(persistence)


def persistent_draw_length(steps: int | jax.Array, persistence: float) -> int | jax.Array:
    """Transitions per draw with persistent momentum: ``steps`` (MALA's, measured) divided
    by :data:`DRAW_LENGTH_DIVISOR`, rounded up, but never below 2 where ``steps`` is 2 or
    more: a draw of one transition has no momentum to keep (it is MALA's step), so cutting 2
    or 3 MALA transitions to 1 halved the draw's work and lost more than that (measured:
    non-centered eight schools, 256 chains, MALA's length 2: bulk ESS of ``tau`` 16,000 and
    split R-hat 1.015 with one transition, 49,000 and 1.004 with two persistent ones,
    36,000 and 1.006 with MALA's two). ``steps`` itself when ``persistence`` is 0.

    **Example**

    .. code-block:: python

        from numpyro_dilation.persistence import persistent_draw_length

        print(persistent_draw_length(8, 0.8), persistent_draw_length(2, 0.8))  # 3 2
    """
    if persistence == 0:
        return steps
    shorter = (steps + DRAW_LENGTH_DIVISOR - 1) // DRAW_LENGTH_DIVISOR
    return jnp.minimum(steps, jnp.maximum(shorter, 2))  # 1 stays 1; 2 or more: at least 2


def refresh(
    rng_key: PRNGKey, momentum: ArrayTree, persistence: float | jax.Array
) -> ArrayTree:
    r""":math:`\alpha r + \sqrt{1-\alpha^2}\,\xi`, :math:`\xi \sim \mathcal N(0, I)`, with
    :math:`\alpha` = ``persistence`` (a scalar, traced or not) and ``momentum`` a pytree.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.persistence import refresh

        r = refresh(jax.random.key(0), jnp.ones(100_000), 0.8)
        print(r.mean(), r.var())  # about 0.8 and 0.36: 0.8 r + 0.6 xi
    """
    noise = generate_gaussian_noise(rng_key, momentum)
    keep = jnp.sqrt(1.0 - jnp.square(persistence))
    return jax.tree.map(lambda r, xi: persistence * r + keep * xi, momentum, noise)
