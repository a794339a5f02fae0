r"""What the global moves found and how far to trust them (NumPyro runs).

- :func:`log_evidence`: :math:`\log\hat Z \pm \operatorname{se}` from the global
  moves' importance weights (:mod:`numpyro_dilation.global_moves`). For a
  ``model`` the potential includes the Jacobians of NumPyro's transforms, so
  :math:`Z` is the model's marginal likelihood :math:`p(y)` (with proper priors).
- :func:`mode_summary`: one row per mode found: location (unconstrained), the
  proposal's weight, the Laplace weight, the share of pooled draws closest to it
  and how many chains visited it; warns (:class:`GlobalMoveWarning`) when the
  global moves are accepted too rarely for the weights to be trusted.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.flatten_util import ravel_pytree
from jax.scipy.special import logsumexp

from numpyro_dilation.global_moves import combine_evidence
from numpyro_dilation.modes import nearest_mode

__all__ = ["GlobalMoveWarning", "log_evidence", "mode_summary", "MIN_GLOBAL_ACCEPTANCE"]

MIN_GLOBAL_ACCEPTANCE = 0.05
"""Below this mean acceptance of the global moves, :func:`mode_summary` and
:func:`log_evidence` warn:
:math:`\\bar\\alpha = \\frac1{CS}\\sum_{c,s}\\alpha_{c,s} < 0.05` over the :math:`C` chains
and :math:`S` draws.

**Example**

.. code-block:: python

    import jax
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC
    from numpyro_dilation import DilationLangevin
    from numpyro_dilation.diagnostics import MIN_GLOBAL_ACCEPTANCE

    def model():
        numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))

    mcmc = MCMC(DilationLangevin(model), num_warmup=40, num_samples=20, num_chains=4,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.key(0), extra_fields=("global_accept_prob",))
    acceptance = float(mcmc.get_extra_fields()["global_accept_prob"].mean())
    print(MIN_GLOBAL_ACCEPTANCE, acceptance)  # 0.05, well above: the mode weights can be trusted
