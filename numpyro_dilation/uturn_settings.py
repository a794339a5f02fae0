r"""Settings of the U-turn moves and diagnostics (:class:`UTurn`), their checks and the
information a move reports (:class:`UTurnInfo`); the maths is in :mod:`numpyro_dilation.uturn`.
"""

from typing import TYPE_CHECKING, NamedTuple

import jax
import numpy as np
from blackjax.types import ArrayTree

if TYPE_CHECKING:
    pass
from numpyro_dilation.schedules import SCHEDULES

__all__ = ["UTurn", "UTurnInfo", "check_uturn", "DEFAULT_LAMBDAS"]


DEFAULT_LAMBDAS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4)
"""Default grid of U-turn levels :math:`\\lambda_u` for the diagnostic: it reaches below the
sampler's default first level ``lambda_min = 1e-3``, where speciation often only starts.

**Example**

.. code-block:: python

    from numpyro_dilation.uturn_settings import DEFAULT_LAMBDAS

    print(len(DEFAULT_LAMBDAS), max(DEFAULT_LAMBDAS), min(DEFAULT_LAMBDAS))  # 12 0.5 0.0001
    coarse = DEFAULT_LAMBDAS[::3]  # (0.5, 0.05, 0.005, 0.0005): a quicker grid for `lambdas=`
    print(coarse)
"""

PROTOCOLS = ("palindromic", "reanneal")
KINDS = ("exact", "explore")


class UTurn(NamedTuple):
    r"""Settings of a U-turn move (see the module docstring for the maths).

    kind
        ``"exact"``: the NCMC move :func:`build_kernel`, accepted with
        :math:`\min(1, e^W)`, applied to each chain during sampling.
        ``"explore"``: the approximate U-turn, run once from every chain at the
        end of warm-up; its returns join the chains' positions as starting
        points of the mode finding (:func:`explore_modes`).
    lambda_u
        :math:`\lambda_u \in (0, 1)`, or a tuple of them: the exact move picks one
        uniformly at random per move (a mixture of valid moves is valid); the
        explorer runs one U-turn per chain and level.
    num_steps
        :math:`K`: levels per half of the protocol (exact), or re-annealing steps
        (explorer).
    num_mala_steps
        :math:`m`: MALA steps at each level of the exact move.
    protocol
        Exact move: ``"palindromic"`` or ``"reanneal"``.
    schedule
        Spacing of the levels between :math:`\lambda_u` and 1 (a name of
        :data:`~numpyro_dilation.schedules.SCHEDULES`); ``None``: ``"geometric"``
        for the exact move (equal level ratios), ``"linear"`` for the explorer
        (the sampler's default annealing).
    every
        Exact move: one U-turn every ``every`` sampling iterations.
    center_scale
        Explorer: :math:`\kappa > 0` draws a fresh center for every U-turn from
        :math:`\mathcal N(\bar y, \kappa^2 S)`, :math:`\bar y, S` the mean and
        covariance of the chains' positions together with the centers given to
        :func:`explore` (:func:`overdispersed_centers`), so the returns can reach
        modes that no chain's own center leads to; 0 uses the given centers
        (e.g. each chain's annealing center) as they are.

    The explorer's defaults (levels down to :math:`10^{-5}`, :math:`\kappa = 3`)
    come from BENCHMARKS.md ("U-turn"): with the sampler's tuned MALA, returns
    rarely leave their mode above :math:`\lambda_u \approx 10^{-3}`.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin, UTurn

        def model():
            numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))

        uturn = UTurn(kind="exact", lambda_u=0.1, num_steps=5, every=2)  # a U-turn every 2 draws
        mcmc = MCMC(DilationLangevin(model, uturn=uturn), num_warmup=40, num_samples=20,
                    progress_bar=False)
        mcmc.run(jax.random.key(0), extra_fields=("uturn_accept_prob",))
        accept = mcmc.get_extra_fields()["uturn_accept_prob"]
        print(uturn.kind, uturn.lambda_u, accept[::2].mean())  # exact 0.1, the mean acceptance
    """

    kind: str = "explore"
    lambda_u: float | tuple[float, ...] = (1e-3, 1e-4, 1e-5)
    num_steps: int = 100
    num_mala_steps: int = 1
    protocol: str = "palindromic"
    schedule: str | None = None
    every: int = 10
    center_scale: float = 3.0


