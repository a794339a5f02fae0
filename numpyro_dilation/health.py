r"""Whether a run's draws can be trusted: running statistics kept while sampling, and the
one warning that names what went wrong and what to change.

A population run carries, per chain, a :class:`RunMonitor`: Welford running means
:math:`\bar y_c` and sums of squared deviations :math:`M_{2,c}` of the flat
(unconstrained) position over the current phase, the number of divergent iterations,
the number of iterations in which the position changed, and the global moves' summed
acceptance. Memory :math:`O(C d)` for :math:`C` chains in dimension :math:`d`; the update
is elementwise, :math:`O(d)` per chain and iteration.

At the end of a phase :func:`health_problems` turns the chains' monitors into a list of
problems, each naming its cause and what to change:

- **R-hat.** Per coordinate, the *split* potential scale reduction of Gelman and Rubin:
  each chain's draws are cut into a first and a second half (the monitor freezes a copy of
  its sums at the half, ``half_count``, ``half_mean``, ``half_m2``; the second half's
  follow by Chan's formulas for merged sums), giving :math:`C' = 2C` half-chains of about
  :math:`n` draws, and

  .. math::

      W = \frac1{C'}\sum_c s_c^2,\quad \frac Bn = \operatorname{var}_c(\bar y_c),\quad
      \hat R = \sqrt{\Big(\tfrac{n-1}{n}W + \tfrac Bn\Big)\Big/W},

  with :math:`s_c^2 = M_{2,c}/(n_c-1)`; a site is reported if any of its coordinates has
  :math:`\hat R >` :data:`MAX_RHAT`. Splitting catches chains that drift together (a
  warm-up too short: every chain's first half differs from its second), which the
  whole-chain version cannot see. Without the half's copy (fewer than 2 draws in a half, or
  a monitor built without it) the whole chains are compared. It is computed in the
  unconstrained space from the running sums (no draws are kept), so it can differ a little
  from ArviZ's rank-normalized split :math:`\hat R` on the returned draws.
- **Divergences** during sampling (non-finite log-density or gradient, or a
  non-finite energy: the proposal was rejected).
- **Chains that never moved** over the phase.
- **Global moves accepted too rarely**: mean acceptance below
  :data:`~numpyro_dilation.diagnostics.MIN_GLOBAL_ACCEPTANCE` while two or more modes
  were found (the mode weights then rest on the local moves alone).
- **Mode shares against Laplace weights**: a mode holding at least 5% of the chains'
  final positions (or of the Laplace weight) whose share and Laplace weight differ by
  more than a factor of :data:`MAX_WEIGHT_RATIO` (the chains are stuck in a mode the
  curvature calls negligible, or miss one it calls heavy).

This module imports JAX and NumPy only.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from numpyro_dilation.mode_settings import STOP_ACCEPTANCE

__all__ = [
    "MAX_RHAT",
    "MAX_WEIGHT_RATIO",
    "ReliabilityWarning",
    "RunMonitor",
    "health_problems",
    "init_monitor",
    "rhat",
    "update_monitor",
]

MAX_RHAT = 1.01
"""Largest cross-chain :math:`\\hat R` of any coordinate that passes without a warning.

**Example**

.. code-block:: python

    from numpyro_dilation.health import MAX_RHAT

    print(MAX_RHAT)  # 1.01, the threshold of Vehtari et al. (2021)
"""

MAX_WEIGHT_RATIO = 100.0
"""Largest ratio between a mode's share of the chains and its Laplace weight (either way)
that passes without a warning.

**Example**

.. code-block:: python

    from numpyro_dilation.health import MAX_WEIGHT_RATIO

    print(MAX_WEIGHT_RATIO)  # 100.0: two orders of magnitude
