r"""NumPyro ``MCMCKernel`` for annealed Langevin along the dilation path.

``MCMC(DilationLangevin(model), num_warmup=W, num_samples=S, num_chains=C)``:

- warm-up is the annealing: the first :math:`K` iterations (by default
  :math:`K = \lceil W/2 \rceil`) move :math:`\lambda` from ``lambda_min`` to 1,
  starting each chain at the Dirac at its center; the remaining :math:`W - K`
  warm-up iterations run MALA at :math:`\lambda = 1`; the step size adapts
  (dual averaging) over all :math:`W` iterations and restarts at :math:`\lambda = 1`;
- the :math:`S` samples are drawn at :math:`\lambda = 1` with MALA;
- with the pilot-box start (``start="auto"`` from 256 vectorized chains) the warm-up is two
  such passes, the chains restarting in between (:mod:`numpyro_dilation.starts`).

Each chain is one annealed particle. The sampler works in NumPyro's
unconstrained space; draws come back constrained through ``postprocess_fn``.
"""

import sys
import warnings
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import random
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import identity, is_prng_key

from numpyro_dilation.annealing import DEFAULT_TARGET_ACCEPT_PROB, AnnealingConfig
from numpyro_dilation.batching import calls_lapack
from numpyro_dilation.health import ReliabilityWarning
from numpyro_dilation.inputs import (
    check_arguments,
    check_initial_points,
    resolve_center,
)
from numpyro_dilation.iteration_checks import checks_in_graph, checks_on_host, iteration_checks
from numpyro_dilation.model_density import logdensity_from_potential, same_arguments, setup_model
from numpyro_dilation.modes import GlobalMoves
from numpyro_dilation.persistence import DEFAULT_PERSISTENCE
from numpyro_dilation.population import population_step
from numpyro_dilation.population_chain import chain_alone_step
from numpyro_dilation.population_settings import (
    DEFAULT_ANNEALING_FRACTION,
    MIN_ANNEALING_STEPS,  # noqa: F401 (referenced in docstrings)
    PopulationSettings,
    num_annealing_levels,
)
from numpyro_dilation.population_state import (
    DilationAdaptState,
    DilationLangevinState,
    assemble_state,
    init_chains,
)
from numpyro_dilation.preconditioner import HUTCHINSON_PROBES  # noqa: F401 (its old home)
from numpyro_dilation.reparam import interweaving
from numpyro_dilation.run_checks import (
    MIN_POPULATION_CHAINS,  # noqa: F401 (its old home)
    announce_pilot,
    calling_mcmc,
    check_run,
    checks_between_iterations,
    coordinate_sites,
    population_warning,
    run_length,
)
from numpyro_dilation.run_plan import (
    AUTO_PILOT_MIN_CHAINS,  # noqa: F401 (its old home)
    KernelOptions,
    plan_levels,
    plan_moves,
    plan_settings,
    plan_start,
    with_site_blocks,
)
from numpyro_dilation.schedules import DEFAULT_LAMBDA_MIN
from numpyro_dilation.starts import Pilot, pilot_step
from numpyro_dilation.uturn import UTurn

_SHOWN_EVERY = 10  # iterations between updates of the progress bar's text (its cost: Python's)

__all__ = [
    "check_run",
    "DilationLangevin",
    "DilationLangevinState",
    "DilationAdaptState",
    "GlobalMoves",
]


