r"""NumPyro ``MCMCKernel`` for annealed Langevin along the dilation path.

``MCMC(DilationLangevin(model), num_warmup=W, num_samples=S, num_chains=C)``:

- warm-up is the annealing: the first :math:`K` iterations (by default
  :math:`K = \lceil W/2 \rceil`) move :math:`\lambda` from ``lambda_min`` to 1,
  starting each chain at the Dirac at its center; the remaining :math:`W - K`
  warm-up iterations run MALA at :math:`\lambda = 1`; the step size adapts
  (dual averaging) over all :math:`W` iterations and restarts at :math:`\lambda = 1`;
- the :math:`S` samples are drawn at :math:`\lambda = 1` with MALA.

Each chain is one annealed particle. The sampler works in NumPyro's
unconstrained space; draws come back constrained through ``postprocess_fn``.
"""

import warnings
from collections.abc import Callable
from math import ceil

import jax
import numpy as np
from jax import random
from jax.flatten_util import ravel_pytree
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import initialize_model
from numpyro.util import identity, is_prng_key

from numpyro_dilation.annealing import (
    DEFAULT_TARGET_ACCEPT_PROB,
    AnnealingConfig,
)
from numpyro_dilation.batching import calls_lapack
from numpyro_dilation.forward_mode import forward_mode_logdensity
from numpyro_dilation.health import (
    ReliabilityWarning,
)
from numpyro_dilation.inputs import (
    check_arguments,
    check_init_params,
    check_initial_points,
    is_array,
    resolve_center,
)
from numpyro_dilation.modes import (
    GlobalMoves,
)
from numpyro_dilation.population import population_step
from numpyro_dilation.population_chain import chain_alone_step
from numpyro_dilation.population_settings import (
    MIN_ANNEALING_STEPS,
    PopulationSettings,
    make_settings,
    min_annealing_warmup,
    num_annealing_levels,
)
from numpyro_dilation.population_state import (
    DilationAdaptState,
    DilationLangevinState,
    assemble_state,
    init_chains,
)
from numpyro_dilation.preconditioner import HUTCHINSON_PROBES  # noqa: F401 (its old home)
from numpyro_dilation.reparam import funnel_sites, noncentered
from numpyro_dilation.run_checks import (
    MIN_POPULATION_CHAINS,  # noqa: F401 (its old home)
    calling_mcmc,
    check_health_at_phase_end,
    check_run,
    coordinate_sites,
    population_warning,
    run_length,
    warn_if_never_accepted,
)
from numpyro_dilation.schedules import make_schedule
from numpyro_dilation.starts import Pilot, pilot_starts
from numpyro_dilation.uturn import UTurn

__all__ = [
    "AUTO_PILOT_MIN_CHAINS",
    "check_run",
    "DilationLangevin",
    "DilationLangevinState",
    "DilationAdaptState",
    "GlobalMoves",
]

AUTO_PILOT_MIN_CHAINS = 4 * Pilot().num_chains
"""Fewest chains (256) for which ``center="auto"`` runs the pilot-box start: its 64 pilot
chains then are at most a quarter of the run's chains. Measured cost in gradients: +19-21%
at 256 chains x (400 + 100), +11-12% at 256 x (2000 + 1000), +9-10% at 500 x (400 + 200)
(BENCHMARKS.md). With fewer chains it would cost more (its min(64, C) chains run half the
warm-up, annealing and mode finding included) for a box drawn from few particles.

**Example**

.. code-block:: python

    from numpyro_dilation.mcmc import AUTO_PILOT_MIN_CHAINS

    num_chains = 500
    print(num_chains >= AUTO_PILOT_MIN_CHAINS)  # True: center="auto" runs the pilot box
"""


