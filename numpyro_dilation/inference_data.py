r"""ArviZ views of a run with many short chains.

This sampler's normal regime is hundreds of chains of a few hundred draws. ArviZ handles
that, but warns "More chains than draws" once per group at each conversion, and its
per-chain plots (``az.plot_trace``) draw one line per chain. This module keeps the full
chains and adds two smaller views of them:

- :func:`from_numpyro`: ``az.from_numpyro(mcmc)`` without those warnings; every chain kept.
- :func:`chain_subset`: ``k`` chains drawn at random (without replacement), for trace plots.
- :func:`pool_chains`: the :math:`C` chains regrouped into :math:`G` pooled chains; pooled
  chain :math:`g` is chains :math:`gC/G, \dots, (g+1)C/G - 1` placed end to end, so it has
  :math:`CD/G` draws. Chains are exchangeable, so every pooled chain targets the posterior,
  and :math:`\hat R` across pooled chains compares groups of chains (a chain stuck in the
  wrong mode shifts its group). Within a pooled chain, draws of different chains are
  independent: ESS computed on it treats them as one long chain, which is accurate when
  each chain's own autocorrelation is short against :math:`D` and overestimates the
  autocorrelation slightly at the joins otherwise. Compute ESS and MCSE on the full chains.

Cost: views index or reshape the arrays (no copy of the full run is kept beyond the
result).
"""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import xarray as xr

__all__ = ["chain_subset", "from_numpyro", "pool_chains"]

_MANY_CHAINS = "More chains .* than draws"


def from_numpyro(mcmc, **kwargs) -> az.InferenceData:
    """``az.from_numpyro(mcmc, **kwargs)``, every chain kept, without ArviZ's "More chains
    than draws" warnings (the normal regime here); any other warning passes through.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin
        from numpyro_dilation.inference_data import from_numpyro

        def model():
            numpyro.sample("x", dist.Normal(1.0, 2.0))

        mcmc = MCMC(DilationLangevin(model), num_warmup=40, num_samples=20, num_chains=64,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        idata = from_numpyro(mcmc)  # no "More chains (64) than draws (20)" warnings
        print(idata.posterior.sizes["chain"], idata.posterior.sizes["draw"])  # 64 20
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MANY_CHAINS, category=UserWarning)
        return az.from_numpyro(mcmc, **kwargs)


def _chain_groups(idata: az.InferenceData) -> list[str]:
    return [g for g in idata.groups() if "chain" in idata[g].dims and "draw" in idata[g].dims]


def _num_chains(idata: az.InferenceData) -> int:
    groups = _chain_groups(idata)
    if not groups:
        raise ValueError("`idata` has no group with `chain` and `draw` dimensions.")
    return int(idata[groups[0]].sizes["chain"])


def chain_subset(idata: az.InferenceData, num_chains: int = 4, seed: int = 0) -> az.InferenceData:
    """``num_chains`` chains of ``idata`` drawn at random without replacement (the same
    chains in every group that has ``chain`` and ``draw`` dimensions; other groups kept),
    relabelled ``0 .. num_chains - 1``. For ``az.plot_trace`` and other per-chain plots.

    **Example**

    .. code-block:: python

        import arviz as az
        import numpy as np
        from numpyro_dilation.inference_data import chain_subset

        draws = np.random.default_rng(0).normal(size=(400, 100))  # 400 chains of 100 draws
        idata = az.from_dict(posterior={"x": draws[:, :, None]}, dims={"x": ["k"]})
        small = chain_subset(idata, num_chains=4)
        print(small.posterior.sizes["chain"], small.posterior.sizes["draw"])  # 4 100
        az.plot_trace(small)  # four lines per panel, not 400
    """
    total = _num_chains(idata)
    if isinstance(num_chains, bool) or not isinstance(num_chains, (int, np.integer)):
        raise ValueError(f"`num_chains` must be an integer >= 1, got {num_chains!r}.")
    if not 1 <= num_chains <= total:
        raise ValueError(
            f"`num_chains` must lie in [1, {total}] (the run's chains), got {num_chains}."
        )
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=num_chains, replace=False))
    out = idata.copy()
    for group in _chain_groups(idata):
        data = idata[group].isel(chain=chosen).assign_coords(chain=np.arange(num_chains))
        setattr(out, group, data)
    return out


def pool_chains(idata: az.InferenceData, num_groups: int = 4) -> az.InferenceData:
    """``idata`` with its :math:`C` chains regrouped into ``num_groups`` :math:`G` pooled
    chains of :math:`CD/G` draws each (contiguous blocks of :math:`C/G` chains, end to
    end; :math:`G` must divide :math:`C`), in every group with ``chain`` and ``draw``
    dimensions. ``az.plot_trace`` then shows :math:`G` lines, and ``az.rhat`` compares
    groups of chains. See the module's notes on ESS.

    **Example**

    .. code-block:: python

        import arviz as az
        import numpy as np
        from numpyro_dilation.inference_data import pool_chains

        draws = np.random.default_rng(0).normal(size=(400, 100))  # 400 chains of 100 draws
        pooled = pool_chains(az.from_dict(posterior={"x": draws}), num_groups=4)
        print(pooled.posterior.sizes["chain"], pooled.posterior.sizes["draw"])  # 4 10000
        print(float(az.rhat(pooled)["x"]))  # about 1.0
    """
    total = _num_chains(idata)
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)):
        raise ValueError(f"`num_groups` must be an integer >= 1, got {num_groups!r}.")
    if num_groups < 1 or total % num_groups:
        raise ValueError(
            f"`num_groups` must be >= 1 and divide the number of chains ({total}), got "
            f"{num_groups}."
        )
    out = idata.copy()
    for group in _chain_groups(idata):
        ds = idata[group]
        num_draws = total // num_groups * ds.sizes["draw"]
        pooled = {}
        for name, var in ds.data_vars.items():
            rest = [d for d in var.dims if d not in ("chain", "draw")]
            values = var.transpose("chain", "draw", *rest).values
            shape = (num_groups, num_draws) + values.shape[2:]
            coords = {d: var.coords[d] for d in rest if d in var.coords}
            pooled[name] = xr.DataArray(
                values.reshape(shape), dims=("chain", "draw", *rest), coords=coords
            )
        data = xr.Dataset(pooled, attrs=ds.attrs).assign_coords(
            chain=np.arange(num_groups), draw=np.arange(num_draws)
        )
        setattr(out, group, data)
    return out