class DilationLangevin(MCMCKernel):
    r"""Annealed Langevin dynamics along the dilation path (Chehab & Korba, 2024).

    The dilation path :math:`\pi_\lambda(x) = \lambda^{-d/2}\pi(c + (x - c)/\sqrt\lambda)`
    goes from the Dirac at a center :math:`c` (:math:`\lambda \to 0`) to the posterior
    (:math:`\lambda = 1`) with a closed-form score. Warm-up anneals (Langevin with step
    :math:`h` in target coordinates, dual-averaged) and sampling is MALA at
    :math:`\lambda = 1`. Run many vectorized chains: they are one population
    (:mod:`numpyro_dilation.population`), whose global moves correct the share of chains in
    each mode. The user guide explains each argument, with measurements.

    :param model: Python callable with NumPyro primitives.
    :param potential_fn: potential energy :math:`-\log\gamma` on unconstrained parameters
        (then ``init_params`` must be given to ``MCMC.run``).
    :param float step_size: initial :math:`h` (unconstrained coordinates); ``None`` finds
        one at the initial point by halving/doubling.
    :param bool adapt_step_size: dual averaging of :math:`h` during warm-up.
    :param float target_accept_prob: the adaptation's target (default 0.574, MALA's).
    :param schedule: ``"linear"`` (default), ``"geometric"``, ``"cosine"``, a callable
        ``(num_steps, lambda_min) -> levels`` or an increasing array of levels ending at 1.
    :param float lambda_min: first level of a named schedule, in (0, 1).
    :param int num_annealing_steps: :math:`K` (default ``ceil(annealing_fraction *
        num_warmup)``), at most ``num_warmup``.
    :param float annealing_fraction: share of the warm-up spent annealing, in (0, 1].
    :param center: the Dirac each chain's annealing starts from: ``None`` (default), each
        chain's start point; or one fixed point: a ``dict`` of *constrained* site values, the
        flat unconstrained vector, or (``potential_fn``) a pytree like one chain's position.
    :param start: where chains start. ``None``: their initial points (``init_strategy`` or
        ``init_params``). A :class:`~numpyro_dilation.starts.Pilot` or ``"pilot"``: the first
        half of the warm-up is a pilot pass, after which half the chains restart in the
        bounding box of the pilot's particles (one compiled loop). ``"auto"``
        (default): ``Pilot()`` in a vectorized run with per-chain centers and at least
        :data:`~numpyro_dilation.run_plan.AUTO_PILOT_MIN_CHAINS` (256) chains, else ``None``.
    :param init_strategy: per-site initialization, as in NumPyro.
    :param bool metropolis: MALA at :math:`\lambda = 1` (default), else unadjusted Langevin.
    :param bool anneal_metropolis: Metropolis adjustment during annealing too (default).
    :param global_moves: ``"auto"`` (default): in a vectorized run of several chains, the
        modes found during warm-up give an independence Metropolis–Hastings move each later
        iteration, so that mode weights become right; a
        :class:`~numpyro_dilation.mode_settings.GlobalMoves` sets them; ``None``: off.
    :param bool adapt_mass_matrix: diagonal preconditioner from the median of the chains'
        curvatures (:mod:`numpyro_dilation.preconditioner`).
    :param uturn: ``"auto"`` (default): the U-turn explorer where global moves run with at
        least :data:`~numpyro_dilation.run_plan.AUTO_EXPLORER_MIN_CHAINS` (128) chains;
        ``UTurn(kind="explore")``: the explorer with any number of chains;
        ``UTurn(kind="exact")``: the exact U-turn move; ``None``: none
        (:mod:`numpyro_dilation.uturn`).
    :param reparam: ``"auto"`` (default): funnel sites are sampled non-centered
        (:mod:`numpyro_dilation.reparam`, :attr:`noncentered_sites`), each transition followed
        by a move in their centered coordinates (:mod:`numpyro_dilation.interweaving`);
        ``None``: as written.
    :param bool forward_mode_differentiation: as in NumPyro's ``NUTS``.
    :param bool dense_mass: as in NumPyro's ``NUTS``: one dense preconditioner
        (:math:`O(\min(C, 16)\,d^2)` memory per update, the Hessians of
        :data:`~numpyro_dilation.preconditioner.CURVATURE_CHAINS` chains; up to a few
        hundred dimensions).
    :param steps_per_draw: MALA transitions per draw after the warm-up: ``"auto"``
        (default) enough for nearly independent draws, measured at the warm-up's end
        (:mod:`numpyro_dilation.draw_length`); an integer fixes it (1: every transition).
    :param mass_rank: rank :math:`r` of a correction to the diagonal preconditioner
        (:mod:`numpyro_dilation.low_rank`; :math:`O(dr)` memory and flops per step):
        ``"auto"`` (default) is :data:`~numpyro_dilation.population_settings.DEFAULT_MASS_RANK`
        above :data:`~numpyro_dilation.mode_settings.DENSE_MAX_DIM` latent dimensions and 0
        (diagonal) at or below; an integer sets it.
    :param float momentum_persistence: :math:`\alpha \in [0, 1)`: the draws' transitions keep
        this share of their momentum from one to the next within a draw (generalized HMC,
        exact as MALA is; :mod:`numpyro_dilation.persistence`), with a shorter step and a
        third of the measured ``"auto"`` draw length (at least two transitions where it is
        two or more) where the draws make no global or interweaving move;
        0: MALA (fresh noise every transition). Default
        :data:`~numpyro_dilation.persistence.DEFAULT_PERSISTENCE` (0.8).
    :param bool host_callbacks: the run checks itself on the host while it runs and warns
        (default): with NumPyro's progress bar from between iterations, so the compiled
        iteration holds no host callback and JAX's persistent compilation cache stores it;
        without one (NumPyro then compiles the whole loop) from host callbacks inside the
        loop, which the cache does not store (:mod:`numpyro_dilation.iteration_checks`).
        ``False``: no check during the run (no callback, with or without a progress bar);
        call :func:`check_run` after the run (same checks and warning).

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
        lambda_min: float = DEFAULT_LAMBDA_MIN,
        num_annealing_steps: int | None = None,
        annealing_fraction: float = DEFAULT_ANNEALING_FRACTION,
        center=None,
        start: Pilot | str | None = "auto",
        init_strategy: Callable = init_to_uniform,
        metropolis: bool = True,
        anneal_metropolis: bool = True,
        global_moves: GlobalMoves | None | str = "auto",
        adapt_mass_matrix: bool = True,
        uturn: UTurn | None | str = "auto",
        reparam: str | None = "auto",
        forward_mode_differentiation: bool = False,
        dense_mass: bool = False,
        steps_per_draw: int | str = "auto",
        mass_rank: int | str = "auto",
        host_callbacks: bool = True,
        momentum_persistence: float = DEFAULT_PERSISTENCE,
    ):
        options = KernelOptions(  # the algorithm's arguments, in the signature's order
            step_size, adapt_step_size, target_accept_prob, schedule, lambda_min,
            num_annealing_steps, annealing_fraction, center, start, metropolis,
            anneal_metropolis, global_moves, adapt_mass_matrix, uturn, dense_mass,
            steps_per_draw, mass_rank, momentum_persistence,
        )  # fmt: skip
        self._options = check_arguments(
            options, model=model, potential_fn=potential_fn, init_strategy=init_strategy,
            reparam=reparam,
        )  # fmt: skip
        self._model = model
        self._potential_fn = potential_fn
        self._potential_fn_gen = None
        self._init_strategy = init_strategy
        self._reparam = reparam
        self._forward_mode_differentiation = forward_mode_differentiation
        self._host_callbacks = bool(host_callbacks)
        self._quiet_inits = 0  # chains of a sequential run not to warn again about
        self._sampled_model = model  # the model as sampled (non-centered sites: init())
        self._noncentered_sites, self._transforms = (), {}  # sites' bijections (init)
        self._postprocess_fn, self._logdensity = None, None  # (init; the last -U, its arguments)
        self._settings = None  # the population algorithm's PopulationSettings (init)
        self._vectorized = False  # all chains at once (init)
        # one iteration: population_step or chain_alone_step (set in init; NumPyro's MCMC
        # re-initializes a kernel whose _sample_fn is None, as for HMC)
        self._sample_fn = None
        self._coordinate_sites = []  # site of each flat coordinate (init)
        self._show_progress = False  # the calling MCMC shows a progress bar (init)
        self._checks = []  # the run's iteration_checks (init)
        self._checks_on_host = False  # made between iterations, not inside them (init)
        self._shown = ""  # the progress bar's text (get_diagnostics_str)

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
        (:class:`~numpyro_dilation.population_settings.PopulationSettings`; set by ``init``)."""
        return self._settings

    @property
    def is_ensemble_kernel(self) -> bool:
        """Whether NumPyro's progress bar should call :meth:`get_diagnostics_str` with the
        state of all the chains of a vectorized run (which NumPyro does for ensemble
        kernels): true where the run checks itself there (NumPyro's progress bar over
        vectorized chains, :func:`~numpyro_dilation.run_checks.checks_between_iterations`).
        ``MCMC.run`` also asks, after ``mcmc.warmup``, to give an ensemble one key in the
        place of one per chain; it is told false, so the state and the compiled iteration
        stay as they are."""
        if not (self._checks_on_host and self._vectorized):
            return False
        return sys._getframe(1).f_code.co_name != "run"

    def get_diagnostics_str(self, state) -> str:
        r"""The progress bar's text after an iteration, made again every ten (the largest
        :math:`\lambda`, the chains' median step size and mean acceptance), after the
        run's checks due at that iteration where they are made from here
        (:func:`~numpyro_dilation.iteration_checks.checks_on_host`)."""
        count = checks_on_host(self._checks if self._checks_on_host else [], state)
        if count % _SHOWN_EVERY == 0 or not self._shown:  # the rest of the time: as shown
            lam, step = np.asarray(state.lam), np.asarray(state.adapt_state.step_size)
            accept = np.asarray(state.mean_accept_prob)
            self._shown = (f"lam {float(np.max(lam)):.3g}, step size "
                           f"{float(np.median(step)):.2e}, acc. prob={float(np.mean(accept)):.2f}")
        return self._shown

    def postprocess_fn(self, args, kwargs):
        return identity if self._postprocess_fn is None else self._postprocess_fn(*args, **kwargs)

    def num_annealing_steps(self, num_warmup: int) -> int:
        """:math:`K` for a run of ``num_warmup`` warm-up iterations; 0 when it is too short to
        anneal (:func:`~numpyro_dilation.population_settings.num_annealing_levels`)."""
        o = self._options
        return num_annealing_levels(num_warmup, o.schedule, o.num_annealing_steps,
                                    o.annealing_fraction)  # fmt: skip

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):
        if not (isinstance(num_warmup, (int, np.integer)) and num_warmup >= 0):
            raise ValueError(f"`num_warmup` must be an integer >= 0, got {num_warmup!r}.")
        o = self._options
        levels = plan_levels(o, num_warmup, o.schedule, o.num_annealing_steps)
        anneals = len(levels) > 1  # at least MIN_ANNEALING_STEPS levels, else one
        vectorized = not is_prng_key(rng_key)
        num_chains = rng_key.shape[0] if vectorized else 1
        mcmc = calling_mcmc()
        if o.global_moves == "auto" and anneals:
            self._warn_population(population_warning(vectorized, num_chains, mcmc), mcmc)
        moves = plan_moves(o, anneals, vectorized, num_chains)
        pilot, run_warmup = plan_start(o, num_warmup, anneals, vectorized, num_chains)
        if pilot is not None:  # the run pass's schedule, which the pilot pass follows too
            levels = plan_levels(o, run_warmup, o.schedule, o.num_annealing_steps)
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
        self._logdensity = ((model_args, model_kwargs, self._noncentered_sites), logdensity_fn)
        one_chain = jax.tree.map(lambda x: x[0], init_params) if vectorized else init_params
        dim, moves = with_site_blocks(moves, one_chain, self._transforms)
        one_at_a_time = (
            vectorized and jax.default_backend() == "cpu" and calls_lapack(logdensity_fn, one_chain)
        )
        center = resolve_center(o.center, self._model, self._postprocess_fn, init_params,
                                vectorized, model_args, model_kwargs)  # fmt: skip
        self._settings = plan_settings(
            o, run_warmup, dim, levels, moves, one_at_a_time, run_length(mcmc)
        )._replace(interweaving=self._interweaving(model_args, model_kwargs))
        astate, init_grads = init_chains(
            init_params,
            logdensity_fn,
            key_step,
            self._settings,
            center=center,
            step_size=o.step_size,
            batched=vectorized,
        )
        check_initial_points(astate.dilation, center)
        self._vectorized = vectorized
        self._sample_fn = population_step if vectorized else chain_alone_step
        pilot_end = None  # the pilot pass, then the restart, in the run's own loop
        if pilot is not None:
            announce_pilot(mcmc, pilot, num_chains, num_warmup - run_warmup)
            self._sample_fn = partial(pilot_step, pilot=pilot, step_size=o.step_size)
            pilot_end = jnp.full(num_chains, num_warmup - run_warmup, jnp.int32)
        self._show_progress = bool(getattr(mcmc, "progress_bar", False))
        self._checks_on_host = self._host_callbacks and checks_between_iterations(mcmc)
        self._shown = ""
        self._coordinate_sites = coordinate_sites(one_chain)
        self._checks = [] if not self._host_callbacks else iteration_checks(
            self._settings, self._coordinate_sites, num_chains if vectorized else 1,
            self._show_progress, pilot is not None)  # fmt: skip
        state = assemble_state(astate, init_grads, rng_key, self._settings, vectorized)
        return state._replace(pilot_end=pilot_end)

    def _warn_population(self, message: str | None, mcmc) -> None:
        """Warn once per run (a sequential run initializes each chain) if ``message``."""
        if self._quiet_inits > 0:  # the same sequential run's next chain
            self._quiet_inits -= 1
        elif message is not None:
            warnings.warn(message, ReliabilityWarning, stacklevel=3)
            if getattr(mcmc, "chain_method", None) == "sequential":
                self._quiet_inits = int(getattr(mcmc, "num_chains", 1)) - 1

    def sample(self, state, model_args, model_kwargs):
        """One iteration (all chains at once when vectorized), checked from the host
        (:mod:`numpyro_dilation.run_checks`; with a progress bar, the mode finding announced)."""
        logdensity_fn, settings = self._logdensity_fn(model_args, model_kwargs), self._settings
        if settings.interweaving is not None and logdensity_fn is not self._logdensity[1]:
            settings = settings._replace(interweaving=self._interweaving(model_args, model_kwargs))
        new = self._sample_fn(state, logdensity_fn, settings)
        if not self._checks or self._checks_on_host:  # none, or made between iterations
            return new
        # pure callbacks (iteration_checks.on_host): kept only where their zero is used
        return new._replace(i=new.i + checks_in_graph(self._checks, new))

    def _init_model(self, rng_key, model_args, model_kwargs, init_params):
        if self._model is None:
            return init_params
        setup = setup_model(
            self._model,
            rng_key,
            model_args,
            model_kwargs,
            init_params,
            init_strategy=self._init_strategy,
            reparam=self._reparam,
            fixed_center=self._options.center is not None,
            forward_mode_differentiation=self._forward_mode_differentiation,
        )
        self._potential_fn_gen, self._postprocess_fn = setup.potential_fn_gen, setup.postprocess_fn
        self._sampled_model, self._noncentered_sites, self._transforms = setup[3:]  # +bijections
        return setup.init_params

    def _logdensity_fn(self, model_args, model_kwargs) -> Callable:
        arguments = (model_args, model_kwargs, self._noncentered_sites)
        if self._logdensity is not None and same_arguments(self._logdensity[0], arguments):
            return self._logdensity[1]  # the same -U: a second run's init is not compiled again
        if self._model is None:
            potential_fn = self._potential_fn
        else:
            potential_fn = self._potential_fn_gen(*model_args, **model_kwargs)
        return logdensity_from_potential(potential_fn, self._forward_mode_differentiation)

    def _interweaving(self, model_args, model_kwargs):
        if self._model is None or not self._noncentered_sites:
            return None
        return interweaving(self._model, self._noncentered_sites, model_args, model_kwargs,
                            self._transforms)  # fmt: skip

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sample_fn"] = state["_logdensity"] = None  # as HMC: unpickled, it re-initializes
        state["_checks"] = []  # closures (made again by init)
        return state
