r"""How many transitions make one draw, measured at the end of the warm-up.

**Why.** A MALA chain moves about :math:`\sqrt{2hv_i}` per step along coordinate :math:`i`,
so along a coordinate of posterior variance :math:`\sigma_i^2 \gg hv_i` successive
positions are strongly correlated: on a Gaussian its integrated autocorrelation time is
about :math:`2\sigma_i^2/(hv_i)` steps (tens at :math:`d = 10`, more as :math:`d` grows:
:math:`h \propto d^{-1/3}`). Many short chains then fail the cross-chain
:math:`\hat R \le 1.01` rule although every chain is stationary: with :math:`n` draws per
chain and integrated autocorrelation time :math:`\tau` (in draws), split-:math:`\hat R`
is about :math:`1 + (\tau - 1)/n`. NUTS avoids this by making each draw a trajectory of
many gradients. Here each draw of the sampling phase is :math:`k` transitions of the
chain (MALA steps; the global move and the exact U-turn move of the iteration, if any,
come with the last one), so that the draws are nearly independent.

**Measurement.** Over the warm-up's last stretch at the draws' step size
(:func:`jump_window_start`: the second half of the stretch from the last preconditioner
update or the mode finding, whichever is later, to the end; the step size is fixed there
at the averaged value the draws use,
:func:`~numpyro_dilation.population_settings.fixed_step_iteration`), each chain's
:class:`~numpyro_dilation.health.RunMonitor` sums the squared jumps
:math:`(y_{t,i} - y_{t-1,i})^2` per coordinate. With :math:`J_i` their mean over chains
and iterations, and :math:`\sigma_i^2` the variance of the positions at
:math:`\lambda = 1` (the smaller of the pooled variance over the stretch, within plus
between chains, and, with at least :data:`CROSS_SECTION_MIN_CHAINS` chains, the variance
across chains at the end of the warm-up: chains that were still leaving a minor mode
early in the stretch inflate the pooled variance, measured 100× on posteriordb's
low_dim_gauss_mix, and with it :math:`\hat\rho_i`; and at least :math:`J^{(m)}_i/2`,
below), a stationary chain whose lag-one
autocorrelation is :math:`\rho_i` has :math:`J_i = 2\sigma_i^2(1 - \rho_i)`, so

.. math:: \hat\rho_i = 1 - J_i / (2\sigma_i^2).

The same at lag :math:`m` = :data:`VARIOGRAM_LAG` (squared jumps between positions
:math:`m` iterations apart, :math:`J^{(m)}_i`) gives :math:`\hat\rho^{(m)}_i`, and the
per-step autocorrelation used is :math:`\max(\hat\rho_i, (\hat\rho^{(m)}_i)^{1/m})` where
:math:`\hat\rho^{(m)}_i` exceeds the rule's :math:`r = 0.2` (below, :math:`m` steps are
already enough, and the :math:`m`-th root would magnify its noise): for an autoregressive
chain the two agree; where slow components hide under fast ones (a heavy tail, a funnel)
the lag-:math:`m` variogram sees more of them. A reversible chain's autocorrelation at an
even lag is :math:`\ge 0`, so :math:`J^{(m)}_i \le 2\sigma_i^2` (:math:`m` = 8): where the
positions recorded since the annealing are under-dispersed, :math:`\sigma_i^2` is raised
to :math:`J^{(m)}_i/2` (measured on a 1-d normal, 32 chains: a pooled variance of 3.5
where the draws' was 4.1, and :math:`\hat\rho` 0.10 where the draws' lag-one
autocorrelation was 0.16).

**Rule.** For an autoregressive chain, :math:`k` transitions have lag-one autocorrelation
:math:`\rho^k` and integrated time :math:`\tau_k = (1 + \rho^k)/(1 - \rho^k)`. The draw
length is the smallest :math:`k` with :math:`\tau_k \le \tau^*` =
:data:`MAX_DRAW_AUTOCORRELATION_TIME` (1.5) for the slowest coordinate (largest
:math:`\hat\rho_i`): nearly independent draws, so that stationary chains of :math:`n`
draws keep split-:math:`\hat R` below about :math:`1 + 0.5/n` (1.005 for 100 draws, half
of the 0.01 that the run's own check allows). That is
:math:`k = \lceil \log r / \log \hat\rho_{\max} \rceil` with
:math:`r = (\tau^* - 1)/(\tau^* + 1) = 0.2`, clipped to :math:`[1,`
:data:`MAX_STEPS_PER_DRAW` :math:`]`. For runs of more than 100 draws per chain the
target is :math:`\tau^* = \max(1.5, 1 + n/200)` (:func:`target_autocorrelation_time`):
split-:math:`\hat R - 1 \approx (\tau^* - 1)/n` stays about 0.005. :math:`k` is chosen at
the first draw of a run and kept by later runs continued from its state.
Coordinates that do not vary are ignored; a coordinate that varies but never jumped gives
the cap. Measured while the step size still adapted (the whole stretch; every chain's
dual-averaging iterate :math:`h_t` scatters around its final value), the chains jumped
less than the draws do: on the 1000-group hierarchical model of ``benchmarks/models.py``
the median per-step :math:`\hat\rho` was 0.947 where the draws' own lag-one
autocorrelation was 0.914, so :math:`k` came out at the cap of 32 instead of about 18
(27 at the draws' step, 23 with the correction for noise below).

**Noise.** :math:`k` is set by the largest of :math:`d` estimates, each a ratio of noisy
means, and where many coordinates mix alike the largest exceeds the truth by about
:math:`E_d` standard errors (:func:`expected_maximum`: 1.5 at :math:`d = 10`, 3.2 at 1000).
The relative standard error :math:`s_i` of :math:`1 - \hat\rho_i` follows from the counts:
:math:`2/n` relative variance for a mean of :math:`n` squared (Gaussian) jumps, and
:math:`2/n_\text{eff}` for the variance, :math:`n_\text{eff} = \max(C, N(1 - \hat\rho_i)/(1
+ \hat\rho_i))` from :math:`N` positions of :math:`C` chains (the delta method carries
the lag-:math:`m` estimate's error through its :math:`m`-th root). The rule is applied to
the largest of :math:`1 - (1 - \hat\rho_i)(1 + E_d s_i)`. The correction is bounded by
the run's own check: the draws' split-:math:`\hat R` of a stationary coordinate is about
:math:`1 + (\tau - 1)/n` with a standard deviation of :math:`\tau q/n`, :math:`q =
\sqrt{2/(2C - 1)}`, so the largest of :math:`d` is about :math:`1 + ((\tau - 1) + E_d\tau
q)/n`; :math:`k` never falls below the one that keeps this at
:data:`~numpyro_dilation.health.MAX_RHAT` (1.01) for the uncorrected largest estimate,
that :math:`\tau` taken between the rule's :math:`\tau^*` and :math:`\tau^* + (\tau^* -
1)/2` (1.5 and 1.75 at 100 draws). A coordinate that truly is slower than all the others
loses at most that. With one
coordinate nothing changes (:math:`E_1 = 0`). Measured on 256 AR(1) chains of 25
positions (``tests/test_draw_length.py``): :math:`\rho = 0.9` on 1000 coordinates, where
:math:`k = 16` suffices, gives :math:`k = 19` (22 uncorrected); on hierarchical_1000 (key
0) the largest estimate is 0.940 (median 0.917; the draws' 0.914) with :math:`s_i = 0.11`,
and :math:`k` is 23 (27 uncorrected; the floor sets it).

**Cost.** :math:`k` gradients per draw and chain for the local steps (plus one per global
move), chosen once; memory :math:`O(d)` more per chain for the jump sums. The run's own
end-of-run check still measures :math:`\hat R` on the draws and warns if the estimate was
too optimistic (a funnel's neck, a chain stuck between modes).

No NumPyro import.
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtri

from numpyro_dilation.health import MAX_RHAT, RunMonitor
from numpyro_dilation.population_settings import PopulationSettings

__all__ = [
    "CROSS_SECTION_MIN_CHAINS",
    "DRAWS_PER_EXTRA_TAU",
    "MAX_DRAW_AUTOCORRELATION_TIME",
    "MAX_STEPS_PER_DRAW",
    "VARIOGRAM_LAG",
    "expected_maximum",
    "jump_window_start",
    "target_autocorrelation_time",
    "step_autocorrelation",
    "steps_per_draw",
]

VARIOGRAM_LAG = 8
"""Iterations between the positions whose squared jumps give the lag-:math:`m` estimate.