"""


class GlobalMoveWarning(UserWarning):
    """The global moves are accepted too rarely to trust the mode weights
    (mean acceptance :math:`\\bar\\alpha <` :data:`MIN_GLOBAL_ACCEPTANCE`).

    **Example**

    .. code-block:: python

        import warnings
        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin, GlobalMoves, GlobalMoveWarning, mode_summary

        def model():
            numpyro.sample("x", dist.Normal(0.0, 1.0))

        moves = GlobalMoves(inflation=0.01, tail_weight=0.0)  # 10 times too narrow, no tails
        mcmc = MCMC(DilationLangevin(model, global_moves=moves), num_warmup=40, num_samples=20,
                    num_chains=4, chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mode_summary(mcmc)
        print([w.category.__name__ for w in caught])  # ['GlobalMoveWarning']
    """


def _last_state(mcmc_or_state):
    state = getattr(mcmc_or_state, "last_state", mcmc_or_state)
    if state is None or getattr(state, "mixture", None) is None:
        raise ValueError(
            "No global moves in this run: use DilationLangevin with "
            "chain_method='vectorized', num_chains >= 2 and global_moves != None, "
            "and call `mcmc.run` first."
        )
    return state


def log_evidence(mcmc_or_state) -> tuple[float, float]:
    """:math:`(\\log\\hat Z, \\operatorname{se})` of a run with global moves.

    ``mcmc_or_state``: a finished ``numpyro.infer.MCMC`` (its ``last_state``) or a
    :class:`~numpyro_dilation.population_state.DilationLangevinState`.

    The estimate is the mean importance weight :math:`\\gamma(y')/q(y')` of the
    whole-vector global moves' proposals (:mod:`numpyro_dilation.global_moves`). With
    ``GlobalMoves(blocks=...)`` their proposal also draws from the product of the blocks'
    marginals (:mod:`numpyro_dilation.block_moves`), so the estimate stays consistent when
    the posterior's modes are combinations of the blocks' modes that the mixture does not
    list (Many-Well: :math:`2^{16}` modes, 64 in the mixture). With
    ``GlobalMoves(exchangeable=...)`` (label swaps) the chains visit relabellings that no
    mode covers, and the estimate is the modified harmonic mean over the sampling phase's
    states instead, :math:`1/\\hat Z = \\overline{\\tilde q(y)/\\gamma(y)}` with
    :math:`\\tilde q` the mixture's Gaussian parts truncated to ellipsoids
    (:func:`~numpyro_dilation.mode_mixture.truncated_mixture_logpdf`): unbiased for
    :math:`1/Z` whichever labellings the modes cover, its se from the spread of the
    chains' means (:mod:`numpyro_dilation.label_swaps`).

    Warns (:class:`GlobalMoveWarning`) when the global moves' mean acceptance is below
    :data:`MIN_GLOBAL_ACCEPTANCE` over the last run's draws (the chains' run monitors: the
    figure of the run's own end-of-run check). The standard error cannot see that case:
    when the proposal :math:`q` misses where the posterior's mass lies, every weight
    :math:`\\gamma/q` is small and alike, and the estimate is far too low with a small
    standard error. Measured: Neal's funnel in
    :math:`d = 10` (``benchmarks``, ``funnel_10``), whose density peaks deep in the neck
    (:math:`v = -40.5`) where almost no mass lies: acceptance 0.000,
    :math:`\\log\\hat Z = -102.9 \\pm 0.13` against the exact 0.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin, log_evidence

        def model(y):
            theta = numpyro.sample("theta", dist.Normal(0.0, 1.0))
            numpyro.sample("y", dist.Normal(theta, 1.0), obs=y)

        mcmc = MCMC(DilationLangevin(model), num_warmup=60, num_samples=40, num_chains=8,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0), y=1.0)
        log_z, se = log_evidence(mcmc)  # or log_evidence(mcmc.last_state)
        print(f"log Z = {log_z:.3f} +- {se:.3f}")  # about -1.516 = log p(y) = log N(1; 0, 2)
    """
    state = _last_state(mcmc_or_state)
    result = _evidence(state)
    acceptance = _global_acceptance(mcmc_or_state, state)
    if acceptance < MIN_GLOBAL_ACCEPTANCE:
        warnings.warn(
            f"Global moves were accepted with probability {acceptance:.3f} on average "
            f"(< {MIN_GLOBAL_ACCEPTANCE}): the log-evidence is not reliable, whatever its "
            "standard error (the proposal mixture does not cover the posterior's mass). "
            "Check the modes with `mode_summary`.",
            GlobalMoveWarning,
            stacklevel=2,
        )
    return result


def _evidence(state) -> tuple[float, float]:
    if int(jnp.sum(state.evidence.count)) == 0:
        raise ValueError("No global move has been made yet: run the sampling phase first.")
    return combine_evidence(state.evidence)


def _global_acceptance(mcmc_or_state, state) -> float:
    """Mean global-move acceptance over the last run's draws: from the chains' run monitors
    (every move of the draws; the figure the run's own end-of-run check reports), else (no
    move made in the draws) from the collected ``"global_accept_prob"``, else over the
    chains' last iteration."""
    monitor = getattr(state, "monitor", None)
    num_moves = 0 if monitor is None else int(np.sum(np.asarray(monitor.num_global_moves)))
    if num_moves:
        return float(np.sum(np.asarray(monitor.global_accept_sum))) / num_moves
    get_extra = getattr(mcmc_or_state, "get_extra_fields", None)
    extra = get_extra() if get_extra is not None else {}
    if "global_accept_prob" in extra:
        return float(np.mean(extra["global_accept_prob"]))
    return float(np.mean(state.global_accept_prob))


