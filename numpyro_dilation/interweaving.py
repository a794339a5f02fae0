r"""Interweaving moves: a random-walk step in a non-centered site's centered coordinates.

A non-centered site samples :math:`\zeta` and returns
:math:`a = \mathrm{loc}(\theta) + \mathrm{scale}(\theta)\,\zeta` (NumPyro's
``LocScaleReparam(centered=0)``; :math:`\theta` the model's other coordinates). Where the
data pin each :math:`a` (many observations per group) the non-centered posterior of
:math:`(\theta, \zeta)` has a narrow ridge: at a scale far above the posterior's the
:math:`\zeta` are confined to :math:`\approx a/\mathrm{scale}`, MALA's step shrinks there
and a chain that the annealing left there stays (measured on the radon-like model of the
real-model suite: two of 256 chains at ``sigma_a`` 3.7 and 1.2, the posterior's
0.23 ± 0.04, with step sizes 0.008 and 0.006 of the chains' median, all through sampling).

The move (the ancillarity-sufficiency interweaving of Yu and Meng, 2011, as Metropolis
steps) holds the centered values :math:`a` fixed and updates :math:`\theta`, one
coordinate :math:`j` at a time (:data:`NUM_UPDATES` random coordinates per move):

.. math::

    \theta'_j = \theta_j + u\,\sqrt{v_j}\,\varepsilon, \qquad
    \zeta' = \frac{a - \mathrm{loc}(\theta')}{\mathrm{scale}(\theta')}, \qquad
    \alpha = \min\Bigl(1, \frac{\pi(\theta', \zeta')\,J(\theta')}
    {\pi(\theta, \zeta)\,J(\theta)}\Bigr),
    \quad J = \Bigl|\det\frac{\partial\zeta}{\partial a}\Bigr| = \prod \mathrm{scale}^{-1}.

:math:`\pi(\theta, \zeta)\,J` is the density of :math:`(\theta, a)`, the *centered*
parameterization of the same posterior, so each update is random-walk Metropolis on
:math:`\pi_C(\theta \mid a)` and keeps :math:`\pi`. In centered coordinates a chain at a
far too large scale sees the conditional of the scale and location given :math:`a` (sharp
where the data are strong) and returns in a few accepted steps. :math:`v_j`: the
preconditioner's diagonal (the marginal posterior variance); :math:`u` log-uniform on
[:data:`MIN_SCALE`, :data:`MAX_SCALE`], drawn afresh for each update: a scale independent of
the state keeps the move reversible and needs no adaptation, and a stranded chain's
location can be 80 marginal standard deviations from where :math:`a` puts it (measured on
the radon-like model: ``mu_a`` at −1.8 where the posterior is 1.53 ± 0.04). One coordinate
at a time, because the other coordinates' conditionals stay narrow while one jumps.

Cost per move: :data:`NUM_UPDATES` evaluations of :math:`\log\pi`, one more of
``decentered`` than that, one of ``centered``, and one gradient of :math:`\log\pi` at the
end; memory :math:`O(d)` per
chain. The population makes one move after every transition (the draw length is measured
on transitions that include it), at every level: the state's position is in target
coordinates, where every level's MALA step targets :math:`\pi` itself
(:mod:`numpyro_dilation.kernel`), so the move is one more :math:`\pi`-invariant step there.
Measured on the radon-like model (``python -m benchmarks.models --preset small --only
radon_varying_intercept``): no chain left at ``sigma_a`` > 0.5 at the warm-up's end (15
without the move, same key), the posterior matched (sd ratios 0.98-1.03, R-hat 1.007).

Positions are dictionaries (NumPyro's unconstrained sites): ``centered(z)`` returns, for
each non-centered entry of ``z`` (its key, e.g. ``"a_decentered"``), the centered values
:math:`a`; ``decentered(z, a)`` returns the :math:`\zeta` for the other entries of ``z``
and :math:`a`, and :math:`\log J`. :func:`numpyro_dilation.reparam.interweaving` builds
them for a NumPyro model.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import random
from jax.flatten_util import ravel_pytree

from numpyro_dilation.kernel import _inverse_mass_tree

__all__ = ["MAX_SCALE", "MIN_SCALE", "NUM_UPDATES", "Interweaving", "interweaving_move"]

MIN_SCALE = 0.05
r"""Smallest :math:`u` of the move's step :math:`u\sqrt{v_j}` (log-uniform on
``[MIN_SCALE, MAX_SCALE]``).