**Example**

.. code-block:: python

    from numpyro_dilation.draw_length import VARIOGRAM_LAG

    print(VARIOGRAM_LAG)  # 8
"""

CROSS_SECTION_MIN_CHAINS = 64
"""Fewest chains for which the variance across chains at the end of the warm-up may
replace the pooled variance of the stretch in :math:`\\hat\\rho` (module docstring). Its
relative standard error is :math:`\\sqrt{2/C}` (18% at 64 chains), and an
overestimate is magnified by the lag-:math:`m` root: measured on AR(1) chains with
:math:`\\rho = 0.5`, 32 chains' final positions gave a variance 1.64 times the true one and
:math:`\\hat\\rho = 0.89` (the minimum with the pooled variance keeps such an overestimate
out; an underestimate shortens the draws, which the noise correction and the run's own
:math:`\\hat R` check bound). Was 128: at 64 chains × (300 + 100), key 0 (before the draws'
steps were capped at the chains' median, :func:`~numpyro_dilation.step_size.cap_at_median`),
posteriordb's arK and low_dim_gauss_mix then got draws of 32 transitions (the cap), where
with the cross-section they get 8 and 2 at the same split-:math:`\\hat R` (1.0025 and 1.0031 against
1.0015 and 1.0035) and bulk ESS (6,630 and 6,402 against 6,440 and 6,058); seven more models
(eight schools written both ways, kidiq, the logistic regression, radon, the GP and
normal_unknown_variance) kept theirs (``python -m benchmarks.time_to_result --chains 64``
reports the draw length; user guide, "How many chains").

**Example**

.. code-block:: python

    from numpyro_dilation.draw_length import CROSS_SECTION_MIN_CHAINS

    print(CROSS_SECTION_MIN_CHAINS)  # 64
"""

MAX_STEPS_PER_DRAW = 32
"""Most transitions per draw that ``steps_per_draw="auto"`` chooses (NUTS spends 7 to 31
gradients per draw on typical posteriors, at tree depths 3 to 5).

**Example**

.. code-block:: python

    from numpyro_dilation.draw_length import MAX_STEPS_PER_DRAW

    print(MAX_STEPS_PER_DRAW)  # 32
"""

MAX_DRAW_AUTOCORRELATION_TIME = 1.5
"""Integrated autocorrelation time, in draws, that ``steps_per_draw="auto"`` aims at for
the slowest coordinate (module docstring).

**Example**

.. code-block:: python

    from numpyro_dilation.draw_length import MAX_DRAW_AUTOCORRELATION_TIME

    print(MAX_DRAW_AUTOCORRELATION_TIME)  # 1.5: split-R-hat about 1.005 at 100 draws per chain
"""


DRAWS_PER_EXTRA_TAU = 200
r"""With ``num_draws`` draws per chain, ``steps_per_draw`` aims at
:math:`\tau \le \max(1.5, 1 + n/200)` instead of 1.5: split-:math:`\hat R - 1 \approx
(\tau - 1)/n` stays about 0.005 at any run length (1.5 at 100 draws, 6 at 1000), so long
runs do not pay for draws more independent than their :math:`\hat R` needs (measured at
1000 draws per chain with :math:`\tau \le 1.5`: up to 32 transitions per draw and 0.15×
NUTS's ESS per gradient on posteriordb's low_dim_gauss_mix).

**Example**

.. code-block:: python

    from numpyro_dilation.draw_length import DRAWS_PER_EXTRA_TAU

    print(DRAWS_PER_EXTRA_TAU)  # 200
"""


def target_autocorrelation_time(num_draws: int | None) -> float:
    r"""The integrated autocorrelation time per draw that ``steps_per_draw="auto"`` aims at:
    :data:`MAX_DRAW_AUTOCORRELATION_TIME` (1.5), or with ``num_draws`` draws per chain
    :math:`\max(1.5, 1 + n/200)` (:data:`DRAWS_PER_EXTRA_TAU` = 200).

    **Example**

    .. code-block:: python

        from numpyro_dilation.draw_length import target_autocorrelation_time

        print(target_autocorrelation_time(None), target_autocorrelation_time(1000))  # 1.5 6.0
    """
    if num_draws is None:
        return MAX_DRAW_AUTOCORRELATION_TIME
    return max(MAX_DRAW_AUTOCORRELATION_TIME, 1.0 + num_draws / DRAWS_PER_EXTRA_TAU)


def _correlation_at(tau):
    """The lag-one autocorrelation :math:`\rho` of an autoregressive chain whose integrated
    time is ``tau``: :math:`(\tau - 1)/(\tau + 1)`."""
    return (tau - 1.0) / (tau + 1.0)


def _draw_correlation(num_draws: int | None = None) -> float:
    """:math:`r`: the lag-one autocorrelation of a draw at which the integrated time is
    :func:`target_autocorrelation_time`."""
    return _correlation_at(target_autocorrelation_time(num_draws))


def jump_window_start(settings: PopulationSettings) -> int:
    """First iteration whose jump is measured: the last preconditioner update or the mode
    finding, whichever is later (the preconditioner and the moves are those of the sampling
    phase from then on), or, where the step size is fixed before the end of the warm-up
    (``settings.config.step_size_fixed_from``, set with ``steps_per_draw="auto"``), that
    iteration: from then on every transition is the draws' kernel.

    **Example**

    .. code-block:: python

        from numpyro_dilation.draw_length import jump_window_start
        from numpyro_dilation.population_settings import make_settings

        print(jump_window_start(make_settings(400, 2)))  # 350: the step is fixed from 350
        print(jump_window_start(make_settings(400, 2, steps_per_draw=1)))  # 300
    """
    fixed = settings.config.step_size_fixed_from  # set only after that start (make_settings)
    if fixed is not None:
        return fixed
    return max(settings.mass_schedule[-1:] + (settings.mode_iteration,))


def _variogram_correlation(var, jump_sq, num_jumps, dtype):
    count = jnp.sum(num_jumps).astype(dtype)
    rho = 1.0 - jnp.sum(jump_sq, axis=0) / jnp.maximum(count, 1.0) / (2.0 * var)
    return jnp.clip(rho, -1.0, 1.0), count > 0


def _estimates(monitor: RunMonitor, positions: jax.Array | None):
    r"""Per coordinate: the per-step autocorrelation (as :func:`step_autocorrelation`) and
    the relative standard error of its :math:`1 - \hat\rho_i` (module docstring,
    "Noise")."""
    dtype = monitor.mean.dtype
    count = monitor.count.astype(dtype)[:, None]
    num_chains = monitor.mean.shape[0]
    within = jnp.sum(monitor.m2, axis=0) / jnp.maximum(jnp.sum(count) - 1.0, 1.0)
    between = jnp.var(monitor.mean, axis=0) if num_chains > 1 else 0.0
    var = within + between
    if positions is not None and positions.shape[0] >= CROSS_SECTION_MIN_CHAINS:
        var = jnp.minimum(var, jnp.var(positions, axis=0).astype(dtype))
    # a reversible chain's autocorrelation at an even lag is >= 0, so J^(m) <= 2 sigma^2:
    # positions that the annealing left under-dispersed cannot make rho-hat too small
    lag_count = jnp.sum(monitor.num_lag_jumps).astype(dtype)
    lag_half = jnp.sum(monitor.lag_jump_sq, axis=0) / jnp.maximum(lag_count, 1.0) / 2.0
    var = jnp.where(lag_count > 0, jnp.maximum(var, lag_half), var)
    safe_var = jnp.where(var > 0, var, 1.0)
    rho, measured = _variogram_correlation(safe_var, monitor.jump_sq, monitor.num_jumps, dtype)
    rho_m, measured_m = _variogram_correlation(
        safe_var, monitor.lag_jump_sq, monitor.num_lag_jumps, dtype
    )
    per_step_m = jnp.maximum(rho_m, 0.0) ** (1.0 / VARIOGRAM_LAG)
    use_m = measured_m & (rho_m > _draw_correlation()) & (per_step_m > rho)
    rho = jnp.where(use_m, per_step_m, rho)
    # relative variances of a mean of n squared Gaussian jumps (2/n) and of a variance from
    # the chains' effectively independent positions (2/n_eff, at least one per chain)
    total = jnp.sum(count)
    r = jnp.clip(rho, 0.0, 1.0 - 1e-6)
    independent = jnp.maximum(total * (1.0 - r) / (1.0 + r), num_chains)
    rel_var = 2.0 / independent
    jumps = jnp.maximum(jnp.sum(monitor.num_jumps).astype(dtype), 1.0)
    error_1 = jnp.sqrt(rel_var + 2.0 / jumps)
    inner = jnp.clip(rho_m, 1e-6, 1.0 - 1e-6)
    error_m = jnp.sqrt(rel_var + 2.0 / jnp.maximum(lag_count, 1.0))
    # 1 - rho_m^(1/m) from 1 - rho_m: the delta method
    slope = inner ** (1.0 / VARIOGRAM_LAG - 1.0) / VARIOGRAM_LAG * (1.0 - inner)
    error_m = error_m * slope / jnp.maximum(1.0 - per_step_m, 1e-6)
    error = jnp.where(use_m, error_m, error_1)
    return jnp.where((var > 0) & measured, rho, jnp.nan), error


def step_autocorrelation(monitor: RunMonitor, positions: jax.Array | None = None) -> jax.Array:
    r"""Per-step autocorrelation :math:`\max(\hat\rho_i, (\hat\rho^{(m)}_i)^{1/m})` (the
    second where :math:`\hat\rho^{(m)}_i > 0.2`) per coordinate (module docstring) from
    monitors batched over chains (``mean`` of shape ``(C, d)``; one chain: ``(1, d)``).
    ``positions``: the chains' flat positions now, ``(C, d)``; with at least
    :data:`CROSS_SECTION_MIN_CHAINS` rows their variance caps :math:`\sigma_i^2`.
    Returns shape ``(d,)``; ``nan`` where a coordinate does not vary or no jump was
    measured.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation.draw_length import VARIOGRAM_LAG, step_autocorrelation
        from numpyro_dilation.health import init_monitor, update_monitor

        rho = jnp.array([0.5, 0.9])  # one AR(1) chain of unit variance, 2 coordinates
        noise = jax.random.normal(jax.random.key(0), (4000, 2)) * jnp.sqrt(1 - rho**2)
        draws = jax.lax.scan(lambda y, e: (rho * y + e, rho * y + e), jnp.zeros(2), noise)[1]
        monitor = init_monitor(2)
        for t in range(1, len(draws)):
            monitor = update_monitor(monitor, draws[t], True, False, previous=draws[t - 1],
                                     lag_point=t % VARIOGRAM_LAG == 0)
        print(step_autocorrelation(jax.tree.map(lambda x: x[None], monitor)))  # about [0.5 0.9]
    """
    return _estimates(monitor, positions)[0]


def expected_maximum(num: jax.Array) -> jax.Array:
    r"""Expected largest of ``num`` independent standard normal variables, by Blom's
    approximation :math:`\Phi^{-1}((n - 0.375)/(n + 0.25))` (0 for one; 0.59, 1.55 and 3.23
    for 2, 10 and 1000; exact 0.56, 1.54, 3.24).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.draw_length import expected_maximum

        print(expected_maximum(jnp.array([1.0, 1000.0])).round(2))  # [0.   3.23]
    """
    num = jnp.maximum(jnp.asarray(num, jnp.float32), 1.0)
    return ndtri((num - 0.375) / (num + 0.25))


def _rhat_time(largest: jax.Array, num_chains: int, num_draws: int | None) -> jax.Array:
    r""":math:`\tau` at which the expected largest split-:math:`\hat R` of :math:`d`
    stationary coordinates is the run check's
    :data:`~numpyro_dilation.health.MAX_RHAT`: :math:`1 + ((\tau - 1) + E_d \tau q)/n`,
    :math:`q = \sqrt{2/(2C - 1)}` the relative noise of the between-half-chain variance
    (module docstring, "Noise"; :math:`n` = 100 where ``num_draws`` is not known)."""
    n = 100.0 if num_draws is None else float(num_draws)
    q = (2.0 / (2.0 * num_chains - 1.0)) ** 0.5
    return (1.0 + (MAX_RHAT - 1.0) * n) / (1.0 + largest * q)


def steps_per_draw(
    monitor: RunMonitor,
    max_steps: int = MAX_STEPS_PER_DRAW,
    num_draws: int | None = None,
    positions: jax.Array | None = None,
) -> jax.Array:
    r"""Transitions per draw (int32 scalar): the smallest :math:`k` with
    :math:`(1 + \hat\rho^k)/(1 - \hat\rho^k) \le` :func:`target_autocorrelation_time`
    (1.5, or more for ``num_draws`` above 100) for the slowest coordinate, its estimate
    corrected for the largest of :math:`d` noisy estimates, but never fewer transitions
    than put the expected largest split-:math:`\hat R` at 1.01 at the uncorrected one
    (with :math:`\tau` at most :math:`\tau^* + (\tau^* - 1)/2`), in
    :math:`[1, \text{max\_steps}]` (module docstring, "Noise").
    ``monitor``: batched over chains (one chain: a leading axis of 1); ``positions``: as in
    :func:`step_autocorrelation`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.draw_length import steps_per_draw
        from numpyro_dilation.health import RunMonitor

        # 4 chains of 200 warm-up positions, variance 1, mean squared jump 0.2: rho = 0.9
        monitor = RunMonitor(
            count=jnp.full(4, 200), mean=jnp.zeros((4, 1)), m2=jnp.full((4, 1), 199.0),
            num_divergent=jnp.zeros(4, int), num_moved=jnp.full(4, 200),
            global_accept_sum=jnp.zeros(4), num_global_moves=jnp.zeros(4, int),
            jump_sq=jnp.full((4, 1), 20.0), num_jumps=jnp.full(4, 100),
            snapshot=jnp.zeros((4, 1)), lag_jump_sq=jnp.zeros((4, 1)),
            num_lag_jumps=jnp.zeros(4, int))  # no lag-8 jumps measured: lag one alone
        print(steps_per_draw(monitor))  # 16: 0.9 ** 16 = 0.185 <= 0.2 = (1.5 - 1) / (1.5 + 1)
    """
    target = target_autocorrelation_time(num_draws)
    log_r = jnp.log(_correlation_at(target))
    rho, error = _estimates(monitor, positions)
    measured = ~jnp.isnan(rho)
    largest = expected_maximum(jnp.sum(measured))
    floor = jnp.clip(
        _rhat_time(largest, monitor.mean.shape[0], num_draws),
        target,
        target + (target - 1.0) / 2.0,
    )
    log_floor = jnp.log(_correlation_at(floor))
    allowance = 1.0 + largest * error
    corrected = 1.0 - (1.0 - rho) * allowance
    slowest = jnp.max(jnp.where(measured, rho, -1.0), initial=-1.0)  # d = 0: -1
    slowest_corrected = jnp.max(jnp.where(measured, corrected, -1.0), initial=-1.0)

    def steps(log_target, r):
        return jnp.ceil(log_target / jnp.log(jnp.clip(r, 1e-6, 1.0 - 1e-7)))

    k = jnp.maximum(steps(log_r, slowest_corrected), steps(log_floor, slowest))
    k = jnp.where(slowest >= 1.0, max_steps, k)
    return jnp.clip(k, 1, max_steps).astype(jnp.int32)
