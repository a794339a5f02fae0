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
   :math:`h_c` is halved); then a few Newton steps
   :math:`y \leftarrow y + H^{-1}\nabla\log\gamma(y)`,
   :math:`H = -\nabla^2\log\gamma(y)`, kept only if they raise :math:`\log\gamma`.
2. *Laplace.* At each optimum, :math:`\Sigma_c = H^{-1}` with the eigenvalues
   of :math:`H` floored at ``eig_floor`` × the largest (a non-positive-definite
   Hessian marks the point as unreliable: it is not used as a mode).
3. *Merging.* Greedy, in chain order: an optimum joins the first existing mode
   :math:`m` with Mahalanobis distance
   :math:`(y_c - \mu_m)^\top \Sigma_m^{-1} (y_c - \mu_m) < \delta^2`
   (``merge_distance`` :math:`=\delta`), keeping the higher of the two as the
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
    proposal_inflation,
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
    DIAGONAL_START_CHAINS,
    GlobalMoves,
    mode_start_chains,
    uses_dense_covariance,
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
]
