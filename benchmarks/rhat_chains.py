"""Split R-hat of many chains against the number of chains: simulated AR(1) chains.

    python -m benchmarks.rhat_chains [--chains 4,64,256] [--draws 50,100,200]
                                     [--taus 1,1.5,2,3] [--replicates 20] [--seed 0]

For ``C`` stationary AR(1) chains of ``n`` draws with lag-one autocorrelation ``rho``
(integrated autocorrelation time ``tau = (1 + rho) / (1 - rho)`` draws), ArviZ's
rank-normalized split R-hat is about

    sqrt(1 + 2 (tau - 1) / n)

whatever ``C`` (each half-chain of ``n/2`` draws holds ``n / (2 tau)`` effective draws; the
between-half variance of the means is ``tau`` times what independent draws give). ``C`` sets
only its spread. So ``R-hat <= 1.01`` needs ``tau <= 1 + n/100`` in every chain, at least
``n / (1 + n/100)`` effective draws per chain, and the total ESS of a run that passes grows with
``C``. Prints, per ``(C, n, tau)``, the median and the 10% and 90% quantiles of R-hat over the
replicates beside the formula (user guide, "How many chains").
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np


def ar1_chains(rng: np.random.Generator, num_chains: int, num_draws: int, rho: float) -> np.ndarray:
    """``(C, n)`` stationary AR(1) chains of unit variance and lag-one autocorrelation ``rho``."""
    x = np.empty((num_chains, num_draws))
    x[:, 0] = rng.standard_normal(num_chains)
    noise = rng.standard_normal((num_chains, num_draws)) * np.sqrt(1.0 - rho**2)
    for t in range(1, num_draws):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


def predicted_rhat(tau: float, num_draws: int) -> float:
    """``sqrt(1 + 2 (tau - 1) / n)`` (module docstring)."""
    return float(np.sqrt(1.0 + 2.0 * (tau - 1.0) / num_draws))


def main(argv: list[str] | None = None) -> None:
    import arviz as az

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", default="4,64,256")
    parser.add_argument("--draws", default="50,100,200")
    parser.add_argument("--taus", default="1,1.5,2,3")
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print("| chains | draws | tau | R-hat median (10%-90%) | formula |")
    print("|---:|---:|---:|---|---:|")
    for c in (int(x) for x in args.chains.split(",")):
        for n in (int(x) for x in args.draws.split(",")):
            for tau in (float(x) for x in args.taus.split(",")):
                rho = (tau - 1.0) / (tau + 1.0)
                with warnings.catch_warnings():  # "More chains than draws"
                    warnings.simplefilter("ignore")
                    r = [float(az.rhat(ar1_chains(rng, c, n, rho))) for _ in range(args.replicates)]
                lo, med, hi = np.percentile(r, [10, 50, 90])
                print(f"| {c} | {n} | {tau:g} | {med:.4f} ({lo:.4f}-{hi:.4f}) | "
                      f"{predicted_rhat(tau, n):.4f} |")


if __name__ == "__main__":
    main()
