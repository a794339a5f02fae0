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

    Modes. :func:`~numpyro_dilation.mode_finding.find_modes` run on the draws
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
    points for :func:`~numpyro_dilation.mode_finding.find_modes`, so that modes the
    annealing missed enter the mixture of the independence Metropolis–Hastings
    global moves (:mod:`numpyro_dilation.global_moves`), whose acceptance keeps
    the chains exact. For :math:`\lambda_u \to 0` a U-turn is an annealing from
    its center, so the modes it can add are those reachable from its centers:
    by default each U-turn gets a fresh *overdispersed* center
    (:func:`overdispersed_centers`), not the chain's own.

The kernel layer: JAX, BlackJAX, NumPy; pandas and matplotlib only inside the table and plot
functions; no NumPyro.
"""

from numpyro_dilation.uturn_curves import crossing_level, plot_uturn, uturn_curves
from numpyro_dilation.uturn_explore import (
    assign_modes,
    explore,
    explore_modes,
    overdispersed_centers,
)
from numpyro_dilation.uturn_kernel import (  # noqa: F401 (_run_protocol: for tests)
    _run_protocol,
    build_kernel,
    protocol_levels,
    uturn_return,
)
from numpyro_dilation.uturn_settings import (  # noqa: F401 (DEFAULT_LAMBDAS: its old home)
    DEFAULT_LAMBDAS,
    UTurn,
    UTurnInfo,
    check_uturn,
)

__all__ = [
    "UTurn",
    "UTurnInfo",
    "check_uturn",
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
