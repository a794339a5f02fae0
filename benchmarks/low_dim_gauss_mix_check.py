"""Regression check for chains left in negligible modes at the end of warm-up.

posteriordb ``low_dim_gauss_mix`` (a two-component mixture likelihood: the posterior has
local modes of negligible mass) with ``DilationLangevin`` defaults and with
``global_moves=None``, 64 vectorized chains, 400 warm-up iterations, 400 draws. Prints,
per parameter, the z-score of the mean and the ratio of the sd to the reference draws'.

Measured 2026-11-25: defaults |z| <= 2.56, sd ratios 0.995-1.004 (before global moves
started in warm-up: sd ratios up to 1.14 here and 4.8-9.5 at the full budget);
``global_moves=None``: sd ratios 12-29 (chains stuck far out).

    python -m benchmarks.low_dim_gauss_mix_check
"""

import jax
import numpy as np
from numpyro.infer import MCMC

from benchmarks import reference as ref
from benchmarks.posteriordb import get_spec, load_reference_draws, model_kwargs
from numpyro_dilation import DilationLangevin

NAME = "low_dim_gauss_mix-low_dim_gauss_mix"


def main() -> None:
    spec = get_spec(NAME)
    kwargs = model_kwargs(NAME)
    reference = load_reference_draws(spec.posteriordb_name)
    for label, kernel_kwargs in [("default", {}), ("global_moves=None", {"global_moves": None})]:
        mcmc = MCMC(
            DilationLangevin(spec.model, **kernel_kwargs),
            num_warmup=400,
            num_samples=400,
            num_chains=64,
            chain_method="vectorized",
            progress_bar=False,
        )
        mcmc.run(jax.random.key(0), **kwargs)
        samples = mcmc.get_samples(group_by_chain=True)
        draws = {k: np.asarray(samples[k], float) for k in spec.reference_names}
        rows = ref.compare(draws, reference, 1, ref.reference_errors(reference))
        print(label, [(r.parameter, round(r.z, 2), round(r.sd_ratio, 3)) for r in rows])


if __name__ == "__main__":
    main()