**Example**

.. code-block:: python

    from numpyro_dilation.interweaving import MIN_SCALE

    print(MIN_SCALE)  # 0.05
"""

NUM_UPDATES = 4
"""Coordinates updated per move (each a random-walk Metropolis step on the centered
log-density, a log-density evaluation; one gradient at the end).

**Example**

.. code-block:: python

    from numpyro_dilation.interweaving import NUM_UPDATES

    print(NUM_UPDATES)  # 4
"""

MAX_SCALE = 100.0
r"""Largest :math:`u` of the move's step :math:`u\sqrt{v_j}`.

**Example**

.. code-block:: python

    from numpyro_dilation.interweaving import MAX_SCALE

    print(MAX_SCALE)  # 100.0
"""


class Interweaving(NamedTuple):
    """The maps between a position's non-centered and centered coordinates (module
    docstring). Positions are dictionaries.

    - **centered** - ``z -> a``: a dictionary keyed by the non-centered entries of ``z``,
      holding their centered values (same shapes).
    - **decentered** - ``(z, a) -> (zeta, log_det)``: the non-centered values (keyed as
      ``a``) for the other entries of ``z`` and the centered values ``a``, and
      :math:`\\log|\\det \\partial\\zeta/\\partial a|` (a scalar).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.interweaving import Interweaving

        # theta = tau * zeta with log_tau = z["log_tau"]: a = exp(log_tau) * zeta
        iw = Interweaving(
            centered=lambda z: {"zeta": jnp.exp(z["log_tau"]) * z["zeta"]},
            decentered=lambda z, a: (
                {"zeta": a["zeta"] * jnp.exp(-z["log_tau"])},
                -z["log_tau"] * a["zeta"].size,
            ),
        )
        z = {"log_tau": jnp.array(1.0), "zeta": jnp.ones(3)}
        print(iw.centered(z)["zeta"])  # [2.718 2.718 2.718]
    """

    centered: Callable
    decentered: Callable


def interweaving_move(
    rng_key: jax.Array,
    z: dict,
    logdensity: jax.Array,
    grad: dict,
    logdensity_fn: Callable,
    interweaving: Interweaving,
    inverse_mass_matrix: jax.Array | None = None,
) -> tuple[dict, jax.Array, dict, jax.Array, jax.Array]:
    """One interweaving move of one chain (module docstring) from ``z`` with its
    ``logdensity`` and ``grad``; ``inverse_mass_matrix``: the preconditioner (``(d,)``,
    ``(d, d)`` whose diagonal is used, or ``None``: ones). Returns ``(z, logdensity, grad,
    mean acceptance probability, diverging)``: a proposal with a non-finite log-density is
    rejected (the step lengths reach 100 scales by design); a move whose final position has
    a non-finite log-density gradient is undone and reported as diverging; with no update
    accepted ``z`` is returned exactly as it was.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.interweaving import Interweaving, interweaving_move

        # prior of tau ~ LogNormal(0, 1), zeta ~ N(0, 1) (3 of them), non-centered
        def logdensity(z):
            return -0.5 * z["log_tau"] ** 2 - 0.5 * jnp.sum(z["zeta"] ** 2)

        iw = Interweaving(
            centered=lambda z: {"zeta": jnp.exp(z["log_tau"]) * z["zeta"]},
            decentered=lambda z, a: ({"zeta": a["zeta"] * jnp.exp(-z["log_tau"])},
                                     -3 * z["log_tau"]),
        )
        z = {"log_tau": jnp.array(3.0), "zeta": jnp.full(3, 0.01)}  # far out, a = 0.2
        ld, grad = jax.value_and_grad(logdensity)(z)
        for key in jax.random.split(jax.random.key(0), 200):
            z, ld, grad, p, _ = interweaving_move(key, z, ld, grad, logdensity, iw)
        print(z["log_tau"] < 1.0)  # True: back where a = 0.2 puts the scale
    """
    a = interweaving.centered(z)
    theta_keys = [k for k in z if k not in a]
    if not theta_keys:  # nothing but non-centered sites: nothing to move
        return z, logdensity, grad, jnp.zeros_like(logdensity), jnp.zeros((), bool)
    if inverse_mass_matrix is not None and jnp.ndim(inverse_mass_matrix) == 2:
        inverse_mass_matrix = jnp.diagonal(inverse_mass_matrix)
    v = _inverse_mass_tree(z, inverse_mass_matrix)
    flat, unravel = ravel_pytree({k: z[k] for k in theta_keys})
    flat_v = ravel_pytree({k: v[k] for k in theta_keys})[0]

    def centered_logdensity(theta_flat):  # z with theta and the zeta that keep a; its
        theta = unravel(theta_flat)  # log-density in centered coordinates
        zeta, log_det = interweaving.decentered({**z, **theta}, a)
        new_z = {k: (theta[k] if k in theta else zeta[k]) for k in z}  # z's key order
        value = logdensity_fn(new_z) + log_det
        return new_z, jnp.where(jnp.isfinite(value), value, -jnp.inf)

    def update(carry, key):  # one coordinate, a random-walk Metropolis step
        theta_flat, current, value, moved = carry
        key_index, key_scale, key_step, key_accept = random.split(key, 4)
        j = random.randint(key_index, (), 0, theta_flat.shape[0])
        log_u = random.uniform(key_scale, minval=jnp.log(MIN_SCALE), maxval=jnp.log(MAX_SCALE))
        step = jnp.exp(log_u) * jnp.sqrt(flat_v[j]) * random.normal(key_step, (), flat.dtype)
        proposal = theta_flat.at[j].add(step.astype(flat.dtype))
        new_z, new_value = centered_logdensity(proposal)
        log_ratio = new_value - value
        accept = jnp.log(random.uniform(key_accept)) < log_ratio
        p = jnp.exp(jnp.minimum(jnp.where(jnp.isnan(log_ratio), -jnp.inf, log_ratio), 0.0))
        theta_flat = jnp.where(accept, proposal, theta_flat)
        current = jax.tree.map(lambda x, y: jnp.where(accept, x, y), new_z, current)
        return (theta_flat, current, jnp.where(accept, new_value, value), moved | accept), p

    # the current point's centered log-density: its own log-density (known) and log J
    start = logdensity + interweaving.decentered(z, a)[1]
    start = jnp.where(jnp.isfinite(start), start, -jnp.inf)
    keys = random.split(rng_key, NUM_UPDATES)
    carry = (flat, z, start, jnp.zeros((), bool))
    (_, new_z, _, moved), p = jax.lax.scan(update, carry, keys)
    new_ld, new_grad = jax.value_and_grad(logdensity_fn)(new_z)
    finite = jnp.isfinite(new_ld)
    for leaf in jax.tree.leaves(new_grad):
        finite = finite & jnp.all(jnp.isfinite(leaf))
    keep = moved & finite  # nothing accepted: z exactly as it was (no round trip through a)

    def pick(new, old):
        return jax.tree.map(lambda x, y: jnp.where(keep, x, y), new, old)

    return (
        pick(new_z, z),
        jnp.where(keep, new_ld, logdensity),
        pick(new_grad, grad),
        jnp.mean(p),
        moved & ~finite,
    )