class DilationLangevin(MCMCKernel):
    r"""Annealed Langevin dynamics along the dilation path (Chehab & Korba, 2024).

    The dilation path :math:`\pi_\lambda(x) = \lambda^{-d/2}\pi(c + (x - c)/\sqrt\lambda)`
    goes from the Dirac at a center :math:`c` (:math:`\lambda \to 0`) to the
    posterior (:math:`\lambda = 1`) and has a closed-form score, so annealing
    costs one gradient per level. Warm-up anneals (unadjusted Langevin with
    step :math:`h\lambda_k`, i.e. step :math:`h` in target coordinates) and adapts
    :math:`h`; sampling is MALA at :math:`\lambda = 1`. Run many chains and pool
    their draws: each chain is one annealed particle.

    .. warning:: Annealing *finds* modes, but the fraction of chains that ends
       in each mode is biased by the mode's distance from the center and its
       width (see the user guide); per-chain draws stay in one mode.

    :param model: Python callable with NumPyro primitives.
    :param potential_fn: potential energy :math:`-\log\gamma` on unconstrained
        parameters (then ``init_params`` must be given to ``MCMC.run``).
    :param float step_size: initial step :math:`h` in (unconstrained) target
        coordinates; ``None`` finds one at the initial point by halving/doubling.
    :param bool adapt_step_size: dual averaging of :math:`h` during warm-up. With
        ``False`` the given ``step_size`` is kept throughout (with the pooled
        preconditioner, coordinate :math:`i` then moves with step :math:`h v_i`; set
        ``adapt_mass_matrix=False`` too for a step that is fixed in every coordinate).
    :param float target_accept_prob: acceptance probability targeted by the
        adaptation (default 0.574, MALA's optimum).
    :param schedule: ``"linear"`` (default), ``"geometric"``, ``"cosine"``, a
        callable ``(num_steps, lambda_min) -> levels`` or an explicit array of
        levels (strictly increasing in (0, 1], ending at 1; its length is then
        the number of annealing steps).
    :param float lambda_min: first level of a named schedule, in (0, 1).
    :param int num_annealing_steps: :math:`K`; defaults to
        ``ceil(annealing_fraction * num_warmup)``. Must not exceed ``num_warmup``.
    :param float annealing_fraction: share of the warm-up spent annealing, in (0, 1].
    :param center: where each chain's annealing starts. ``"auto"`` (default):
        ``Pilot()`` in a vectorized run with at least :data:`AUTO_PILOT_MIN_CHAINS`
        (256) chains, ``None`` otherwise.
        ``None``: each chain's initial point (from ``init_strategy`` or
        ``init_params``) is its own center, so chains start from different Diracs.
        A :class:`~numpyro_dilation.starts.Pilot` (or ``"pilot"`` for ``Pilot()``;
        vectorized runs with several chains only): a short pilot run of this kernel
        from the first 64 initial points finds where the posterior has mass; half the
        chains then start, each with its own center, at a uniform draw in the pilot
        particles' bounding box widened by 25% per side, and the other half at their
        initial points, as with ``None`` (the pilot's gradients are counted in the
        first iteration's ``num_grad_evals``). It adapts to a posterior
        far from the initial points (500 chains on the 10-d two-mode target moved 50
        units: both modes in 2 of 5 runs, against 0 of 5 with ``None``; all 40 modes
        of the 40-mode mixture in 2 of 2, against 0 of 2) for 9-21% more
        gradients (fewer with more chains) and a second compilation; see the user
        guide ("The center").
        A fixed shared center: a ``dict`` of *constrained* site values (like
        ``init_to_value``) for a ``model``; a flat array of the unconstrained vector
        (``ravel_pytree`` order); or, with ``potential_fn``, a pytree with the
        structure of ``init_params``.
    :param init_strategy: per-site initialization (see NumPyro's ``init_strategy``).
    :param bool metropolis: MALA at :math:`\lambda = 1` (default) or unadjusted Langevin.
    :param bool anneal_metropolis: Metropolis adjustment during annealing too (default).
        ``False`` runs the paper's unadjusted Langevin annealing; it is not the default
        because dual averaging's first, large trial step sizes can throw unadjusted
        chains far out (measured: 39 of 200 chains of a 3-parameter regression stuck
        with sigma ~ 1e13), which the adjustment prevents at no extra gradient cost.
    :param global_moves: weight correction. ``"auto"`` (default): in a vectorized run
        with several chains, the modes reached by all chains are found
        (:func:`~numpyro_dilation.mode_finding.find_modes`) halfway through the warm-up that
        follows the annealing, and from then on every iteration adds an independence
        Metropolis–Hastings move whose proposal is their Gaussian mixture, so chains
        jump between modes and the weights become right (starting the moves before the
        draws are kept lets chains that the annealing left in negligible modes move
        out first); off otherwise. A :class:`~numpyro_dilation.mode_settings.GlobalMoves` sets
        them explicitly (vectorized runs only); ``None`` turns them off.
    :param bool adapt_mass_matrix: in a vectorized run with several chains, estimate a
        diagonal (Jacobi) preconditioner :math:`v_i = 1/\mathrm{median}_c H^{(c)}_{ii}`,
        the inverse of the median over chains of the target's curvature
        :math:`H = -\nabla^2\log\gamma` at the chains' positions, at the start, at
        quarters of the annealing and halfway through the rest of the warm-up,
        re-finding the step size each time. Above
        :data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` dimensions each chain's
        :math:`H_{ii}` is Hutchinson's estimate from :data:`HUTCHINSON_PROBES`
        Hessian-vector products (no :math:`d\times d` Hessian).
        Langevin/MALA steps then use :math:`y' = y + h v\odot\nabla\log\gamma +
        \sqrt{2hv}\odot\xi`. A chain run alone (one chain, or ``chain_method=
        "sequential"``/``"parallel"``) uses its own curvature, a population of one.
        The result is ``last_state.adapt_state.inverse_mass_matrix``.
    :param uturn: U-turns (:mod:`numpyro_dilation.uturn`). ``"auto"`` (default):
        ``UTurn(kind="explore")`` whenever global moves run, none otherwise.
        ``UTurn(kind="explore")`` (vectorized runs with global moves): at the end of
        warm-up every chain makes approximate U-turns
        (dilate to :math:`\lambda_u`, re-anneal from an overdispersed center) whose
        returns join the chains' positions as starting points of the mode finding, so
        modes that the annealing missed enter the global moves' mixture (exactness is
        kept by the independence Metropolis–Hastings acceptance).
        ``UTurn(kind="exact")`` (any chain method): every ``every`` sampling iterations
        each chain makes the exact palindromic U-turn move, accepted with probability
        :math:`\min(1, e^W)` (recorded as ``uturn_accept_prob``). ``None``: no
        U-turns. Measured: on ring8 moved to (22, -9), 300 chains started in
        :math:`[-2, 2]^2` found 7 of 8 modes without the explorer (log Z off by the
        lightest mode's mass, 2.9%) and all 8 with it (log Z within one standard error).
    :param reparam: ``"auto"`` (default, a ``model`` without discrete latent sites, run
        without ``init_params`` and with a ``center`` that is not a fixed point): the
        latent ``Normal`` sites whose scale is itself latent (funnels, e.g. ``theta ~
        Normal(mu, tau)`` in a centered hierarchical model) are sampled non-centered with
        NumPyro's ``LocScaleReparam(centered=0)``, the same posterior without the funnel
        (:mod:`numpyro_dilation.reparam`); draws then hold ``NAME`` (deterministic) and
        ``NAME_decentered``, and :attr:`noncentered_sites` lists the sites. ``None``: the
        model as written.
    :param bool forward_mode_differentiation: as in NumPyro's ``NUTS``: every gradient
        (steps, mode finding, curvature) by forward mode
        (:func:`~numpyro_dilation.forward_mode.forward_mode_logdensity`), for models that
        reverse mode cannot differentiate (``lax.while_loop``). A gradient then costs
        :math:`d` forward passes.
    :param bool dense_mass: as in NumPyro's ``NUTS``: a dense preconditioner
        :math:`v = (\mathrm{median}_c H^{(c)})^{-1}` (elementwise median of the chains'
        Hessians; directions where it is not positive definite take the chains' spread,
        :mod:`numpyro_dilation.preconditioner`), so steps follow the posterior's
        correlations: :math:`y' = y + hV\nabla\log\gamma + \sqrt{2h}\,L\xi`,
        :math:`LL^\top = V`. Each update costs every chain a full Hessian (:math:`d`
        Hessian-vector products) and holds :math:`C` of them at once (memory
        :math:`O(Cd^2)`); each step costs a Cholesky factorization of :math:`V`,
        :math:`O(d^3)` once for all chains. Meant for correlated posteriors of up to a few
        hundred dimensions; ``False`` (default) keeps the diagonal. Block structures
        (NUTS's list of site tuples) are not supported.
    :param bool host_callbacks: the run checks itself from inside its compiled loop
        (default): it warns when the warm-up accepted nothing and, in a vectorized run,
        at the end of the warm-up and of each ``run``'s draws
        (:mod:`numpyro_dilation.health`). These are host callbacks, and JAX's persistent
        compilation cache does not store programs that contain one. ``False``: no
        callback, so with the cache on, a second ``run`` (NumPyro traces its loop again
        for every ``run``) or a second process running the same model loads the compiled
        loop from the cache instead of compiling it (NumPyro's progress bar adds a callback
        only with ``chain_method="parallel"``); the run then does not check itself: call
        :func:`check_run` after it (same checks, same warning).

    **Example**

    .. code-block:: python

        import jax, jax.numpy as jnp, numpyro, numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin

        def model(y=None):
            theta = numpyro.sample("theta", dist.Normal(0.5, 1.0))
            numpyro.sample("y", dist.Normal(theta**2, 0.5), obs=y)

        mcmc = MCMC(DilationLangevin(model), num_warmup=400, num_samples=200,
                    num_chains=500, chain_method="vectorized")
        mcmc.run(jax.random.key(0), y=2.0)
        mcmc.print_summary()
    """

    def __init__(
        self,
        model: Callable | None = None,
        potential_fn: Callable | None = None,
        *,
        step_size: float | None = None,
        adapt_step_size: bool = True,
        target_accept_prob: float = DEFAULT_TARGET_ACCEPT_PROB,
        schedule="linear",
        lambda_min: float = 1e-3,
        num_annealing_steps: int | None = None,
        annealing_fraction: float = 0.5,
        center="auto",
        init_strategy: Callable = init_to_uniform,
        metropolis: bool = True,
        anneal_metropolis: bool = True,
        global_moves: GlobalMoves | None | str = "auto",
        adapt_mass_matrix: bool = True,
        uturn: UTurn | None | str = "auto",
        reparam: str | None = "auto",
        forward_mode_differentiation: bool = False,
        dense_mass: bool = False,
        host_callbacks: bool = True,
    ):
        schedule, center = check_arguments(
            model=model,
            potential_fn=potential_fn,
            init_strategy=init_strategy,
            step_size=step_size,
            target_accept_prob=target_accept_prob,
            schedule=schedule,
            lambda_min=lambda_min,
            num_annealing_steps=num_annealing_steps,
            annealing_fraction=annealing_fraction,
            center=center,
            global_moves=global_moves,
            uturn=uturn,
            reparam=reparam,
            dense_mass=dense_mass,
        )
        self._model = model
        self._potential_fn = potential_fn
        self._potential_fn_gen = None
        self._step_size = step_size
        self._adapt_step_size = bool(adapt_step_size)
        self._target_accept_prob = (
            target_accept_prob
            if isinstance(target_accept_prob, jax.core.Tracer)
            else float(target_accept_prob)
        )
        self._schedule = schedule
        self._lambda_min = float(lambda_min)
        self._num_annealing_steps = num_annealing_steps
        self._annealing_fraction = float(annealing_fraction)
        self._center = center
        self._init_strategy = init_strategy
        self._metropolis = bool(metropolis)
        self._anneal_metropolis = bool(anneal_metropolis)
        self._global_moves_arg = global_moves
        self._quiet_inits = 0  # chains of a sequential run not to warn again about
        self._uturn_arg = uturn
        self._reparam = reparam
        self._sampled_model = model  # the model as sampled (non-centered sites: init())
        self._noncentered_sites = ()
        self._adapt_mass_matrix = bool(adapt_mass_matrix)
        self._dense_mass = bool(dense_mass)
        self._host_callbacks = bool(host_callbacks)
        self._forward_mode_differentiation = forward_mode_differentiation
        self._postprocess_fn = None
        # the population algorithm's resolved settings (PopulationSettings; set in init)
        self._settings = None
        self._vectorized = False  # all chains at once (set in init)
        # one iteration: population_step or chain_alone_step (set in init; NumPyro's MCMC
        # re-initializes a kernel whose _sample_fn is None, as for HMC)
        self._sample_fn = None
        self._coordinate_sites = []  # site of each flat coordinate (set in init)
        self._anneals = True  # False when num_warmup is too short to anneal (set in init)

    # -- MCMCKernel interface -------------------------------------------------

    @property
    def model(self):
        return self._model

    @property
    def noncentered_sites(self) -> tuple[str, ...]:
        """Sites sampled non-centered by ``reparam="auto"`` in the last ``init``."""
        return self._noncentered_sites

    @property
    def sampled_model(self):
        """The model the kernel samples: ``model``, non-centered at
        :attr:`noncentered_sites` (its latent sites are those of the state's ``z``)."""
        return self._sampled_model

    @property
    def sample_field(self):
        return "z"

    @property
    def default_fields(self):
        return ("z", "diverging", "potential_energy", "accept_prob", "adapt_state.step_size")

    @property
    def config(self) -> AnnealingConfig | None:
        """The resolved schedule and adaptation settings (set by :meth:`init`)."""
        return None if self._settings is None else self._settings.config

    @property
    def settings(self) -> PopulationSettings | None:
        """The population algorithm's resolved settings
        (:class:`~numpyro_dilation.population_settings.PopulationSettings`: levels, the
        preconditioner's update iterations, the mode-finding iteration, the moves; set by
        :meth:`init`)."""
        return self._settings

    def get_diagnostics_str(self, state):
        return (
            f"lam {float(state.lam):.3g}, step size {float(state.adapt_state.step_size):.2e}, "
            f"acc. prob={float(state.mean_accept_prob):.2f}"
        )

    def postprocess_fn(self, args, kwargs):
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*args, **kwargs)

    def num_annealing_steps(self, num_warmup: int) -> int:
        """:math:`K` for a run with ``num_warmup`` warm-up iterations (validated); 0 when a
        named schedule of ``ceil(annealing_fraction * num_warmup)`` levels would have fewer
        than :data:`MIN_ANNEALING_STEPS` (the run then does not anneal: see ``init``);
        :func:`~numpyro_dilation.population_settings.num_annealing_levels`."""
        return num_annealing_levels(
            num_warmup, self._schedule, self._num_annealing_steps, self._annealing_fraction
        )

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        if not (isinstance(num_warmup, (int, np.integer)) and num_warmup >= 0):
            raise ValueError(f"`num_warmup` must be an integer >= 0, got {num_warmup!r}.")
        levels = self._levels(num_warmup, self._schedule, self._num_annealing_steps)
        self._anneals = len(levels) > 1  # at least MIN_ANNEALING_STEPS levels, else one
        vectorized = not is_prng_key(rng_key)
        mcmc = calling_mcmc()
        if self._global_moves_arg == "auto" and self._anneals:
            message = population_warning(vectorized, rng_key.shape[0] if vectorized else 1, mcmc)
            if self._quiet_inits > 0:  # the same sequential run's next chain
                self._quiet_inits -= 1
            elif message is not None:
                warnings.warn(message, ReliabilityWarning, stacklevel=2)
                if getattr(mcmc, "chain_method", None) == "sequential":
                    self._quiet_inits = int(getattr(mcmc, "num_chains", 1)) - 1
        num_chains = rng_key.shape[0] if vectorized else 1
        global_moves, uturn = self._moves(self._anneals, vectorized, num_chains)
        pilot = self._resolve_pilot(vectorized, rng_key)
        if pilot is not None and (not vectorized or rng_key.shape[0] < 2):
            raise ValueError(
                "`center=Pilot(...)` (or 'pilot') needs all chains at once: use "
                "chain_method='vectorized' with num_chains >= 2, or `center=None`."
            )
        if vectorized:
            # index, not unpack: keys sharded over several processes cannot be iterated
            keys = jax.vmap(lambda k: random.split(k, 3))(rng_key)
            rng_key, key_model, key_step = keys[:, 0], keys[:, 1], keys[:, 2]
        else:
            rng_key, key_model, key_step = random.split(rng_key, 3)
        model_kwargs = {} if model_kwargs is None else model_kwargs
        init_params = self._init_model(key_model, model_args, model_kwargs, init_params)
        if self._potential_fn is not None and init_params is None:
            raise ValueError("`init_params` must be provided with `potential_fn`.")
        logdensity_fn = self._logdensity_fn(model_args, model_kwargs)
        one_chain = jax.tree.map(lambda x: x[0], init_params) if vectorized else init_params
        one_at_a_time = (
            vectorized and jax.default_backend() == "cpu" and calls_lapack(logdensity_fn, one_chain)
        )
        pilot_grads = 0
        if pilot is not None:
            init_params, pilot_grads = self._pilot_starts(
                random.fold_in(key_model[0], 1),
                pilot,
                num_warmup,
                init_params,
                logdensity_fn,
                one_at_a_time,
            )
        center = resolve_center(
            self._center,
            self._model,
            self._postprocess_fn,
            init_params,
            vectorized,
            model_args,
            model_kwargs,
        )
        self._settings = self._make_settings(
            num_warmup, one_chain, levels, global_moves, uturn, one_at_a_time, run_length(mcmc)
        )
        astate, init_grads = init_chains(
            init_params,
            logdensity_fn,
            key_step,
            self._settings,
            center=center,
            step_size=self._step_size,
            batched=vectorized,
        )
        check_initial_points(astate.dilation, center)
        self._vectorized = vectorized
        self._sample_fn = population_step if vectorized else chain_alone_step
        self._coordinate_sites = coordinate_sites(one_chain)
        return assemble_state(astate, init_grads + pilot_grads, rng_key, self._settings, vectorized)

    def _levels(self, num_warmup: int, schedule, num_annealing_steps) -> np.ndarray:
        """The annealing levels of a warm-up of ``num_warmup`` iterations; one level 1 (and
        a warning) when it is too short to anneal."""
        num_levels = num_annealing_levels(
            num_warmup, schedule, num_annealing_steps, self._annealing_fraction
        )
        if num_levels > 0:
            return make_schedule(schedule, num_levels, self._lambda_min)
        warnings.warn(
            f"DilationLangevin: num_warmup={num_warmup} is too short to anneal (the "
            f"warm-up anneals over {MIN_ANNEALING_STEPS} steps at least; num_warmup >= "
            f"{min_annealing_warmup(self._annealing_fraction)} with these settings). The "
            "chains start at their initial points at lambda = 1 and run MALA (step size "
            "adapted over the warm-up, if any), without the pilot start and without "
            "global moves: the chains' shares of separated modes are not corrected. "
            "Raise `num_warmup` unless the chains continue a finished warm-up.",
            UserWarning,
            stacklevel=3,
        )
        return np.ones(1)  # one "level", lambda = 1: each chain starts at its initial point

    def _moves(self, anneals: bool, vectorized: bool, num_chains: int):
        """``(global_moves, uturn)`` this run uses, from the arguments and the run's shape."""
        global_moves = self._resolve_global_moves(vectorized, num_chains)
        uturn = self._uturn_arg
        if not anneals:
            global_moves = None
            uturn = None if isinstance(uturn, str) else uturn
        if isinstance(uturn, str):  # "auto": the explorer wherever global moves run
            uturn = None if global_moves is None else UTurn(kind="explore")
        if uturn is not None and uturn.kind == "explore" and global_moves is None:
            warnings.warn(
                "UTurn(kind='explore') feeds the global moves' mode finding, which needs "
                "chain_method='vectorized', num_chains >= 2 and global moves on. Running "
                "without U-turns.",
                stacklevel=3,
            )
            uturn = None
        return global_moves, uturn

    def _make_settings(
        self, num_warmup, one_chain, levels, global_moves, uturn, one_at_a_time, length
    ) -> PopulationSettings:
        """The population algorithm's settings for this kernel's arguments."""
        return make_settings(
            int(num_warmup),
            ravel_pytree(one_chain)[0].shape[0],
            levels=levels,
            global_moves=global_moves,
            uturn=uturn,
            adapt_mass_matrix=self._adapt_mass_matrix,
            dense_mass=self._dense_mass,
            adapt_step_size=self._adapt_step_size,
            target_accept_prob=self._target_accept_prob,
            metropolis=self._metropolis,
            anneal_metropolis=self._anneal_metropolis,
            one_chain_at_a_time=one_at_a_time,
            run_length=length,
        )

    def sample(self, state, model_args, model_kwargs):
        """One iteration (all chains at once in a vectorized run). When the warm-up
        ends, warns (``RuntimeWarning``) if no chain has accepted any proposal. In a
        vectorized run, at the end of the warm-up and of each ``run``'s draws, checks the
        run (:mod:`numpyro_dilation.health`) and warns once
        (:class:`~numpyro_dilation.health.ReliabilityWarning`) naming every problem."""
        logdensity_fn = self._logdensity_fn(model_args, model_kwargs)
        new = self._sample_fn(state, logdensity_fn, self._settings)
        if not self._host_callbacks:  # checked afterwards, by check_run(mcmc)
            return new
        warn_if_never_accepted(new, self._settings.config.num_adaptation_steps)
        if self._vectorized and new.i.shape[0] >= 2 and self._coordinate_sites:
            self._check_health(new)
        return new

    def _check_health(self, state) -> None:
        """At the end of a phase, hand the chains' monitors (and, with modes, the final
        positions and the mixture) to the host, which warns if anything is wrong."""
        check_health_at_phase_end(state, self._settings, self._coordinate_sites)

    # -- internals --------------------------------------------------------------

    def _resolve_global_moves(self, vectorized, num_chains) -> GlobalMoves | None:
        arg = self._global_moves_arg
        if arg is None:
            return None
        if not vectorized or num_chains < 2:
            if isinstance(arg, GlobalMoves):
                warnings.warn(
                    "Global moves need all chains at once: use chain_method='vectorized' "
                    "with num_chains >= 2. Running without them; mode weights are then "
                    "those of annealing alone (biased in general).",
                    stacklevel=4,
                )
            return None
        return arg if isinstance(arg, GlobalMoves) else GlobalMoves()

    def _resolve_pilot(self, vectorized, rng_key) -> Pilot | None:
        """The pilot-box settings this run uses: ``center`` if it is a ``Pilot``;
        ``Pilot()`` for ``"auto"`` in a vectorized run with at least
        :data:`AUTO_PILOT_MIN_CHAINS` chains; else ``None`` (no pilot)."""
        if not self._anneals:
            return None
        if isinstance(self._center, Pilot):
            return self._center
        if isinstance(self._center, str) and vectorized:
            if rng_key.shape[0] >= AUTO_PILOT_MIN_CHAINS:
                return Pilot()
        return None

    def _pilot_starts(self, rng_key, pilot, num_warmup, init_params, logdensity_fn, one_at_a_time):
        """The pilot-box start (:func:`~numpyro_dilation.starts.pilot_starts`), its
        population algorithm with this kernel's settings for a warm-up of
        ``max(ceil(warmup_fraction * num_warmup), 40)`` iterations (a named schedule of
        the same shape, or linear), per-chain centers."""
        pilot_warmup = max(ceil(pilot.warmup_fraction * num_warmup), 40)
        named = isinstance(self._schedule, str) or callable(self._schedule)
        schedule = self._schedule if named else "linear"
        levels = self._levels(pilot_warmup, schedule, None)
        num_pilots = min(jax.tree.leaves(init_params)[0].shape[0], pilot.num_chains)
        global_moves, uturn = self._moves(len(levels) > 1, True, num_pilots)
        one_chain = jax.tree.map(lambda x: x[0], init_params)
        settings = self._make_settings(
            pilot_warmup, one_chain, levels, global_moves, uturn, one_at_a_time, None
        )
        return pilot_starts(
            rng_key, pilot, init_params, logdensity_fn, settings, step_size=self._step_size
        )

    def _init_model(self, rng_key, model_args, model_kwargs, init_params):
        if self._model is None:
            return init_params
        self._sampled_model, self._noncentered_sites = self._model, ()
        fixed_center = isinstance(self._center, dict) or is_array(self._center)
        if self._reparam == "auto" and init_params is None and not fixed_center:
            key = rng_key if is_prng_key(rng_key) else rng_key[0]
            sites = funnel_sites(self._model, model_args, model_kwargs, random.fold_in(key, 3))
            if sites:
                self._sampled_model = noncentered(self._model, sites)
                self._noncentered_sites = tuple(sites)
        param_info, potential_fn_gen, postprocess_fn, _ = initialize_model(
            rng_key,
            self._sampled_model,
            dynamic_args=True,
            init_strategy=self._init_strategy,
            model_args=model_args,
            model_kwargs=model_kwargs,
            forward_mode_differentiation=self._forward_mode_differentiation,
        )
        self._potential_fn_gen = potential_fn_gen
        self._postprocess_fn = postprocess_fn
        if init_params is None:
            return param_info.z
        check_init_params(init_params, param_info.z)
        return init_params

    def _logdensity_fn(self, model_args, model_kwargs) -> Callable:
        if self._model is not None:
            potential_fn = self._potential_fn_gen(*model_args, **model_kwargs)
        else:
            potential_fn = self._potential_fn

        def logdensity_fn(z):
            return -potential_fn(z)

        if self._forward_mode_differentiation:
            return forward_mode_logdensity(logdensity_fn)
        return logdensity_fn

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = None  # as NumPyro's HMC: an unpickled kernel re-initializes
        return state