class UTurnInfo(NamedTuple):
    """Diagnostics of one exact U-turn move.

    acceptance_rate
        :math:`\\min(1, e^W)` (0 if a level change or the end point diverged).
    is_accepted
        Whether the chain moved to the end point of the protocol.
    is_divergent
        A non-finite log-density or gradient at a level change (the move is rejected).
    work
        :math:`W`, the NCMC work (``-inf`` if divergent).
    lambda_u
        The turning level used.
    mala_acceptance
        Mean MALA acceptance probability along the protocol.
    num_grad_evals
        Gradients spent by the move.
    proposal
        End point of the protocol (the chain's new position if accepted), in
        target coordinates; like BlackJAX's MALA ``Info``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel, uturn

        logdensity = lambda y: -0.5 * jnp.sum((y - 1.0) ** 2)  # N(1, I) in 2-d
        move = uturn.build_kernel(uturn.UTurn(kind="exact", lambda_u=(0.1, 0.01), num_steps=5))
        state = kernel.init(jnp.array([1.5, 0.5]), logdensity, center=jnp.zeros(2))  # lambda = 1
        state, info = move(jax.random.key(0), state, logdensity, 0.5)  # a UTurnInfo
        print(info.lambda_u, info.work, info.acceptance_rate)  # 0.1 or 0.01, W and min(1, e^W)
        print(info.is_accepted, info.is_divergent, info.num_grad_evals)  # ..., False, 19 = 4K - 1
        print(info.proposal, info.mala_acceptance)  # the protocol's end point, mean MALA acceptance
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    work: jax.Array
    lambda_u: jax.Array
    mala_acceptance: jax.Array
    num_grad_evals: jax.Array
    proposal: ArrayTree


def check_uturn(config: UTurn) -> None:
    """Raise ``ValueError`` naming the first invalid field of ``config`` (levels
    :math:`0 < \\lambda_u < 1`, step counts :math:`K \\ge 1`, ``every`` :math:`\\ge 1`).

    **Example**

    .. code-block:: python

        from numpyro_dilation.uturn import UTurn, check_uturn

        check_uturn(UTurn(kind="exact", lambda_u=0.1))  # valid: returns None
        try:
            check_uturn(UTurn(lambda_u=(1e-3, 1.5)))
        except ValueError as err:
            print(err)  # `UTurn.lambda_u` is invalid: (0.001, 1.5) (see the UTurn docstring ...)
    """
    lams = config.lambda_u if isinstance(config.lambda_u, (tuple, list)) else (config.lambda_u,)
    checks = {
        "kind": config.kind in KINDS,
        "lambda_u": len(lams) > 0 and all(_is_level(v) for v in lams),
        "num_steps": _is_count(config.num_steps),
        "num_mala_steps": _is_count(config.num_mala_steps),
        "protocol": config.protocol in PROTOCOLS,
        "schedule": config.schedule is None or config.schedule in SCHEDULES,
        "every": _is_count(config.every),
        "center_scale": _is_real(config.center_scale) and config.center_scale >= 0,
    }
    for name, ok in checks.items():
        if not ok:
            raise ValueError(
                f"`UTurn.{name}` is invalid: {getattr(config, name)!r} "
                "(see the UTurn docstring for the allowed values)."
            )


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _is_level(value) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return 0.0 < float(value) < 1.0
    except (TypeError, ValueError):
        return False


def _lambda_grid(config: UTurn) -> tuple[float, ...]:
    lams = config.lambda_u if isinstance(config.lambda_u, (tuple, list)) else (config.lambda_u,)
    return tuple(float(v) for v in lams)


# --------------------------------------------------------------------------- protocols
