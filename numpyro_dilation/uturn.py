r"""U-turns on the dilation path: a diagnostic of multimodality and mode-hopping moves.

A *U-turn* (Behjoo & Chertkov, "U-Turn Diffusion", arXiv:2308.07421) takes a
draw of the target part of the way toward the reference and back. On the
dilation path :math:`\pi_\lambda(x) = \lambda^{-d/2}\pi(c + (x - c)/\sqrt\lambda)`
(:mod:`numpyro_dilation.path`), with target coordinates
:math:`y = c + (x - c)/\sqrt\lambda` (:mod:`numpyro_dilation.kernel`):

- *dilating* a draw :math:`y \sim \pi` to level :math:`\lambda_u`,
  :math:`x_u = c + \sqrt{\lambda_u}(y - c)`, gives an exact draw of
  :math:`\pi_{\lambda_u}`; in target coordinates it is the identity;
- *re-annealing* :math:`\lambda_u \to 1` with the package's kernel alternates a
  Langevin/MALA step on :math:`\gamma` in :math:`y` and a contraction
  :math:`y \leftarrow c + \sqrt{\lambda_k/\lambda_{k+1}}\,(y - c)` toward the center.

The smaller :math:`\lambda_u`, the harder the first contractions pull the
particle toward :math:`c` and the more it forgets which mode it started in.

Diagnostic (:func:`uturn_curves`, :func:`plot_uturn`)
    For a grid of :math:`\lambda_u`, U-turn :math:`n` draws and report the
    start/return correlation, the *switch rate* (share of returns whose mode
    differs from the start's), the switch rate of independent returns, and two
    levels read off the normalized switch curve:

    - :math:`s(\lambda_u) = \text{switch rate} / (1 - \sum_m p_m^2)`, where
      :math:`p_m` are the draws' mode shares, so :math:`1 - \sum_m p_m^2` is the
      switch rate of a return drawn from :math:`\pi` independently of its start;
      :math:`s = 0`: every return stays in its mode; :math:`s = 1`: returns are
      as mixed as independent draws;
    - *memorization level* :math:`\lambda_m`: the largest :math:`\lambda` at
      which :math:`s` reaches :math:`\tau_m` (default 0.05) coming down from
      :math:`\lambda = 1` (above it, returns stay put);
    - *speciation level* :math:`\lambda_s`: the largest :math:`\lambda` at which
      :math:`s` reaches :math:`\tau_s` (default 0.5) (below it, returns land in
      other modes about as often as independent draws would, to within a factor 2);

    both interpolated linearly in :math:`\log\lambda` between grid points; NaN
    when the grid does not bracket the crossing.

    Modes. :func:`~numpyro_dilation.modes.find_modes` run on the draws
    (gradient ascent, merging, Laplace covariances :math:`\Sigma_m`) defines the
    modes; a point belongs to the mode with the smallest Mahalanobis distance
    :math:`(y - \mu_m)^\top\Sigma_m^{-1}(y - \mu_m)` (:func:`assign_modes`).

Exact U-turn move (:func:`build_kernel`, ``UTurn(kind="exact")``)
    A non-equilibrium candidate Monte Carlo (NCMC) move (Neal, 2001, AIS;
    Nilmeier et al., 2011, PNAS). Write :math:`\gamma_\lambda(x) =
    \lambda^{-d/2}\gamma(c + (x - c)/\sqrt\lambda)` (unnormalized
    :math:`\pi_\lambda`; :math:`\int\gamma_\lambda = Z` for every :math:`\lambda`).
    A protocol is a sequence of operations on the particle :math:`x`:

    - *level change* :math:`\lambda \to \lambda'` with :math:`x` fixed: work
      :math:`w = \log\gamma_{\lambda'}(x) - \log\gamma_\lambda(x)`;
    - *exact transport* :math:`x \mapsto c + \sqrt{\lambda'/\lambda}(x - c)`,
      which maps :math:`\pi_\lambda` onto :math:`\pi_{\lambda'}`: work
      :math:`\log\gamma_{\lambda'}(Tx) + \log|\det\nabla T| - \log\gamma_\lambda(x) = 0`;
    - a kernel :math:`K_\lambda` *reversible* with respect to :math:`\pi_\lambda`: no work.

    If the time-reversed protocol is proposed with the same probability as the
    protocol itself (a palindromic protocol is its own reverse), accepting the
    end point with probability :math:`\min(1, e^W)`, :math:`W = \sum w`, leaves
    :math:`\pi` invariant: the ratio of reverse to forward path densities
    telescopes through detailed balance of each :math:`K_\lambda` into
    :math:`e^W\,\pi(x_0)/\pi(x_n)`.

    In target coordinates the level change is
    :math:`y' = c + \sqrt{\lambda/\lambda'}\,(y - c)` (:func:`~numpyro_dilation.path.change_level`;
    an *expansion* away from :math:`c` when :math:`\lambda' < \lambda`), and
    since :math:`\log\gamma_\lambda(x) = -\tfrac d2\log\lambda + \log\gamma(y)`,

    .. math:: w = \log\gamma(y') - \log\gamma(y) - \tfrac d2 \log(\lambda'/\lambda);

    the transport is the identity in :math:`y`; and :math:`K_\lambda` is MALA on
    :math:`\gamma` with step :math:`h` in :math:`y` (the constant Jacobian of
    :math:`x \mapsto y` makes it :math:`\pi_\lambda`-reversible in :math:`x`;
    :func:`numpyro_dilation.kernel.build_kernel` with ``metropolis=True``).

    ``protocol="palindromic"`` (the issue's move), levels
    :math:`1 = \nu_0 > \nu_1 > \dots > \nu_K = \lambda_u` (``schedule``, geometric
    by default), :math:`m` MALA steps :math:`M_\nu` per level:

    .. math:: P_{\nu_0\to\nu_1} M_{\nu_1} \cdots P_{\nu_{K-1}\to\nu_K} M_{\nu_K}
              P_{\nu_K\to\nu_{K-1}} M_{\nu_{K-1}} \cdots M_{\nu_1} P_{\nu_1\to\nu_0},

    so the :math:`\tfrac d2\log` terms telescope to :math:`\tfrac d2\log(\nu_0/\nu_0) = 0` and

    .. math:: W = \sum_{j=1}^{2K} \big[\log\gamma(y_j^+) - \log\gamma(y_j^-)\big],

    the change of :math:`\log\gamma` across each of the :math:`2K` expansions
    and contractions (:math:`y_j^-` before, :math:`y_j^+` after). Cost:
    :math:`2K + (2K - 1)m` gradients.

    ``protocol="reanneal"`` (the U-turn itself, made exact): with probability
    1/2 the forward protocol "transport to :math:`\lambda_u`, then re-anneal
    :math:`\mu_0 = \lambda_u < \mu_1 < \dots < \mu_K = 1`",
    :math:`M_{\mu_0} P_{\mu_0\to\mu_1} M_{\mu_1}\cdots M_{\mu_{K-1}} P_{\mu_{K-1}\to 1}`,
    with :math:`W = \sum_j[\log\gamma(y_j^+) - \log\gamma(y_j^-)] + \tfrac d2\log\lambda_u`;
    with probability 1/2 its reverse (anneal down with expansions, then transport back),
    :math:`W = \sum_j[\dots] - \tfrac d2\log\lambda_u`.

    Why it rarely switches modes (measured in BENCHMARKS.md, "U-turn"): in
    :math:`y` every :math:`K_\lambda` is the same MALA on the same multimodal
    :math:`\gamma`; the only other operations are scalings about :math:`c`. A
    protocol slow enough for :math:`W \approx 0` keeps :math:`y` in
    equilibrium under :math:`\gamma` and crosses barriers only as often as MALA
    does; a fast one (large contractions toward :math:`c`) crosses them, with
    :math:`W \ll 0`.

Explorer (:func:`uturn_return`, :func:`explore`, :func:`explore_modes`; approximate)
    The plain U-turn (dilate, re-anneal, *no* accept/reject). Its returns are
    **not** draws of :math:`\pi` (the re-annealing re-introduces the center's
    bias, DESIGN.md §3) and are never used as such: they are extra starting
    points for :func:`~numpyro_dilation.modes.find_modes`, so that modes the
    annealing missed enter the mixture of the independence Metropolis–Hastings
    global moves (:mod:`numpyro_dilation.global_moves`), whose acceptance keeps
    the chains exact. For :math:`\lambda_u \to 0` a U-turn is an annealing from
    its center, so the modes it can add are those reachable from its centers:
    by default each U-turn gets a fresh *overdispersed* center
    (:func:`overdispersed_centers`), not the chain's own.

The kernel layer: JAX, BlackJAX, NumPy; pandas and matplotlib only inside the table and plot
functions; no NumPyro.
"""

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.types import ArrayLikeTree, ArrayTree, PRNGKey
from blackjax.util import pytree_size

