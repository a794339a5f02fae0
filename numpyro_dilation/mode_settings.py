r"""Settings of mode finding and of the global moves (:class:`GlobalMoves`), and the rules
that follow from the dimension (dense or diagonal covariances, how many chains start the
search). The maths is in :mod:`numpyro_dilation.modes`.
"""

from typing import NamedTuple

__all__ = [
    "DENSE_MAX_DIM",
    "GlobalMoves",
    "MODE_START_CHAINS",
    "STOP_ACCEPTANCE",
    "mode_start_chains",
    "proposal_inflation",
    "uses_dense_covariance",
    "wide_start_count",
]


STOP_ACCEPTANCE = 0.01
"""Mean acceptance probability of the warm-up's global moves (from the mode finding to the
warm-up's end, all chains) below which the population sampler stops them for the draws
(``ModeMixture.stopped``): a move costs a gradient per transition, as much as the MALA
step, and proposals that are never accepted cannot change any weight. Measured on the
radon-like model of the real-model suite: 7 to 14 "modes" of a unimodal posterior (points
of the non-centered density's ridges), acceptance 0.000, half the draws' gradients. The
end-of-run check says that they were stopped where the mode weights are at stake (chains in
two or more modes that disagree by R-hat, or a mode with Laplace weight above 0.001 that no
chain is in although so many chains would miss it with chance below 0.01).

**Example**

.. code-block:: python

    from numpyro_dilation.mode_settings import STOP_ACCEPTANCE

    print(STOP_ACCEPTANCE)  # 0.01
"""

DENSE_MAX_DIM = 100
"""Largest dimension in which ``GlobalMoves(covariance="auto")`` keeps a dense Laplace
covariance per mode (memory :math:`O(M d^2)` for :math:`M` modes, and a dense Hessian and
its eigendecomposition at every start of the mode finding, :math:`O(d)` gradients and
:math:`O(d^3)` flops each). Above it the covariances are diagonal (module docstring,
"High dimension"): memory :math:`O(M d)`, and the only Hessian work is :math:`d`
Hessian-vector products at each mode found.

**Example**

.. code-block:: python

    from numpyro_dilation.modes import DENSE_MAX_DIM, GlobalMoves, uses_dense_covariance

    print(DENSE_MAX_DIM, uses_dense_covariance(GlobalMoves(), 50))  # 100 True
    print(uses_dense_covariance(GlobalMoves(), 400))  # False: diagonal above DENSE_MAX_DIM
"""


def uses_dense_covariance(config: "GlobalMoves", dim: int) -> bool:
    """Whether ``config`` gives dense Laplace covariances in dimension ``dim``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import GlobalMoves, uses_dense_covariance

        print(uses_dense_covariance(GlobalMoves(covariance="diagonal"), 2))  # False
    """
    if config.covariance == "auto":
        return dim <= DENSE_MAX_DIM
    return config.covariance == "dense"


