r"""Modes of the target found from annealed chains, and their Gaussian mixture.

Annealing finds modes but does not weight them correctly (DESIGN.md §3). This
module turns the chains' positions at the end of warm-up into a description of
the modes, used as the proposal of independence Metropolis–Hastings moves
(:mod:`numpyro_dilation.global_moves`) and as an importance-sampling proposal
for the log-evidence.

For flat positions :math:`y_c \in \mathbb{R}^d`, :math:`c = 1..C`:

1. *Ascent.* :math:`T` steps of :math:`y \leftarrow y + h_c v\odot\nabla\log\gamma(y)`
   (the Langevin drift with the chain's tuned step :math:`h_c`, so the scale is
   the target's), a step being kept only if it raises :math:`\log\gamma` (else
   :math:`h_c` is halved).
2. *Grouping.* Where the Newton steps of step 3 cost more than the ascent,
   :math:`(n_N + 1)(d + 1) > T + 1` gradients (a Hessian costs :math:`d + 1`; with the
   defaults :math:`T = 100`, :math:`n_N = 3`: from :math:`d = 25`), the ascent ends are
   grouped first and only each group's representative is refined. Greedy, in start
   order: an end joins the representative nearest to it in the pooled metric
   :math:`V^{-1}` (:math:`V` = ``inverse_mass_matrix``) if no barrier lies between them
   (:math:`\log\gamma` at five evenly spaced points of the segment stays above the lower
   end's value minus 2 nats: on a log-concave mode this holds for any two points,
   converged or not); the higher end represents the group. Below that dimension every
   start is refined. Measured (BENCHMARKS.md, "Newton steps once per group"): on the
   radon model (:math:`d = 89`) the Newton steps from every start were 2160 of the mode
   finding's 3460 gradients per chain. A first version also required the ends to be
   closer than :math:`\delta` in :math:`V^{-1}`: it left radon's 1536 unconverged ends
   in about 660 groups (in :math:`d = 89` two points of one mode are about
   :math:`\sqrt{2d}` apart), and, applied in every dimension, it made centered eight
   schools' R-hat worse (:math:`d = 10`: 1.007–1.015 over four seeds, against
   1.004–1.006), where the Newton steps cost less than the ascent anyway.
3. *Newton and Laplace.* From each representative a few Newton steps
   :math:`y \leftarrow y + H^{-1}\nabla\log\gamma(y)`,
   :math:`H = -\nabla^2\log\gamma(y)`, kept only if they raise :math:`\log\gamma`;
   :math:`\Sigma = H^{-1}` at the optimum, with the eigenvalues
   of :math:`H` floored at ``eig_floor`` × the largest (a non-positive-definite
   Hessian marks the point as unreliable: it is not used as a mode).
   *Merging.* Greedy, in order: a refined optimum joins the nearest existing mode
   :math:`m` if its Mahalanobis distance
   :math:`(y - \mu_m)^\top \Sigma_m^{-1} (y - \mu_m) < \delta^2`,
   keeping the higher of the two as the
   representative; otherwise it opens a new mode (at most ``max_modes``).
4. *Weights.* Laplace masses :math:`\hat w_m \propto \gamma(\mu_m)|\Sigma_m|^{1/2}`,
   mixed with uniform weights for robustness:
   :math:`w_m = (1-\epsilon)\hat w_m + \epsilon/M`.

The proposal is the defensive mixture

.. math::

    q(y) = \sum_m w_m\big[(1-\delta)\,\mathcal N(y;\mu_m, s^2\Sigma_m)
           + \delta\,t_\nu(y;\mu_m, s^2\Sigma_m)\big]

with inflation :math:`s^2` (``inflation``; by default
:math:`s^2 = 1/(1 - \tfrac13\sqrt{2/d})`, :func:`proposal_inflation`), tail share :math:`\delta`
(``tail_weight``) and a multivariate Student-t of :math:`\nu` degrees of
freedom (``tail_dof``). The Student-t part bounds the importance weight
:math:`\gamma/q` where the posterior's tails are heavier than the Laplace
Gaussian's (a scale parameter, a regression with unknown noise): without it a
chain out in such a tail has :math:`\gamma(y)/q(y)` so large that no
independence proposal is ever accepted from there.

**High dimension.** Above :data:`DENSE_MAX_DIM` dimensions (``covariance="auto"``) no
:math:`d\times d` object is formed:

1. the ascent has no Newton steps; an optimum is stationary if
   :math:`g^\top V g \le` ``stationarity_tol`` :math:`\cdot d` in the pooled metric
   :math:`V` = ``inverse_mass_matrix``;
2. merging is greedy in start order: a start is compared with the representative nearest
   to it in the metric :math:`V^{-1}`, and joins it if :math:`\log\gamma` at five
   evenly spaced points of the segment between them stays above the lower end's value
   minus 2 nats (no barrier: on a log-concave mode this holds for any two points,
   converged or not, so one mode stays one mode however far the ascent got);
3. :math:`\Sigma_m = \operatorname{diag}(1/H_{ii})`, :math:`H_{ii}` from :math:`d`
   Hessian-vector products at each mode found (coordinates where :math:`H_{ii}` is not
   positive keep :math:`1/V_{ii}`); then ``num_newton_steps`` diagonal Newton steps
   :math:`y_i \leftarrow y_i + \partial_i\log\gamma(y)/H_{ii}` refine the mode (each
   kept only if it raises :math:`\log\gamma`). These are the conditional variances: for a mode with
   correlated coordinates the proposal is narrower than the mode, so the moves stay exact
   but are accepted less often.

Memory is :math:`O(M d)` for the mixture and :math:`O(B d)` per Hessian-vector batch;
the cost per start is the ascent plus a few log-densities, plus :math:`M d`
Hessian-vector products in all.
"""

from numpyro_dilation.mode_finding import (
    contracted_starts,
    find_modes,
    find_modes_per_chain,
    hessian_diagonal,
)
from numpyro_dilation.mode_mixture import (
    ModeMixture,
    empty_mixture,
    mixture_logpdf,
    mixture_sample,
    nearest_mode,
)
from numpyro_dilation.mode_settings import (  # noqa: F401 (the constants: their old home)
    DENSE_MAX_DIM,
    MODE_START_CHAINS,
    GlobalMoves,
    mode_start_chains,
    proposal_inflation,
    uses_dense_covariance,
    wide_start_count,
)

__all__ = [
    "ModeMixture",
    "GlobalMoves",
    "find_modes",
    "find_modes_per_chain",
    "hessian_diagonal",
    "mixture_logpdf",
    "nearest_mode",
    "uses_dense_covariance",
    "mixture_sample",
    "mode_start_chains",
    "empty_mixture",
    "contracted_starts",
    "proposal_inflation",
    "wide_start_count",
]