"""

_MIN_SHARE = 0.05  # a mode is checked only if its share or its Laplace weight reaches this
_MAX_NAMES = 5  # sites named in a message


class ReliabilityWarning(RuntimeWarning):
    """The run cannot vouch for its draws; the message names each cause and what to change.

    **Example**

    .. code-block:: python

        import warnings
        from numpyro_dilation.health import ReliabilityWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.warn("R-hat 1.3 on 'tau'", ReliabilityWarning)
        print(caught[0].category.__name__)  # ReliabilityWarning
    """


class RunMonitor(NamedTuple):
    """Running statistics of one chain over the current phase (warm-up, or one ``run``'s
    draws), flat positions of dimension :math:`d`.

    count
        Iterations seen (int32 scalar).
    mean
        Running mean :math:`\\bar y` of the position, shape ``(d,)``.
    m2
        Sum of squared deviations from the running mean, shape ``(d,)``.
    num_divergent
        Iterations with a divergent proposal (int32 scalar).
    num_moved
        Iterations in which the position changed (int32 scalar).
    global_accept_sum, num_global_moves
        Summed acceptance probability of the global moves made, and their number.
    jump_sq, num_jumps
        Sum of squared jumps :math:`(y_t - y_{t-1})^2` between consecutive positions, shape
        ``(d,)``, and their number: over the iterations given a previous position (the
        warm-up's last stretch and the draws; see :mod:`numpyro_dilation.draw_length`).
    snapshot, lag_jump_sq, num_lag_jumps
        The position at the last lag point (``nan`` before the first), the sum of squared
        jumps between successive lag points, shape ``(d,)``, and their number (lag points
        every :data:`~numpyro_dilation.draw_length.VARIOGRAM_LAG` iterations).
    half_count, half_mean, half_m2
        ``count``, ``mean`` and ``m2`` frozen at the phase's half (``update_monitor``'s
        ``half``), for the split :math:`\\hat R`; ``None`` in a monitor built without them.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.health import init_monitor, update_monitor

        monitor = init_monitor(2)
        for y in ([0.0, 1.0], [2.0, 1.0], [4.0, 1.0]):
            monitor = update_monitor(monitor, jnp.array(y), moved=True, diverging=False)
        print(monitor.count, monitor.mean, monitor.m2 / (monitor.count - 1))  # 3 [2 1] [4 0]
    """

    count: jax.Array
    mean: jax.Array
    m2: jax.Array
    num_divergent: jax.Array
    num_moved: jax.Array
    global_accept_sum: jax.Array
    num_global_moves: jax.Array
    jump_sq: jax.Array
    num_jumps: jax.Array
    snapshot: jax.Array
    lag_jump_sq: jax.Array
    num_lag_jumps: jax.Array
    half_count: jax.Array | None = None
    half_mean: jax.Array | None = None
    half_m2: jax.Array | None = None


def init_monitor(dim: int, dtype=jnp.float32) -> RunMonitor:
    """An empty :class:`RunMonitor` for flat positions of dimension ``dim``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.health import init_monitor

        print(init_monitor(3).mean.shape)  # (3,)
    """
    zero = jnp.zeros((), jnp.int32)
    return RunMonitor(
        zero,
        jnp.zeros((dim,), dtype),
        jnp.zeros((dim,), dtype),
        zero,
        zero,
        jnp.zeros((), dtype),
        zero,
        jnp.zeros((dim,), dtype),
        zero,
        jnp.full((dim,), jnp.nan, dtype),
        jnp.zeros((dim,), dtype),
        zero,
        zero,
        jnp.zeros((dim,), dtype),
        jnp.zeros((dim,), dtype),
    )


def update_monitor(
    monitor: RunMonitor,
    position: jax.Array,
    moved: jax.Array,
    diverging: jax.Array,
    global_accept: jax.Array | float = 0.0,
    global_moved: jax.Array | bool = False,
    previous: jax.Array | None = None,
    count_jump: jax.Array | bool = True,
    lag_point: jax.Array | bool = False,
    half: int | None = None,
) -> RunMonitor:
    """Add one iteration: Welford's update of the mean and :math:`M_2` with the flat
    ``position`` ``(d,)``, and the counters; with the ``previous`` flat position and
    ``count_jump`` (a boolean, traced or not), the squared jump ``(position - previous) ** 2``;
    at a ``lag_point`` (boolean), the squared jump from the last lag point's ``snapshot``
    (if any), and ``position`` becomes the snapshot; up to the ``half``-th iteration (the
    phase's length over 2, if known) the sums are also copied to the ``half_*`` fields.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.health import init_monitor, update_monitor

        monitor = update_monitor(init_monitor(1), jnp.ones(1), moved=False, diverging=True)
        print(monitor.num_divergent, monitor.num_moved)  # 1 0
    """
    count = monitor.count + 1
    delta = position - monitor.mean
    mean = monitor.mean + delta / count.astype(position.dtype)
    m2 = monitor.m2 + delta * (position - mean)
    return RunMonitor(
        count,
        mean,
        m2,
        monitor.num_divergent + jnp.asarray(diverging, jnp.int32),
        monitor.num_moved + jnp.asarray(moved, jnp.int32),
        monitor.global_accept_sum
        + jnp.asarray(global_accept, monitor.global_accept_sum.dtype)
        * jnp.asarray(global_moved, monitor.global_accept_sum.dtype),
        monitor.num_global_moves + jnp.asarray(global_moved, jnp.int32),
        monitor.jump_sq
        if previous is None
        else monitor.jump_sq + jnp.where(count_jump, (position - previous) ** 2, 0.0),
        monitor.num_jumps + jnp.asarray(previous is not None and count_jump, jnp.int32),
        *_lag_update(monitor, position, lag_point),
        *_half_update(monitor, count, mean, m2, half),
    )


def _half_update(monitor: RunMonitor, count, mean, m2, half):
    """``(half_count, half_mean, half_m2)`` after this iteration: the sums themselves up to
    the ``half``-th iteration, then frozen."""
    if half is None or monitor.half_mean is None:
        return monitor.half_count, monitor.half_mean, monitor.half_m2
    keep = count <= half
    return (
        jnp.where(keep, count, monitor.half_count),
        jnp.where(keep, mean, monitor.half_mean),
        jnp.where(keep, m2, monitor.half_m2),
    )


def _lag_update(monitor: RunMonitor, position: jax.Array, lag_point):
    """``(snapshot, lag_jump_sq, num_lag_jumps)`` after ``position``."""
    has = lag_point & ~jnp.any(jnp.isnan(monitor.snapshot))
    return (
        jnp.where(lag_point, position, monitor.snapshot),
        monitor.lag_jump_sq + jnp.where(has, (position - monitor.snapshot) ** 2, 0.0),
        monitor.num_lag_jumps + jnp.asarray(has, jnp.int32),
    )


def rhat(monitor: RunMonitor) -> jax.Array:
    r"""Per-coordinate :math:`\hat R` (module docstring) from monitors batched over chains
    (``mean`` of shape ``(C, d)``). ``inf`` where the chains disagree but do not move
    (:math:`W = 0 < B`), 1 where nothing varies; ``nan`` with fewer than 2 chains or draws.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.health import init_monitor, rhat, update_monitor

        def monitor(draws):  # draws (n, d) of one chain
            m = init_monitor(draws.shape[1])
            for y in draws:
                m = update_monitor(m, y, True, False)
            return m

        draws = jax.random.normal(jax.random.key(0), (4, 200, 2))  # 4 chains, 200 draws
        draws = draws.at[0, :, 1].add(3.0)  # chain 0 elsewhere in coordinate 1
        monitors = jax.tree.map(lambda *x: jnp.stack(x), *[monitor(d) for d in draws])
        print(rhat(monitors))  # about [1.0, 1.7]
    """
    # NumPy monitors are computed with NumPy: the end-of-run check runs this inside a host
    # callback of the running sampler, where it must not start an XLA computation
    xp = np if isinstance(monitor.mean, np.ndarray) else jnp
    with np.errstate(divide="ignore", invalid="ignore"):
        dtype = np.float64 if xp is np else monitor.mean.dtype
        n = monitor.count.astype(dtype)[:, None]
        whole = _ratio(xp, n, monitor.mean.astype(dtype), monitor.m2.astype(dtype))
        if monitor.half_mean is None:
            return xp.sqrt(whole)
        split, halves = _halves(monitor, n, dtype, xp)
        return xp.sqrt(xp.where(split, _ratio(xp, *halves), whole))


def _ratio(xp, n, mean, m2):
    """:math:`\\hat R^2` of chains with counts ``n`` ``(K, 1)``, means and sums of squares
    ``(K, d)``."""
    within = xp.mean(m2 / (n - 1), axis=0)
    between_over_n = xp.var(mean, axis=0, ddof=1)
    n0 = xp.mean(n)
    var_plus = (n0 - 1) / n0 * within + between_over_n
    ratio = xp.where(within > 0, var_plus / xp.where(within > 0, within, 1.0), xp.inf)
    return xp.where((within == 0) & (between_over_n == 0), 1.0, ratio)


def _halves(monitor: RunMonitor, n, dtype, xp):
    """Whether both halves of every chain hold at least 2 draws, and the half-chains'
    counts ``(2C, 1)``, means and sums of squares ``(2C, d)``: the frozen first halves, then
    the second halves by Chan's formulas for merged sums, :math:`n_2 = n - n_1`,
    :math:`\\bar y_2 = (n\\bar y - n_1\\bar y_1)/n_2`, :math:`M_{2,2} = M_2 - M_{2,1} - n_1 n_2
    (\\bar y_1 - \\bar y_2)^2 / n`."""
    mean, m2 = monitor.mean.astype(dtype), monitor.m2.astype(dtype)
    n1 = monitor.half_count.astype(dtype)[:, None]
    mean1, m2_1 = monitor.half_mean.astype(dtype), monitor.half_m2.astype(dtype)
    n2 = n - n1
    mean2 = (n * mean - n1 * mean1) / xp.where(n2 > 0, n2, 1.0)
    m2_2 = xp.maximum(m2 - m2_1 - n1 * n2 / xp.where(n > 0, n, 1.0) * (mean1 - mean2) ** 2, 0.0)
    split = xp.all(n1 >= 2) & xp.all(n2 >= 2)
    return split, (
        xp.concatenate([n1, n2]),
        xp.concatenate([mean1, mean2]),
        xp.concatenate([m2_1, m2_2]),
    )


_MISSED_MODE_P = 0.01  # a mode no chain ends in is reported below this chance of it
_MISSED_MODE_WEIGHT = 1e-3  # ... and above this Laplace weight


def _weights_at_stake(mode_shares, laplace_weights, disagree: bool, num_chains: int) -> bool:
    """Whether stopped global moves leave mode weights to the local moves unchecked: the
    chains' final positions lie in two or more modes and the chains ``disagree`` (R-hat;
    chains that agree crossed between the modes), or a mode that none is in has a Laplace
    weight :math:`w > 10^{-3}` with :math:`(1-w)^C` below 0.01 for ``num_chains``
    :math:`C` (unknown shares or weights: yes). Measured: radon's ridge "modes" have
    weights 1e-19 to 1e-31; NumPyro's baseball logit model (a false alarm before
    2026-12-07) has 2 of 4 modes visited by all 64 chains (R-hat 1.003) and two "modes"
    of weight 0.023 and 0.009 that no final position is in (chance 0.22 and 0.57) but 1 and
    3 chains' draws visit."""
    if mode_shares is None or laplace_weights is None:
        return True
    occupied = np.asarray(mode_shares) > 0
    w = np.asarray(laplace_weights, dtype=float)
    unlikely = num_chains * np.log1p(-np.minimum(w, 1.0 - 1e-16)) < np.log(_MISSED_MODE_P)
    missed = ~occupied & (w > _MISSED_MODE_WEIGHT) & unlikely
    return (disagree and int(np.sum(occupied)) >= 2) or bool(np.any(missed))