class GlobalMoves(NamedTuple):
    r"""Settings of mode finding (:func:`find_modes`, see the module docstring for
    the maths) and of the global moves that use the modes.

    max_modes
        Most modes kept (fixed-size arrays; the rest merge or are dropped).
    num_ascent_steps, num_newton_steps
        Gradient-ascent iterations from each starting point; Newton iterations from the
        representative of each group of ascent ends (ends with no barrier between them,
        where the Newton steps cost more than the ascent; :mod:`numpyro_dilation.modes`).
    merge_distance
        :math:`\delta`: optima closer than :math:`\delta` in the Mahalanobis
        metric of a mode's Laplace covariance are the same mode.
    inflation
        :math:`s^2`, proposal covariance :math:`s^2\Sigma_m`: a number, or ``"auto"``
        (default) for :math:`s^2 = 1/(1 - \tfrac13\sqrt{2/d})` (1.5 in :math:`d = 2`,
        1.18 in :math:`d = 10`, 1.07 in :math:`d = 50`; :func:`proposal_inflation`).
    uniform_weight
        :math:`\epsilon`, share of uniform weight in the proposal's mode weights.
    eig_floor
        Eigenvalues of :math:`H` are floored at this fraction of the largest.
    stationarity_tol
        An optimum is a mode only if its Newton decrement
        :math:`g^\top H^{-1} g \le` ``stationarity_tol`` :math:`\cdot d`.
    tail_weight, tail_dof
        :math:`\delta` and :math:`\nu` of the Student-t share of every component.
    center_contractions
        Ratios :math:`\rho`: the ascent also starts from the chains' annealing centers
        contracted toward their mean, :math:`\bar c + \rho(c_i - \bar c)`
        (:func:`contracted_starts`), after the chains (and the explorer's returns), so
        these starts only fill slots that are left. In high dimension an overdispersed
        initial law reaches only the widest modes: a narrow mode's basin is a ball
        around it, and random points far from it lie in the basin of the wider one.
        ``()`` turns this off.
    every
        A global move after every ``every``-th local step in the sampling phase.
    covariance
        ``"dense"``, ``"diagonal"`` or ``"auto"`` (default: dense up to
        :data:`DENSE_MAX_DIM` dimensions, diagonal above); see the module docstring.
    blocks
        Block-wise global moves (:mod:`numpyro_dilation.block_moves`): ``None`` (default:
        whole-vector moves only), ``"auto"`` (blocks detected at the mode finding where the
        modes and their curvature show no coupling; dense covariances only), groups of flat
        indices (the coordinates not named form one more block), or in the NumPyro kernel
        ``"sites"`` (a block per sample site) or groups of site names.
    exchangeable
        Label swaps between exchangeable components (:mod:`numpyro_dilation.label_swaps`):
        ``None`` (default: none), :math:`K \ge 2` groups of equally many flat indices
        (the same parameters of each component, in the same order), or in the NumPyro
        kernel site names whose leading axis is the component (``("locs", "scales",
        "weights")``). Each global move is then followed by a swap of two components'
        parameters, accepted by Metropolis–Hastings: the :math:`K!` labellings of a
        mixture are visited although only a few are among the modes.
    num_start_chains
        How many evenly spaced chains start the U-turn explorer and the contracted-center
        ascents (and, with diagonal covariances, the ascents from the chains' positions;
        with dense ones every chain's position starts one): a number, or ``"auto"``
        (default) for :data:`MODE_START_CHAINS` (64; :func:`mode_start_chains`,
        :mod:`numpyro_dilation.population_modes`), where also a run pass whose pilot's
        chains ended in one mode skips the explorer. A number keeps the explorer in both
        passes: a wider search for a mode that few U-turns reach, at its cost (with all 500
        chains and no wide starts, the two-mode target moved 50 units got both modes in 4
        of 10 runs against 0 of 10, at 2.4× the gradients: BENCHMARKS.md, "The run pass's
        explorer"; the wide starts find it in 10 of 10 at +11%: "Wide starts").
    num_wide_starts, wide_scale
        The first mode finding of a run (the pilot pass's, or the only one), and the run
        pass's where the pilot's found fewer than two modes, also ascends from :math:`W`
        points drawn wide around the chains, :math:`\bar y + \kappa\, s \odot z`
        with :math:`\bar y`, :math:`s` the mean and standard deviation of the chains'
        positions, :math:`z \sim \mathcal N(0, I)` and :math:`\kappa` = ``wide_scale``
        (:func:`~numpyro_dilation.population_modes.wide_starts`): where every chain annealed
        into one wide mode from far away, a narrower mode close to it has a basin that few
        directions reach, which no chain, U-turn or contracted center came near.
        ``num_wide_starts``: a number (0 turns them off) or ``"auto"`` (default: half the
        chains, at least :data:`MODE_START_CHAINS`; :func:`wide_start_count`).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC

        from numpyro_dilation import DilationLangevin, GlobalMoves, UTurn

        def model():
            # two well-separated modes at -3 and +3
            mix = dist.MixtureSameFamily(
                dist.Categorical(jnp.array([0.5, 0.5])), dist.Normal(jnp.array([-3.0, 3.0]), 0.5)
            )
            numpyro.sample("x", mix)

        kernel = DilationLangevin(
            model,
            global_moves=GlobalMoves(max_modes=8, num_ascent_steps=20),
            uturn=UTurn(kind="explore", lambda_u=1e-3, num_steps=20),
        )
        mcmc = MCMC(kernel, num_warmup=60, num_samples=40, num_chains=8,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        x = mcmc.get_samples()["x"]
        print((x > 0).mean())  # about 0.5: both modes, weighted correctly
    """

    max_modes: int = 64
    num_ascent_steps: int = 100
    num_newton_steps: int = 3
    merge_distance: float = 3.0
    inflation: float | str = "auto"
    uniform_weight: float = 0.2
    eig_floor: float = 1e-6
    every: int = 1
    stationarity_tol: float = 1.0
    tail_weight: float = 0.1
    tail_dof: float = 4.0
    center_contractions: tuple[float, ...] = (0.3, 0.1)
    covariance: str = "auto"
    num_start_chains: int | str = "auto"
    num_wide_starts: int | str = "auto"
    wide_scale: float = 8.0
    blocks: str | tuple | None = None
    exchangeable: tuple | None = None