from numpyro_dilation import kernel as dilation_kernel

if TYPE_CHECKING:
    import pandas as pd
from numpyro_dilation.batching import map_starts
from numpyro_dilation.kernel import DilationState
from numpyro_dilation.modes import (
    GlobalMoves,
    ModeMixture,
    find_modes,
    find_modes_per_chain,
    nearest_mode,
)
from numpyro_dilation.path import change_level
from numpyro_dilation.schedules import SCHEDULES, make_schedule

__all__ = [
    "UTurn",
    "UTurnInfo",
    "check_uturn",
    "DEFAULT_LAMBDAS",
    "protocol_levels",
    "build_kernel",
    "uturn_return",
    "explore",
    "explore_modes",
    "overdispersed_centers",
    "assign_modes",
    "uturn_curves",
    "crossing_level",
    "plot_uturn",
]

DEFAULT_LAMBDAS = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4)
"""Default grid of U-turn levels :math:`\\lambda_u` for the diagnostic: it reaches below the
sampler's default first level ``lambda_min = 1e-3``, where speciation often only starts.

**Example**

.. code-block:: python

    from numpyro_dilation.uturn import DEFAULT_LAMBDAS

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


def protocol_levels(
    lambda_u: float, num_steps: int, protocol: str = "palindromic", schedule: str = "geometric"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The operations of an exact U-turn protocol, as static arrays.

    Entry :math:`j` of a protocol moves the particle to level ``levels[j]``, by a
    level change with :math:`x` fixed (``transport[j]`` false: work counted) or
    by exact transport (``transport[j]`` true: :math:`y` unchanged, no work), and
    is then followed by :math:`m` MALA steps at that level, except the last
    entry, which returns to :math:`\lambda = 1`.

    Returns
    -------
    ``(levels, transport, levels_reverse, transport_reverse)``: the protocol and
    the one proposed with equal probability as its reverse (the same arrays
    for ``"palindromic"``); each of length :math:`2K` (palindromic) or
    :math:`K + 1` (reanneal).

    Examples
    --------

    .. code-block:: python

        from numpyro_dilation.uturn import protocol_levels

        levels, transport, _, _ = protocol_levels(0.01, 2)  # palindromic, geometric: 1 -> 0.01 -> 1
        print(levels, transport)  # [0.1 0.01 0.1 1.] [False False False False]
        fwd, fwd_transport, rev, rev_transport = protocol_levels(0.01, 2, protocol="reanneal")
        print(fwd, fwd_transport)  # [0.01 0.1 1.] [True False False]: transport, then re-anneal
        print(rev, rev_transport)  # [0.1 0.01 1.] [False False True]: anneal down, transport back
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}, got {protocol!r}.")
    up = make_schedule(schedule, num_steps + 1, lambda_u)  # mu_0 = lambda_u < ... < mu_K = 1
    if protocol == "palindromic":
        down = up[::-1][1:]  # nu_1 > ... > nu_K = lambda_u
        levels = np.concatenate([down, up[1:]])  # ..., lambda_u, mu_1, ..., 1
        transport = np.zeros(levels.shape, bool)
        return levels, transport, levels, transport
    forward = up.copy()  # transport to lambda_u, then x-fixed changes up to 1
    forward_transport = np.zeros(forward.shape, bool)
    forward_transport[0] = True
    reverse = np.concatenate([up[::-1][1:], [1.0]])  # x-fixed changes down to lambda_u, back
    reverse_transport = np.zeros(reverse.shape, bool)
    reverse_transport[-1] = True
    return forward, forward_transport, reverse, reverse_transport


_mala = dilation_kernel.build_kernel()


def _all_finite(logdensity, grad) -> jax.Array:
    finite = jnp.isfinite(logdensity)
    for g in jax.tree.leaves(grad):
        finite = finite & jnp.all(jnp.isfinite(g))
    return finite


def _tree_where(pred, on_true, on_false):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _level_change(state: DilationState, logdensity_fn: Callable, lam_to, transport):
    """Move to ``lam_to``; return (state, work increment, finite)."""
    y = change_level(state.position, state.center, state.lam, lam_to)
    y = _tree_where(transport, state.position, y)
    logdensity, grad = jax.value_and_grad(logdensity_fn)(y)
    finite = _all_finite(logdensity, grad)
    d = pytree_size(state.position)
    work = logdensity - state.logdensity - 0.5 * d * jnp.log(lam_to / state.lam)
    work = jnp.where(transport, 0.0, work)
    moved = DilationState(y, logdensity, grad, lam_to, state.center)
    return _tree_where(finite, moved, state._replace(lam=lam_to)), work, finite


def _run_protocol(
    rng_key,
    state,
    logdensity_fn,
    levels,
    transport,
    step_size,
    num_mala_steps,
    inverse_mass_matrix=None,
):
    """Run one protocol; return (end state, W, all level changes finite, mean MALA acceptance)."""
    dtype = state.lam.dtype
    num_entries = levels.shape[0]

    def mala_block(key, s):
        def one(carry, k):
            s, acc = carry
            s, info = _mala(k, s, logdensity_fn, s.lam, step_size, True, inverse_mass_matrix)
            return (s, acc + info.acceptance_rate), None

        keys = jax.random.split(key, num_mala_steps)
        (s, acc), _ = jax.lax.scan(one, (s, jnp.zeros((), dtype)), keys)
        return s, acc

    def body(carry, inputs):
        s, work, finite, acc = carry
        key, lam_to, is_transport = inputs
        s, dw, ok = _level_change(s, logdensity_fn, lam_to, is_transport)
        s, a = mala_block(key, s)
        return (s, work + dw, finite & ok, acc + a), None

    keys = jax.random.split(rng_key, num_entries - 1)
    init = (state, jnp.zeros((), dtype), jnp.ones((), bool), jnp.zeros((), dtype))
    (s, work, finite, acc), _ = jax.lax.scan(
        body, init, (keys, levels[:-1].astype(dtype), transport[:-1])
    )
    s, dw, ok = _level_change(s, logdensity_fn, levels[-1].astype(dtype), transport[-1])
    mean_acc = acc / ((num_entries - 1) * num_mala_steps)
    return s, work + dw, finite & ok, mean_acc


def build_kernel(config: UTurn | None = None) -> Callable:
    r"""Build the exact U-turn move (NCMC along the dilation path).

    ``config`` fixes the protocol (``lambda_u``, ``num_steps``, ``num_mala_steps``,
    ``protocol``, ``schedule``; ``kind`` and ``every`` are ignored here).

    Returns
    -------
    ``kernel(rng_key, state, logdensity_fn, step_size, inverse_mass_matrix=None)``
    returning ``(DilationState, UTurnInfo)``. ``state`` is a
    :class:`~numpyro_dilation.kernel.DilationState` at :math:`\lambda = 1`
    (any pytree position); its ``center`` is the :math:`c` of the protocol (fixed
    per chain, e.g. the chain's annealing center). ``step_size`` is the MALA step
    :math:`h` in target coordinates at every level (the chain's tuned step) and
    ``inverse_mass_matrix`` its diagonal preconditioner :math:`v` (flat, shape
    ``(d,)``; ``None``: ones), as in :func:`numpyro_dilation.kernel.build_kernel`:
    preconditioned MALA is still :math:`\gamma`-reversible, so the work is unchanged. The
    move runs the protocol from ``state`` and accepts its end point with
    probability :math:`\min(1, e^W)`; it leaves :math:`\pi \propto \gamma`
    invariant (module docstring). Jit- and vmap-able; one turning level is drawn
    per call when ``lambda_u`` is a tuple.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel, uturn

        logdensity = lambda y: -0.5 * jnp.sum((y - 1.0) ** 2)  # N(1, I) in 2-d
        config = uturn.UTurn(kind="exact", lambda_u=0.1, num_steps=10)
        move = jax.jit(uturn.build_kernel(config), static_argnums=2)
        # a chain at lambda = 1; its U-turns dilate toward the center 0 and back
        state = kernel.init(jnp.array([1.5, 0.5]), logdensity, center=jnp.zeros(2))
        accept = []
        for key in jax.random.split(jax.random.key(0), 20):
            state, info = move(key, state, logdensity, 0.5)
            accept.append(info.acceptance_rate)
        print(state.position, jnp.mean(jnp.array(accept)), info.num_grad_evals)
    """
    config = UTurn(kind="exact") if config is None else config
    check_uturn(config)
    schedule = "geometric" if config.schedule is None else config.schedule
    tables = [
        protocol_levels(lam, config.num_steps, config.protocol, schedule)
        for lam in _lambda_grid(config)
    ]
    fwd_levels = np.stack([t[0] for t in tables])
    fwd_transport = np.stack([t[1] for t in tables])
    rev_levels = np.stack([t[2] for t in tables])
    rev_transport = np.stack([t[3] for t in tables])
    lambdas = np.asarray(_lambda_grid(config))
    num_entries = fwd_levels.shape[1]
    num_grads = num_entries + (num_entries - 1) * config.num_mala_steps

    def kernel(
        rng_key: PRNGKey,
        state: DilationState,
        logdensity_fn: Callable,
        step_size: float | jax.Array,
        inverse_mass_matrix: jax.Array | None = None,
    ) -> tuple[DilationState, UTurnInfo]:
        dtype = state.lam.dtype
        step_size = jnp.asarray(step_size, dtype)
        key_level, key_dir, key_run, key_acc = jax.random.split(rng_key, 4)
        i = jax.random.randint(key_level, (), 0, len(lambdas))
        reverse = jax.random.bernoulli(key_dir)
        levels = jnp.where(reverse, jnp.asarray(rev_levels)[i], jnp.asarray(fwd_levels)[i])
        transport = jnp.where(reverse, jnp.asarray(rev_transport)[i], jnp.asarray(fwd_transport)[i])
        start = state._replace(lam=jnp.ones((), dtype))
        end, work, finite, mala_acc = _run_protocol(
            key_run,
            start,
            logdensity_fn,
            levels,
            transport,
            step_size,
            config.num_mala_steps,
            inverse_mass_matrix,
        )
        divergent = ~finite
        work = jnp.where(divergent | jnp.isnan(work), -jnp.inf, work)
        p_accept = jnp.exp(jnp.minimum(work, 0.0))
        accept = jax.random.bernoulli(key_acc, p_accept) & ~divergent
        new_state = _tree_where(accept, end._replace(lam=state.lam), state)
        info = UTurnInfo(
            acceptance_rate=p_accept,
            is_accepted=accept,
            is_divergent=divergent,
            work=work,
            lambda_u=jnp.asarray(lambdas, dtype)[i],
            mala_acceptance=mala_acc,
            num_grad_evals=jnp.asarray(num_grads, jnp.int32),
            proposal=end.position,
        )
        return new_state, info

    return kernel


# --------------------------------------------------------------------------- explorer


def uturn_return(
    rng_key: PRNGKey,
    position: ArrayLikeTree,
    logdensity_fn: Callable,
    levels: jax.Array,
    step_size: float | jax.Array,
    center: ArrayLikeTree,
    metropolis: bool = True,
    inverse_mass_matrix: jax.Array | None = None,
) -> tuple[ArrayTree, jax.Array]:
    r"""One approximate U-turn: dilate ``position`` to ``levels[0]`` and re-anneal to 1.

    In target coordinates the dilation leaves ``position`` unchanged; the
    re-annealing runs :func:`numpyro_dilation.kernel.build_kernel` at each of
    ``levels`` (:math:`\lambda_u = \lambda_0 < \dots < \lambda_{K-1} = 1`, the
    first call without a level change) with step :math:`h` = ``step_size`` and
    diagonal preconditioner ``inverse_mass_matrix`` (flat ``(d,)`` or ``None``),
    MALA if ``metropolis`` (default) else unadjusted Langevin. No accept/reject
    of the whole path: the return is **not** a draw of :math:`\pi`.

    Returns
    -------
    ``(return_position, mean_acceptance)``; ``levels`` may be traced (no
    recompilation for a new :math:`\lambda_u` of the same length). Costs
    :math:`2K - 1` gradients.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.schedules import linear_schedule
        from numpyro_dilation.uturn import uturn_return

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        levels = jnp.asarray(linear_schedule(50, 1e-4))  # dilate to 1e-4, re-anneal in 50 steps
        start, center = jnp.array([-3.0, 0.0]), jnp.zeros(2)  # from the left mode, center 0
        turn = lambda key: uturn_return(key, start, logdensity, levels, 0.5, center)
        returns, acceptance = jax.jit(jax.vmap(turn))(jax.random.split(jax.random.key(0), 50))
        print((returns[:, 0] > 0).mean(), acceptance.mean())  # about 0.25: a quarter switched mode
    """
    levels = jnp.asarray(levels)
    state = dilation_kernel.init(position, logdensity_fn, center, 1.0)
    state = state._replace(lam=levels[0].astype(state.lam.dtype))
    step_size = jnp.asarray(step_size, state.lam.dtype)

    def body(s, inputs):
        key, lam = inputs
        s, info = _mala(key, s, logdensity_fn, lam, step_size, metropolis, inverse_mass_matrix)
        return s, info.acceptance_rate

    keys = jax.random.split(rng_key, levels.shape[0])
    state, acc = jax.lax.scan(body, state, (keys, levels.astype(state.lam.dtype)))
    return state.position, jnp.mean(acc)


def _centers(center, positions: jax.Array) -> jax.Array:
    """Per-point centers ``(n, d)``: ``None`` (mean of ``positions``), ``(d,)`` or ``(n, d)``."""
    if center is None:
        center = jnp.mean(positions, axis=0)
    center = jnp.asarray(center, positions.dtype)
    return jnp.broadcast_to(center, positions.shape)


def overdispersed_centers(
    rng_key: PRNGKey, positions: jax.Array, scale: float, shape: tuple[int, ...]
) -> jax.Array:
    r"""Draws of :math:`\mathcal N(\bar y, \kappa^2 S)`, shape ``shape + (d,)``.

    :math:`\bar y` and :math:`S` are the mean and covariance of the rows of
    ``positions`` ``(n, d)`` (:math:`S` plus :math:`10^{-6}\operatorname{tr}S/d` on the
    diagonal, so fewer chains than dimensions still work); :math:`\kappa` = ``scale``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.uturn import overdispersed_centers

        positions = jax.random.normal(jax.random.key(0), (8, 2)) * jnp.array([1.0, 0.1])  # 8 chains
        centers = overdispersed_centers(jax.random.key(1), positions, 3.0, (500,))
        print(centers.shape)  # (500, 2)
        print(centers.std(axis=0) / positions.std(axis=0, ddof=1))  # about [3, 3]: kappa = 3
    """
    positions = jnp.asarray(positions)
    dim = positions.shape[1]
    cov = jnp.atleast_2d(jnp.cov(positions, rowvar=False))
    jitter = 1e-6 * jnp.maximum(jnp.trace(cov) / dim, 1e-12)
    chol = jnp.linalg.cholesky(cov + jitter * jnp.eye(dim, dtype=cov.dtype))
    z = jax.random.normal(rng_key, tuple(shape) + (dim,), positions.dtype)
    return jnp.mean(positions, axis=0) + scale * z @ chol.T


def explore(
    rng_key: PRNGKey,
    positions: jax.Array,
    logdensity_fn: Callable,
    step_size: float | jax.Array,
    config: UTurn | None = None,
    center: jax.Array | None = None,
    metropolis: bool = True,
    inverse_mass_matrix: jax.Array | None = None,
) -> jax.Array:
    r"""Approximate U-turns from every position at every level of ``config.lambda_u``.

    Parameters
    ----------
    positions
        Flat positions :math:`y_c`, shape ``(C, d)`` (e.g. the chains at the end of warm-up).
    logdensity_fn
        :math:`\log\gamma` on flat positions of shape ``(d,)``.
    step_size
        :math:`h`, a scalar or per-position ``(C,)``.
    config
        :class:`UTurn` (``lambda_u``, ``num_steps``, ``schedule``, ``center_scale``;
        the rest is ignored).
    center
        ``None`` (mean of ``positions``), shape ``(d,)``, or per-position ``(C, d)``
        (e.g. each chain's annealing center). With ``config.center_scale == 0`` the
        U-turns use these centers; with ``center_scale > 0`` each U-turn draws a
        fresh center from :func:`overdispersed_centers` of the positions and these
        centers together.
    metropolis, inverse_mass_matrix
        As in :func:`uturn_return`.

    Returns
    -------
    The returns, shape ``(L * C, d)`` for :math:`L` levels (level-major).

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.uturn import UTurn, explore

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        positions = jnp.array([[-3.2, 0.1], [-2.7, -0.4], [-3.1, 0.6], [-2.9, 0.0]])  # left mode
        config = UTurn(kind="explore", lambda_u=(0.5, 1e-4), num_steps=30, center_scale=0.0)
        returns = explore(jax.random.key(0), positions, logdensity, 0.5, config, jnp.zeros(2))
        print(returns.shape)  # (8, 2): 2 levels x 4 chains, level-major
        print(returns[:4, 0], returns[4:, 0])  # from 0.5: all left (< 0); from 1e-4: some right
    """
    config = UTurn() if config is None else config
    check_uturn(config)
    schedule = "linear" if config.schedule is None else config.schedule
    positions = jnp.asarray(positions)
    num, dim = positions.shape
    steps = jnp.broadcast_to(jnp.asarray(step_size, positions.dtype), (num,))
    levels = np.stack(
        [make_schedule(schedule, config.num_steps, lam) for lam in _lambda_grid(config)]
    )
    levels = jnp.asarray(levels, positions.dtype)
    key_run, key_center = jax.random.split(rng_key)
    given = _centers(center, positions)
    if config.center_scale > 0:
        cloud = positions if center is None else jnp.concatenate([positions, given])
        centers = overdispersed_centers(key_center, cloud, config.center_scale, (len(levels), num))
    else:
        centers = jnp.broadcast_to(given, (len(levels), num, dim))

    def one(key, y, h, c, lv):
        return uturn_return(key, y, logdensity_fn, lv, h, c, metropolis, inverse_mass_matrix)[0]

    num_levels = len(levels)
    keys = jax.random.split(key_run, num_levels * num)
    rows = (  # level-major: row l * C + c is chain c from level l
        jnp.tile(positions, (num_levels, 1)),
        jnp.tile(steps, num_levels),
        centers.reshape(num_levels * num, dim),
        jnp.repeat(levels, num, axis=0),
    )
    return map_starts(one, keys, *rows)  # (L * C, d)


def explore_modes(
    rng_key: PRNGKey,
    positions: jax.Array,
    logdensity_fn: Callable,
    step_size: float | jax.Array,
    config: UTurn | None = None,
    center: jax.Array | None = None,
    global_moves: GlobalMoves | None = None,
    inverse_mass_matrix: jax.Array | None = None,
    starts: jax.Array | None = None,
) -> tuple[ModeMixture, jax.Array]:
    """:func:`~numpyro_dilation.modes.find_modes` on the positions *and* their U-turn returns.

    The drop-in replacement of ``find_modes(positions, logdensity_fn, step_size,
    global_moves, inverse_mass_matrix)`` at the end of warm-up: the mixture's modes
    are those reached by the chains or by the explorer (:func:`explore`, MALA
    re-annealing with the same preconditioner). Returns ``(mixture,
    num_grad_evals)`` with the gradients spent per chain (explorer included): the modes
    come from the :math:`C(1 + L)` points :math:`\\{y_c\\} \\cup \\{\\tilde y_{c,l}\\}`
    (:math:`L` levels :math:`\\lambda_u`), followed by ``starts`` (``(R C, d)``, e.g.
    :func:`~numpyro_dilation.modes.contracted_starts`; each start's ascent uses the
    step size of chain ``r mod C``) when given.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.uturn import UTurn, explore_modes

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        # all 4 chains ended in the left mode; U-turns toward the center 0 find the other one
        positions = jnp.array([[-3.2, 0.1], [-2.7, -0.4], [-3.1, 0.6], [-2.9, 0.0]])
        config = UTurn(kind="explore", lambda_u=(1e-4, 1e-5), num_steps=30, center_scale=0.0)
        mixture, num_grads = explore_modes(
            jax.random.key(0), positions, logdensity, 0.5, config, center=jnp.zeros(2)
        )
        print(int(mixture.num_modes), mixture.means[: int(mixture.num_modes)])  # 2 modes
    """
    config = UTurn() if config is None else config
    positions = jnp.asarray(positions)
    num = positions.shape[0]
    steps = jnp.broadcast_to(jnp.asarray(step_size, positions.dtype), (num,))
    returns = explore(
        rng_key, positions, logdensity_fn, steps, config, center, True, inverse_mass_matrix
    )
    num_levels = returns.shape[0] // num
    groups = [positions, returns] + ([starts] if starts is not None else [])
    mixture, grads = find_modes_per_chain(
        groups, logdensity_fn, steps, global_moves, inverse_mass_matrix
    )
    explore_grads = num_levels * (2 * config.num_steps - 1)
    return mixture, grads + explore_grads


# --------------------------------------------------------------------------- diagnostic


def assign_modes(points: jax.Array, mixture: ModeMixture) -> np.ndarray:
    r"""Nearest mode of each point in the Mahalanobis metric of its covariance.

    ``points`` ``(n, d)``; returns int labels ``(n,)`` in ``[0, num_modes)``,
    :math:`\arg\min_m |L_m^{-1}(y - \mu_m)|^2` (the common inflation of the
    proposal covariances :math:`L_m L_m^\top = s^2\Sigma_m` does not change the argmin).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.modes import find_modes
        from numpyro_dilation.uturn import assign_modes

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        mixture, _ = find_modes(jnp.array([[-2.0, 0.0], [2.0, 0.0]]), logdensity, 0.5)
        print(mixture.means[:2])  # [[-3, 0], [3, 0]]: mode 0 on the left, mode 1 on the right
        points = jnp.array([[-4.0, 1.0], [0.5, 0.0], [2.0, -2.0]])
        print(assign_modes(points, mixture))  # [0 1 1]
    """
    n = int(mixture.num_modes)
    if n == 0:
        raise ValueError("The mixture has no mode.")
    return nearest_mode(points, mixture.means[:n], mixture.chol[:n])


def crossing_level(lambdas: Sequence[float], values: Sequence[float], threshold: float) -> float:
    r"""Largest :math:`\lambda` at which ``values`` first reaches ``threshold``,
    coming down from the largest :math:`\lambda`; linear interpolation in
    :math:`\log\lambda`. NaN if the first grid point already reaches it or no
    point does (the grid does not bracket the crossing).

    **Example**

    .. code-block:: python

        from numpyro_dilation.uturn import crossing_level

        lambdas = [0.5, 0.1, 0.01, 0.001]
        s = [0.0, 0.02, 0.3, 0.9]  # a normalized switch rate, rising as lambda_u falls
        print(crossing_level(lambdas, s, 0.05))  # 0.078: lambda_m, between 0.1 and 0.01
        print(crossing_level(lambdas, s, 0.5))  # 0.0046: lambda_s, between 0.01 and 0.001
        print(crossing_level(lambdas, s, 0.95))  # nan: not reached on this grid
    """
    lam = np.asarray(lambdas, float)
    val = np.asarray(values, float)
    order = np.argsort(-lam)
    lam, val = lam[order], val[order]
    above = np.nonzero(val >= threshold)[0]
    if len(above) == 0 or above[0] == 0:
        return float("nan")
    j = above[0]
    lo, hi = val[j - 1], val[j]
    t = (threshold - lo) / (hi - lo) if hi > lo else 1.0
    return float(np.exp(np.log(lam[j - 1]) + t * (np.log(lam[j]) - np.log(lam[j - 1]))))


def uturn_curves(
    rng_key: PRNGKey,
    logdensity_fn: Callable,
    draws: jax.Array,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    *,
    step_size: float,
    num_steps: int = 200,
    center: jax.Array | None = None,
    schedule: str = "linear",
    metropolis: bool = True,
    mixture: ModeMixture | None = None,
    global_moves: GlobalMoves | None = None,
    inverse_mass_matrix: jax.Array | None = None,
    memorization_threshold: float = 0.05,
    speciation_threshold: float = 0.5,
) -> "pd.DataFrame":
    r"""The U-turn diagnostic: mode-switch curve, correlation, :math:`\lambda_m`, :math:`\lambda_s`.

    Parameters
    ----------
    logdensity_fn
        :math:`\log\gamma` on flat positions of shape ``(d,)``.
    draws
        Draws of the target (exact or MCMC), flat, shape ``(n, d)``.
    lambdas
        Grid of turning levels :math:`\lambda_u \in (0, 1)`.
    step_size
        :math:`h` of the re-annealing (target coordinates; e.g. the sampler's tuned step).
    num_steps
        Re-annealing steps from :math:`\lambda_u` to 1 (``schedule``, linear by
        default like the sampler's annealing).
    center
        :math:`c`: ``None`` (mean of the draws), ``(d,)``, or per-draw ``(n, d)``.
    metropolis
        MALA (default) or unadjusted Langevin during the re-annealing.
    mixture
        Modes defining the clustering; ``None``: :func:`find_modes` on the
        draws with ``global_moves`` settings.
    inverse_mass_matrix
        Diagonal preconditioner :math:`v` of the re-annealing (and of the mode
        finding), flat ``(d,)``; ``None``: ones. Use the sampler's.
    memorization_threshold, speciation_threshold
        :math:`\tau_m < \tau_s` on the normalized switch rate (module docstring).

    Returns
    -------
    A tidy ``DataFrame``, one row per :math:`\lambda_u` (decreasing), columns
    ``lambda_u``, ``switch_rate`` (share of returns in another mode than their
    start), ``switch_rate_se`` (binomial), ``independent_switch_rate``
    (:math:`1 - \sum_m p_m^2`), ``switch_fraction`` (their ratio, :math:`s`),
    ``correlation`` (mean over coordinates of the Pearson correlation between
    starts and returns), ``return_tv`` (total variation between the returns'
    and the starts' mode shares: the re-annealing's bias), ``acceptance``
    (mean MALA acceptance along the re-annealing), ``num_draws``,
    ``num_steps``, ``lambda_m`` and ``lambda_s`` (the same on every row). The
    frame's ``attrs`` hold ``lambda_m``, ``lambda_s``, ``num_modes``,
    ``mode_shares``, the thresholds and the center.

    Examples
    --------

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        from numpyro_dilation.uturn import uturn_curves

        def logdensity(y):  # two unit Gaussians at (-3, 0) and (3, 0), 2-d
            mus = jnp.array([[-3.0, 0.0], [3.0, 0.0]])
            return logsumexp(-0.5 * jnp.sum((y - mus) ** 2, axis=-1))

        key_draws, key_side, key_run = jax.random.split(jax.random.key(0), 3)
        side = jnp.where(jax.random.bernoulli(key_side, 0.5, (100,)), 3.0, -3.0)
        draws = jax.random.normal(key_draws, (100, 2)) + jnp.stack([side, jnp.zeros(100)], axis=1)
        lambdas = (0.5, 0.05, 1e-3)
        table = uturn_curves(key_run, logdensity, draws, lambdas, step_size=0.5, num_steps=50)
        print(table[["lambda_u", "switch_fraction", "correlation"]])
        print(table.attrs["lambda_m"], table.attrs["lambda_s"])
    """
    if not 0 < memorization_threshold < speciation_threshold <= 1:
        raise ValueError(
            "Need 0 < memorization_threshold < speciation_threshold <= 1, got "
            f"{memorization_threshold!r} and {speciation_threshold!r}."
        )
    lambdas = sorted((float(v) for v in lambdas), reverse=True)
    if not lambdas or not all(_is_level(v) for v in lambdas):
        raise ValueError(f"`lambdas` must be levels in (0, 1), got {lambdas!r}.")
    draws = jnp.asarray(draws)
    if draws.ndim != 2:
        raise ValueError(f"`draws` must have shape (n, d), got {draws.shape}.")
    num, dim = draws.shape
    if mixture is None:
        mixture, _ = jax.jit(
            lambda y: find_modes(y, logdensity_fn, step_size, global_moves, inverse_mass_matrix)
        )(draws)
    start_labels = assign_modes(draws, mixture)
    num_modes = int(mixture.num_modes)
    shares = np.bincount(start_labels, minlength=num_modes) / num
    independent = 1.0 - float(np.sum(shares**2))
    centers = _centers(center, draws)

    @jax.jit
    def run(key, levels, draws, centers):
        keys = jax.random.split(key, num)
        return jax.vmap(
            lambda k, y, c: uturn_return(
                k, y, logdensity_fn, levels, step_size, c, metropolis, inverse_mass_matrix
            )
        )(keys, draws, centers)

    start = np.asarray(draws, float)
    rows = []
    for key, lam in zip(jax.random.split(rng_key, len(lambdas)), lambdas):
        levels = jnp.asarray(make_schedule(schedule, num_steps, lam), draws.dtype)
        returns, acc = run(key, levels, draws, centers)
        ret = np.asarray(returns, float)
        labels = assign_modes(returns, mixture)
        switch = float(np.mean(labels != start_labels))
        return_shares = np.bincount(labels, minlength=num_modes) / num
        rows.append(
            {
                "lambda_u": lam,
                "switch_rate": switch,
                "switch_rate_se": math.sqrt(switch * (1 - switch) / num),
                "independent_switch_rate": independent,
                "switch_fraction": switch / independent if independent > 0 else 0.0,
                "correlation": _mean_correlation(start, ret),
                "return_tv": 0.5 * float(np.abs(return_shares - shares).sum()),
                "acceptance": float(jnp.mean(acc)),
                "num_draws": num,
                "num_steps": num_steps,
            }
        )
    import pandas as pd  # tables only: the kernel layer imports no pandas

    table = pd.DataFrame(rows)
    lambda_m = crossing_level(table.lambda_u, table.switch_fraction, memorization_threshold)
    lambda_s = crossing_level(table.lambda_u, table.switch_fraction, speciation_threshold)
    table["lambda_m"], table["lambda_s"] = lambda_m, lambda_s
    table.attrs.update(
        lambda_m=lambda_m,
        lambda_s=lambda_s,
        num_modes=num_modes,
        mode_shares=shares.tolist(),
        memorization_threshold=memorization_threshold,
        speciation_threshold=speciation_threshold,
        dim=dim,
        center="mean of draws" if center is None else np.asarray(center).tolist(),
    )
    return table


def _mean_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over coordinates of the Pearson correlation of ``a[:, j]`` and ``b[:, j]``
    (coordinates constant in either are skipped)."""
    a, b = a - a.mean(0), b - b.mean(0)
    sa, sb = np.sqrt((a * a).sum(0)), np.sqrt((b * b).sum(0))
    ok = (sa > 0) & (sb > 0)
    if not ok.any():
        return float("nan")
    return float(np.mean((a * b).sum(0)[ok] / (sa[ok] * sb[ok])))


def plot_uturn(table: "pd.DataFrame", ax=None, *, label: str | None = None, color=None):
    r"""Mode-switch curves of :func:`uturn_curves`, in ArviZ's style.

    Plots, against :math:`\lambda_u` (log axis, decreasing to the right: the
    direction of a longer U-turn), the normalized switch rate :math:`s` with a
    ±2 s.e. band, the start/return correlation (dashed), and vertical lines at
    :math:`\lambda_m` (dotted) and :math:`\lambda_s` (dash-dotted). Returns the
    matplotlib ``Axes`` (created if ``ax`` is ``None``); call it again with the
    same ``ax`` to overlay several tables.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC

        from numpyro_dilation import DilationLangevin, plot_uturn, uturn_diagnostic

        def sign_model(y=None):  # theta ~ +-2: y depends on theta only through theta^2
            theta = numpyro.sample("theta", dist.Normal(0.25, 1.0))
            numpyro.sample("y", dist.Normal(theta**2, 0.5), obs=y)

        kernel = DilationLangevin(sign_model)
        mcmc = MCMC(kernel, num_warmup=60, num_samples=40, num_chains=8,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0), y=4.0)
        table = uturn_diagnostic(mcmc, jax.random.key(1), lambdas=(0.5, 1e-3, 1e-5),
                                 num_draws=100, num_steps=50)
        print(table[["lambda_u", "switch_fraction", "correlation"]])
        print(table.attrs["lambda_m"], table.attrs["lambda_s"])  # lambda_m, lambda_s
        ax = plot_uturn(table, label="two modes")  # a matplotlib Axes
        ax.figure.savefig("uturn.png")
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    t = table.sort_values("lambda_u")
    lam = t["lambda_u"].to_numpy()
    indep = np.where(t["independent_switch_rate"] > 0, t["independent_switch_rate"], np.nan)
    s = t["switch_fraction"].to_numpy()
    se = t["switch_rate_se"].to_numpy() / indep
    name = "" if label is None else f"{label}: "
    (line,) = ax.plot(lam, s, "o-", color=color, label=f"{name}switch / independent")
    color = line.get_color()
    ax.fill_between(lam, s - 2 * se, s + 2 * se, color=color, alpha=0.2, lw=0)
    ax.plot(
        lam,
        t["correlation"],
        "s--",
        color=color,
        ms=4,
        alpha=0.7,
        label=f"{name}start/return correlation",
    )
    for key, style in (("lambda_m", ":"), ("lambda_s", "-.")):
        value = table.attrs.get(key, t[key].iloc[0] if key in t else float("nan"))
        if np.isfinite(value):
            sub = key.split("_")[1]
            ax.axvline(
                value, color=color, ls=style, lw=1, label=rf"{name}$\lambda_{sub}$ = {value:.3g}"
            )
    ax.set_xscale("log")
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.set_xlabel(r"U-turn level $\lambda_u$")
    ax.set_ylabel("fraction")
    ax.set_ylim(-0.05, 1.1)
    ax.legend(fontsize="small")
    return ax