def health_problems(
    monitor: RunMonitor,
    coordinate_sites: list[str],
    phase: str = "sampling",
    num_modes: int = 0,
    mode_shares: np.ndarray | None = None,
    laplace_weights: np.ndarray | None = None,
    min_global_acceptance: float = 0.05,
    moves_stopped: bool = False,
) -> list[str]:
    """The problems of a finished phase, one sentence each (empty if none).

    ``monitor``: batched over the chains (host or device arrays); ``coordinate_sites``: the
    site name of each flat coordinate; ``phase``: ``"sampling"`` (every check) or
    ``"warm-up"`` (only chains that never moved); ``mode_shares`` and
    ``laplace_weights``: per mode found, the share of chains nearest to it and its
    Laplace weight (both ``(num_modes,)``), or ``None``; ``moves_stopped``: the global
    moves were stopped at the warm-up's end (none accepted there), reported where the
    mode weights are at stake (chains in two or more modes that disagree, or a heavy mode
    that all miss).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.health import init_monitor, health_problems, update_monitor

        m = init_monitor(1)
        for y in (0.0, 1.0, 0.5):
            m = update_monitor(m, jnp.array([y]), moved=True, diverging=y > 0.7)
        monitors = jax.tree.map(lambda x: jnp.stack([x, x]), m)  # 2 identical chains
        print(health_problems(monitors, ["x"]))  # ['1 of 6 iterations diverged ...']
    """
    monitor = jax.tree.map(np.asarray, monitor)
    num_chains = monitor.count.shape[0]
    problems = []
    stuck = int(np.sum(monitor.num_moved == 0))
    if stuck and int(monitor.count[0]) >= 2:
        problems.append(
            f"{stuck} of {num_chains} chains never moved during {phase} (every proposal "
            "rejected): their draws sit where the chains started. Lower `step_size` or "
            "keep `adapt_step_size=True`, make the log-density finite around the initial "
            "points (`init_params`/`init_strategy`), or raise `num_warmup`."
        )
    if phase != "sampling":
        return problems
    total = int(np.sum(monitor.count))
    num_divergent = int(np.sum(monitor.num_divergent))
    if num_divergent:
        problems.append(
            f"{num_divergent} of {total} iterations diverged (a proposal with a non-finite "
            "log-density or gradient, or an energy error above 1000, was rejected): the "
            "posterior has regions the step cannot follow (a funnel neck, a heavy tail, a "
            "boundary). Raise `target_accept_prob` (e.g. to 0.8: a shorter step, which "
            "`steps_per_draw='auto'` makes up for with more steps per draw), reparameterize "
            "(e.g. non-centered hierarchical priors with "
            "`numpyro.infer.reparam.LocScaleReparam`), or raise `num_warmup`."
        )
    disagree = False
    if num_chains >= 2 and int(monitor.count[0]) >= 4:
        r = np.asarray(rhat(monitor))  # NumPy: no XLA inside the callback
        bad = ~(r <= MAX_RHAT)  # nan counts as bad
        disagree = bool(np.any(bad))
        if disagree:
            worst = {}
            for site, value in zip(coordinate_sites, r):
                value = float(value) if np.isfinite(value) else np.inf
                if not value <= MAX_RHAT:
                    worst[site] = max(worst.get(site, 0.0), value)
            ordered = sorted(worst, key=lambda s: -worst[s])
            named = ", ".join(f"{s!r} ({worst[s]:.4g})" for s in ordered[:_MAX_NAMES])
            more = f" and {len(ordered) - _MAX_NAMES} more" if len(ordered) > _MAX_NAMES else ""
            problems.append(
                f"the chains disagree: R-hat > {MAX_RHAT} on {named}{more}. The chains have "
                "not mixed (stuck in different regions, or too few draws for their "
                "autocorrelation). Raise `num_warmup` and `num_samples`, reparameterize the "
                "sites named, and check `numpyro_dilation.mode_summary(mcmc)`. If it "
                "persists, the posterior may have directions that these draws cross slowly "
                "(correlated group effects, global-local scales): compare with `NUTS`."
            )
    num_moves = int(np.sum(monitor.num_global_moves))
    if num_modes >= 2 and num_moves:
        acceptance = float(np.sum(monitor.global_accept_sum)) / num_moves
        if acceptance < min_global_acceptance:
            problems.append(
                f"the global moves between the {num_modes} modes found were accepted with "
                f"mean probability {acceptance:.3f} (< {min_global_acceptance}): the mode "
                "weights rest on the local moves alone and may be wrong. Raise `num_warmup` "
                "(better modes), or widen the proposal (`GlobalMoves(inflation=...)`, "
                "`tail_weight`)."
            )
    if moves_stopped and num_modes >= 2 and _weights_at_stake(
        mode_shares, laplace_weights, disagree, num_chains
    ):
        problems.append(
            f"the global moves between the {num_modes} modes found were stopped at the "
            f"warm-up's end (none accepted there: mean probability < {STOP_ACCEPTANCE}), so "
            "the draws did not pay for them, and the chains sit in more than one of them and "
            "disagree, or all miss one whose Laplace weight makes that unlikely: the mode "
            "weights rest on the local moves alone and may be wrong. Check "
            "`numpyro_dilation.mode_summary(mcmc)`; raise `num_warmup` (better modes), or "
            "widen the proposal (`GlobalMoves(inflation=...)`, `tail_weight`)."
        )
    if mode_shares is not None and laplace_weights is not None and num_modes >= 2:
        floor = 0.5 / num_chains
        for m, (share, weight) in enumerate(zip(mode_shares, laplace_weights)):
            if max(share, weight) < _MIN_SHARE:
                continue
            ratio = max(share, floor) / max(weight, 1e-300)
            if ratio > MAX_WEIGHT_RATIO or ratio < 1.0 / MAX_WEIGHT_RATIO:
                problems.append(
                    f"mode {m} holds {share:.1%} of the chains but its Laplace weight is "
                    f"{weight:.2g}: either the chains are stuck in a region the curvature "
                    "calls negligible (a non-Gaussian mode, a boundary) or they miss a heavy "
                    "mode. Compare with `numpyro_dilation.mode_summary(mcmc)`, raise "
                    "`num_warmup`, or reparameterize."
                )
    return problems


def warn_problems(problems: list[str], phase: str) -> None:
    """One :class:`ReliabilityWarning` listing ``problems`` (nothing if empty)."""
    if not problems:
        return
    body = "\n".join(f"  - {p}" for p in problems)
    warnings.warn(
        f"DilationLangevin: the {phase} draws are not reliable:\n{body}",
        ReliabilityWarning,
        stacklevel=2,
    )
