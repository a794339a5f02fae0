"""Mode weights and warnings by chain method, on the README's two-mode model.

    python -m benchmarks.chain_methods [--warmup 300] [--samples 100]

Model: theta ~ Normal(0.25, 1), y ~ Normal(theta**2, 0.5), y = 4 observed; the exact
P(theta > 0) comes from quadrature. Each row runs ``DilationLangevin(model)`` with its
defaults through NumPyro's ``MCMC`` as a NumPyro user would (one chain; several chains
with ``chain_method="sequential"``; few and many vectorized chains) and prints the
estimate and the ``ReliabilityWarning`` messages the run raised (their first words).
Runs whose chains cannot be a population must warn; the last row must match and be quiet.
"""

from __future__ import annotations

import argparse
import warnings

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC
from scipy import stats

from numpyro_dilation import DilationLangevin, ReliabilityWarning

Y_OBS, PRIOR_MEAN = 4.0, 0.25
ROWS = [(1, "sequential"), (4, "sequential"), (4, "vectorized"), (400, "vectorized")]


def model(y=None):
    theta = numpyro.sample("theta", dist.Normal(PRIOR_MEAN, 1.0))
    numpyro.sample("y", dist.Normal(theta**2, 0.5), obs=y)


def exact_positive_weight() -> float:
    grid = np.linspace(-6.0, 6.0, 200_001)
    log_p = stats.norm.logpdf(grid, PRIOR_MEAN, 1.0) + stats.norm.logpdf(Y_OBS, grid**2, 0.5)
    p = np.exp(log_p - log_p.max())
    return float(np.trapezoid(np.where(grid > 0, p, 0.0), grid) / np.trapezoid(p, grid))


def run_row(num_chains: int, chain_method: str, num_warmup: int, num_samples: int):
    mcmc = MCMC(
        DilationLangevin(model),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(jax.random.key(0), y=Y_OBS)
        theta = np.asarray(mcmc.get_samples(group_by_chain=True)["theta"])
    messages = [str(w.message) for w in caught if issubclass(w.category, ReliabilityWarning)]
    return float((theta > 0).mean()), messages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args(argv)
    exact = exact_positive_weight()
    print(f"exact P(theta > 0) = {exact:.4f}\n")
    print("| chains | chain_method | P(theta > 0) | ReliabilityWarning |")
    print("|---|---|---|---|")
    for num_chains, method in ROWS:
        estimate, messages = run_row(num_chains, method, args.warmup, args.samples)
        said = "; ".join(m.split(":")[1].strip()[:70] for m in messages) or "none"
        print(
            f"| {num_chains} | {method} | {estimate:.3f} | {len(messages)}: {said} |"
        )


if __name__ == "__main__":
    main()
