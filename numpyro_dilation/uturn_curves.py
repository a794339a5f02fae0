r"""U-turn diagnostics: mode-switch curves against the U-turn level (:func:`uturn_curves`),
the memorization and speciation levels where they cross a threshold
(:func:`crossing_level`), and their plot (:func:`plot_uturn`); the maths is in
:mod:`numpyro_dilation.uturn`.
"""

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from blackjax.types import PRNGKey

if TYPE_CHECKING:
    import pandas as pd
from numpyro_dilation.modes import (
    GlobalMoves,
    ModeMixture,
    find_modes,
)
from numpyro_dilation.schedules import make_schedule
from numpyro_dilation.uturn_explore import _centers, assign_modes
from numpyro_dilation.uturn_kernel import (
    uturn_return,
)
from numpyro_dilation.uturn_settings import (
    DEFAULT_LAMBDAS,
    _is_level,
)

__all__ = ["uturn_curves", "crossing_level", "plot_uturn"]


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
    # an explicit place: matplotlib's "best" search warns when it takes over a second (a
    # loaded machine), and at either end of the axis the curves sit at 0 and 1
    ax.legend(fontsize="small", loc="center left")
    return ax