MODE_START_CHAINS = 64
"""Chains that start the U-turn explorer and the contracted-center ascents of the mode
finding, and with diagonal covariances also the ascents from the chains' positions
(``GlobalMoves(num_start_chains="auto")``; :mod:`numpyro_dilation.population_modes`). From
every chain of a 256-chain run the mode finding cost about half of the run's gradients, on
the multimodal suite and on the real-model suite alike (``python -m benchmarks.warmup_cost``);
from 64 the multimodal suite's modes were the same on most targets and seeds (BENCHMARKS.md,
"Mode finding from 64 starting chains"). 64 starting chains find every mode that
holds at least 5% of the chains with probability :math:`1 - 0.95^{64} > 0.96`.

**Example**

.. code-block:: python

    from numpyro_dilation.modes import MODE_START_CHAINS, GlobalMoves, mode_start_chains

    print(MODE_START_CHAINS, mode_start_chains(GlobalMoves(), 256))  # 64 64
    print(mode_start_chains(GlobalMoves(), 16))  # 16: every chain when there are fewer
"""


def mode_start_chains(config: GlobalMoves, num_chains: int) -> int:
    """How many of ``num_chains`` chains start the mode finding's explorer and contracted
    centers (:data:`MODE_START_CHAINS` for ``num_start_chains="auto"``).

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import GlobalMoves, mode_start_chains

        print(mode_start_chains(GlobalMoves(num_start_chains=16), 256))  # 16
    """
    if config.num_start_chains == "auto":
        return min(num_chains, MODE_START_CHAINS)
    return min(num_chains, int(config.num_start_chains))


def wide_start_count(config: GlobalMoves, num_chains: int) -> int:
    """How many wide starts a mode finding of a run of ``num_chains`` chains ascends
    from (``GlobalMoves.num_wide_starts``; ``"auto"``: half the chains, at least
    :data:`MODE_START_CHAINS`, at most all of them).

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import GlobalMoves, wide_start_count

        print(wide_start_count(GlobalMoves(), 256), wide_start_count(GlobalMoves(), 500))  # 128 250
        print(wide_start_count(GlobalMoves(), 16))  # 16: every chain when there are fewer
        print(wide_start_count(GlobalMoves(num_wide_starts=0), 256))  # 0: none
    """
    if config.num_wide_starts == "auto":
        return min(num_chains, max(MODE_START_CHAINS, num_chains // 2))
    return int(config.num_wide_starts)


def proposal_inflation(inflation: float | str, dim: int) -> float:
    r"""The proposal's covariance inflation :math:`s^2` in dimension :math:`d` = ``dim``.

    A number is returned as it is. ``"auto"`` gives

    .. math:: s^2 = \Big(1 - \tfrac13\sqrt{2/d}\Big)^{-1},

    which keeps the spread of the independence sampler's log importance weights the
    same in every dimension for a Gaussian mode. With :math:`y \sim \mathcal N(\mu,
    \Sigma)` and proposal :math:`\mathcal N(\mu, s^2\Sigma)`,
    :math:`\log[\gamma(y)/q(y)] = -\tfrac12 r^2 (1 - s^{-2}) + \text{const}` with
    :math:`r^2 \sim \chi^2_d`, whose standard deviation is
    :math:`(1 - s^{-2})\sqrt{d/2}`; the formula holds it at :math:`\tfrac13`, its
    value for the fixed :math:`s^2 = 1.5` in :math:`d = 2`. A fixed 1.5 lets that
    spread grow as :math:`\sqrt d`, and the acceptance of the global moves falls:
    measured on ``two_mode_50`` (256 chains × (400 + 100)), acceptance 0.18 and a
    mode-indicator R-hat of 1.10 with 1.5, 0.71 and 1.009 with 1.1.

    **Example**

    .. code-block:: python

        from numpyro_dilation.modes import proposal_inflation

        print([round(proposal_inflation("auto", d), 3) for d in (2, 10, 50)])  # [1.5, 1.175, 1.071]
        print(proposal_inflation(2.0, 50))  # 2.0: a number is kept
    """
    if isinstance(inflation, str):
        if inflation != "auto":
            raise ValueError(f"`inflation` must be a positive number or 'auto', got {inflation!r}.")
        return 1.0 / (1.0 - (2.0 / max(int(dim), 1)) ** 0.5 / 3.0)
    return float(inflation)