def mode_summary(mcmc) -> pd.DataFrame:
    """Modes found during warm-up and how the chains used them.

    Columns: ``location`` (flat unconstrained vector, ``ravel_pytree`` order),
    ``proposal_weight``, ``laplace_weight`` (:math:`\\propto\\gamma(\\mu_m)|\\Sigma_m|^{1/2}`),
    ``draw_share`` (share of pooled draws whose nearest mode, in the metric of the
    proposal covariance, is this one) and ``chains_visiting``. The frame's
    ``attrs`` hold ``global_acceptance`` (mean over chains and the last run's draws, as the
    run's end-of-run check reports it) and
    ``log_evidence``/``log_evidence_se``.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC

        from numpyro_dilation import DilationLangevin, log_evidence, mode_summary

        def model():
            # a normalized density with two modes: log Z = 0
            mix = dist.MixtureSameFamily(
                dist.Categorical(jnp.array([0.3, 0.7])), dist.Normal(jnp.array([-3.0, 3.0]), 0.5)
            )
            numpyro.sample("x", mix)

        mcmc = MCMC(DilationLangevin(model), num_warmup=60, num_samples=40, num_chains=8,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0), extra_fields=("global_accept_prob",))
        log_z, se = log_evidence(mcmc)
        print(f"log Z = {log_z:.3f} +- {se:.3f}")  # close to 0
        table = mode_summary(mcmc)
        print(table[["location", "laplace_weight", "draw_share", "chains_visiting"]])
        print(table.attrs["global_acceptance"])
    """
    state = _last_state(mcmc)
    mix = state.mixture
    n = int(mix.num_modes)
    means, chol = np.asarray(mix.means[:n]), np.asarray(mix.chol[:n])
    # draws come back constrained (with deterministic sites): map to flat unconstrained z
    flat_draws = _unconstrained_draws(mcmc, mcmc.get_samples(group_by_chain=True))
    num_chains, num_draws = flat_draws.shape[:2]
    labels = nearest_mode(flat_draws.reshape(num_chains * num_draws, -1), means, chol)
    labels = labels.reshape(num_chains, num_draws)
    share = np.bincount(labels.ravel(), minlength=n) / labels.size
    visiting = np.array([(labels == m).any(axis=1).sum() for m in range(n)])
    laplace = np.asarray(mix.laplace_log_mass[:n])
    acceptance = _global_acceptance(mcmc, state)
    frame = pd.DataFrame(
        {
            "location": list(means),
            "proposal_weight": np.exp(np.asarray(mix.log_weights[:n])),
            "laplace_weight": np.exp(laplace - np.asarray(logsumexp(laplace))),
            "draw_share": share,
            "chains_visiting": visiting,
        }
    )
    frame.index.name = "mode"
    log_z, se = _evidence(state)  # not log_evidence: the warning below covers it
    frame.attrs.update(global_acceptance=acceptance, log_evidence=log_z, log_evidence_se=se)
    if acceptance < MIN_GLOBAL_ACCEPTANCE:
        warnings.warn(
            f"Global moves were accepted with probability {acceptance:.3f} on average "
            f"(< {MIN_GLOBAL_ACCEPTANCE}): the mode weights and the log-evidence are not "
            "reliable. Likely causes: high dimension or non-Gaussian modes. Try a larger "
            "GlobalMoves.inflation, more chains or a reparametrization.",
            GlobalMoveWarning,
            stacklevel=2,
        )
    return frame


def _unconstrained_draws(mcmc, samples) -> np.ndarray:
    """Pooled draws as flat unconstrained vectors, shape ``(chains, draws, d)``."""
    sampler = mcmc.sampler
    state = mcmc.last_state
    if sampler.model is not None:
        from numpyro.handlers import seed
        from numpyro.infer.util import unconstrain_fn

        args, kwargs = mcmc._args, mcmc._kwargs  # the run's model arguments (ArviZ reads them too)
        # seeded: discrete (enumerated) sites then draw a value instead of failing for want
        # of a key; only the continuous sites' transforms are used
        model = seed(getattr(sampler, "sampled_model", None) or sampler.model, rng_seed=0)

        def to_flat(draw):
            params = {k: draw[k] for k in state.z}
            return ravel_pytree(unconstrain_fn(model, args, kwargs, params))[0]

    else:

        def to_flat(draw):
            return ravel_pytree(draw)[0]

    return np.asarray(jax.vmap(jax.vmap(to_flat))(samples))
