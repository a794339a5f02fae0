r"""Where chains start: the pilot-box start (``DilationLangevin(center=Pilot())``).

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
as with ``center=None``. The box holds only what the pilot's :math:`M` particles reached,
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

It is the kernel's default start (``center="auto"``) in vectorized runs with at least
256 chains (:data:`~numpyro_dilation.mcmc.AUTO_PILOT_MIN_CHAINS`), where its 64 pilot
chains are at most a quarter of the run's.

This module holds the settings and the pure array functions; the pilot run itself
is in :class:`~numpyro_dilation.mcmc.DilationLangevin` (it runs the same kernel).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.types import PRNGKey

__all__ = ["Pilot", "bounding_box", "uniform_in_box", "check_pilot"]


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

    **Example**

    .. code-block:: python

        from numpyro_dilation import DilationLangevin, Pilot

        kernel = DilationLangevin(potential_fn=lambda z: 0.5 * (z**2).sum(),
                                  center=Pilot(num_chains=128))  # a larger pilot
        print(Pilot())  # Pilot(num_chains=64, warmup_fraction=0.5, widen=0.25, keep=0.5)
    """

    num_chains: int = 64
    warmup_fraction: float = 0.5
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
        "warmup_fraction": isinstance(pilot.warmup_fraction, (int, float))
        and 0 < pilot.warmup_fraction <= 1,
        "widen": isinstance(pilot.widen, (int, float)) and pilot.widen >= 0,
        "keep": isinstance(pilot.keep, (int, float)) and 0 <= pilot.keep < 1,
    }
    allowed = {
        "num_chains": "an integer >= 2",
        "warmup_fraction": "in (0, 1]",
        "widen": ">= 0",
        "keep": "in [0, 1)",
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
