r"""The NumPyro kernel's checks of a run, outside its iterations: the warning when the run
cannot be the population algorithm (too few chains, chains not vectorized), the host side
of the end-of-phase check (:func:`run_problems`; :mod:`numpyro_dilation.health`), where the
checks during the run are made from (:func:`checks_between_iterations`; the checks
themselves: :mod:`numpyro_dilation.iteration_checks`), and :func:`check_run`, the same
checks after the fact.
"""

import inspect
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.mcmc import MCMC

from numpyro_dilation.diagnostics import MIN_GLOBAL_ACCEPTANCE
from numpyro_dilation.health import health_problems, warn_problems
from numpyro_dilation.modes import nearest_mode
from numpyro_dilation.population_state import ravel_chains

__all__ = ["MIN_POPULATION_CHAINS", "SMALL_STEP_RATIO", "check_run", "small_step_problem"]


MIN_POPULATION_CHAINS = 16
"""Fewest vectorized chains for which a run with the default ``global_moves="auto"`` does
not warn. Modes are found from the chains' positions after the annealing, so a mode that
draws a fraction :math:`w` of the chains is missed by all :math:`C` of them with probability
about :math:`(1-w)^C`: 41% for :math:`w = 0.2, C = 4`; 17% at :math:`C = 8`; 3% at
:math:`C = 16`. A run with fewer chains, one chain, or chains that are not vectorized
(``chain_method="sequential"`` or ``"parallel"``) warns once
(:class:`~numpyro_dilation.health.ReliabilityWarning`) unless ``global_moves=None`` says
that independent annealed chains are what is wanted.

**Example**

.. code-block:: python

    from numpyro_dilation.run_checks import MIN_POPULATION_CHAINS

    print(MIN_POPULATION_CHAINS, round(0.8 ** MIN_POPULATION_CHAINS, 3))  # 16 0.028
"""


def coordinate_sites(one_chain) -> list[str]:
    """The site (dict key, else leaf index) of each coordinate of ``ravel_pytree(one_chain)``."""
    leaves_with_path = jax.tree_util.tree_flatten_with_path(one_chain)[0]
    names = []
    for path, leaf in leaves_with_path:
        name = jax.tree_util.keystr(path) or "z"  # a bare array: the state's field name
        if path and isinstance(path[0], jax.tree_util.DictKey) and len(path) == 1:
            name = str(path[0].key)
        names += [name] * int(np.prod(jnp.shape(leaf), dtype=int))
    return names


def calling_mcmc() -> MCMC | None:
    """The NumPyro ``MCMC`` object whose run is initializing this kernel (found on the call
    stack: NumPyro's ``MCMCKernel.init`` is told neither the run's length nor its chain
    method), or ``None`` when the kernel is driven otherwise."""
    frame = inspect.currentframe()
    for _ in range(10):
        frame = frame.f_back if frame is not None else None
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if isinstance(owner, MCMC):
            return owner
    return None


def checks_between_iterations(mcmc: MCMC | None) -> bool:
    """Whether ``mcmc`` calls the kernel from Python after each iteration: NumPyro's
    progress bar over one chain, over chains run one at a time (``"sequential"``), or over
    vectorized chains (the kernel then says it is an ensemble kernel, which NumPyro asks
    before calling ``get_diagnostics_str`` with a batch of chains). There the run checks
    itself (:func:`~numpyro_dilation.iteration_checks.checks_on_host`) and its compiled
    iteration holds no host callback; elsewhere (no progress bar: NumPyro compiles the
    whole loop; ``"parallel"`` chains; a kernel driven without ``MCMC``) the checks are
    callbacks inside it."""
    if mcmc is None or not getattr(mcmc, "progress_bar", False):
        return False
    return getattr(mcmc, "num_chains", 1) == 1 or mcmc.chain_method in ("sequential", "vectorized")


def run_length(mcmc: MCMC | None) -> int | None:
    """``num_samples`` of the calling run, where each run's draws end and the run is
    checked (:mod:`numpyro_dilation.health`); ``None`` when unknown."""
    num = getattr(mcmc, "num_samples", None)
    return int(num) if isinstance(num, (int, np.integer)) and num > 0 else None


def population_warning(vectorized: bool, num_chains: int, mcmc: MCMC | None) -> str | None:
    """Why this run cannot be the population algorithm the user asked for by default, and
    what to change; ``None`` when it can. Chains that run one at a time (NumPyro's
    ``"sequential"`` and ``"parallel"`` chain methods, or a single chain) share nothing: no
    global moves, no pooled preconditioner, no check across chains. Vectorized chains
    fewer than :data:`MIN_POPULATION_CHAINS` share, but too few of them reach each mode."""
    if vectorized and num_chains >= MIN_POPULATION_CHAINS:
        return None
    how = "pass global_moves=None to run independent annealed chains knowingly."
    use = (
        f"Use MCMC(..., num_chains=C, chain_method='vectorized') with C >= "
        f"{MIN_POPULATION_CHAINS} (64 for a posterior with one mode, hundreds where the "
        "weights of several modes matter: user guide, 'How many chains'; on several "
        "devices, shard the vectorized chains: docs, Reliability, 'Several devices'), or "
    )
    if not vectorized or num_chains < 2:
        method = getattr(mcmc, "chain_method", None)
        total = getattr(mcmc, "num_chains", num_chains if vectorized else None)
        if total == 1 or (vectorized and num_chains < 2):
            what = "a single chain runs alone"
        elif isinstance(method, str):
            what = f"chain_method={method!r} (num_chains={total}) runs each chain on its own"
        else:
            what = "this chain method runs each chain on its own"
        return (
            f"DilationLangevin: {what}, so the population "
            "algorithm is off: no global moves (the chains' shares of separated modes are "
            "those of annealing alone, wrong in general), no pooled preconditioner, and no "
            "end-of-run check across chains (R-hat). Nothing will warn if the chains "
            f"disagree. {use}{how}"
        )
    miss = (1.0 - 0.2) ** num_chains
    return (
        f"DilationLangevin: num_chains={num_chains} is too few for global moves to find the "
        "modes they correct. Modes are found from the chains' own positions after the "
        "annealing, so a mode that draws a fraction w of the chains is missed by all of "
        f"them with probability (1 - w)^C: {miss:.0%} for w = 0.2 and C = {num_chains} "
        f"(3% at C = {MIN_POPULATION_CHAINS}). {use}{how}"
    )


def never_accepted_warning(num_warmup: int) -> None:
    warnings.warn(
        f"DilationLangevin: every proposal of every chain was rejected during the "
        f"{num_warmup} warm-up iterations (non-finite log-density or gradient, i.e. "
        "divergences, or acceptance probability 0): the chains have not moved and their "
        "draws are not from the posterior. Lower `step_size` or keep "
        "`adapt_step_size=True`, make the log-density and its gradient finite around the "
        "initial points (`init_params`/`init_strategy`), or raise `num_warmup`.",
        RuntimeWarning,
        stacklevel=1,  # called from a host callback: point at this module
    )


SMALL_STEP_RATIO = 30.0
"""A chain whose step size is this many times below the chains' median is named, when the
chains disagree (R-hat), as the likely cause: it sits where the others do not and moves
slowly there (measured on the radon-like model of ``benchmarks/models.py``, sampled
non-centered: the two chains that set R-hat 2.95 on ``mu_a`` had steps 0.008 and 0.006 of
the median, at ``sigma_a`` 3.7 and 5.6 at the end of the warm-up where the posterior's is
0.23 ± 0.04, with log-densities as high as the others').

**Example**

.. code-block:: python

    from numpyro_dilation.run_checks import SMALL_STEP_RATIO

    print(SMALL_STEP_RATIO)  # 30.0
"""


def small_step_problem(step_sizes) -> str | None:
    """The problem text naming the chains whose step size (shape ``(C,)``) is
    :data:`SMALL_STEP_RATIO` times or more below the median, or ``None``.

    **Example**

    .. code-block:: python

        import numpy as np
        from numpyro_dilation.run_checks import small_step_problem

        print(small_step_problem(np.array([0.2, 0.3, 0.25, 0.004]))[:33])
        # 1 of 4 chains run with step sizes
        print(small_step_problem(np.array([0.2, 0.3, 0.25])))  # None
    """
    h = np.asarray(step_sizes, dtype=float).ravel()
    ratio = h / np.median(h) if h.size and np.median(h) > 0 else np.ones_like(h)
    small = ratio < 1.0 / SMALL_STEP_RATIO
    if not np.any(small):
        return None
    return (
        f"{int(small.sum())} of {h.size} chains run with step sizes {SMALL_STEP_RATIO:g} or "
        f"more times below the chains' median (the smallest {ratio.min():.2g} of it): they "
        "sit where the others do not (a funnel's mouth or neck, a narrow ridge) and move "
        "slowly there. Raise `num_warmup`; if a site that `reparam='auto'` samples "
        "non-centered (`kernel.noncentered_sites`) is strongly informed by its data (many "
        "observations per group), sample it as written (`reparam=None`)."
    )


def run_problems(
    phase, sites, monitor, flat, means, chol, laplace_log_mass, num_modes, stopped=False,
    shares=True, step_sizes=None,
) -> list[str]:  # fmt: skip
    """Host side of the end-of-phase check: the problems
    (:func:`~numpyro_dilation.health.health_problems`) of the chains' monitors, with the
    final positions ``flat`` (shape ``(C, d)``) assigned to the mixture's modes unless not
    ``shares`` (with label swaps the chains visit relabellings that are not among the
    modes, so the share of a mode's neighbourhood is not its weight); ``stopped``: the
    mixture's global moves were stopped at the warm-up's end; where the chains
    disagree, the chains' ``step_sizes`` (shape ``(C,)``) far below the others'
    (:func:`small_step_problem`)."""
    monitor = jax.tree.map(np.asarray, monitor)
    if phase == "warm-up" and np.all(monitor.num_moved == 0):
        return []  # every chain stuck: the never-accepted warning says it
    mode_shares = weights = None  # not `shares`: that is the switch
    num_modes = int(num_modes)
    if num_modes >= 2 and shares:
        labels = nearest_mode(flat, means[:num_modes], chol[:num_modes])
        mode_shares = np.bincount(labels, minlength=num_modes) / flat.shape[0]
        log_mass = np.asarray(laplace_log_mass[:num_modes], dtype=float)
        weights = np.exp(log_mass - np.logaddexp.reduce(log_mass))
    problems = health_problems(
        monitor, sites, phase, num_modes, mode_shares, weights, MIN_GLOBAL_ACCEPTANCE,
        bool(stopped),
    )  # fmt: skip
    disagree = any(p.startswith("the chains disagree") for p in problems)
    small = None if step_sizes is None or not disagree else small_step_problem(step_sizes)
    return problems + ([small] if small else [])


def swaps_labels(settings) -> bool:
    gm = None if settings is None else settings.global_moves
    return gm is not None and gm.exchangeable is not None


def mixture_operands(mixture, dim: int) -> tuple:
    """``(means, chol, laplace_log_mass, num_modes, stopped)`` of the mixture (a placeholder
    with no mode when global moves are off)."""
    if mixture is None:
        return (
            jnp.zeros((1, dim)),
            jnp.ones((1, dim)),
            jnp.zeros((1,)),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), bool),
        )
    return (mixture.means, mixture.chol, mixture.laplace_log_mass, mixture.num_modes,
            jnp.asarray(mixture.stopped))  # fmt: skip


def check_run(mcmc: MCMC) -> list[str]:
    """Check a finished run of :class:`DilationLangevin` after the fact, on the host: the
    same checks as the end of each phase inside the run (R-hat across chains, divergences,
    chains that never moved, global-move acceptance, mode shares against Laplace weights:
    :mod:`numpyro_dilation.health`), from ``mcmc.last_state``'s running statistics of the
    last phase (the last ``run``'s draws, or the warm-up after ``mcmc.warmup``). Warns once
    (:class:`~numpyro_dilation.health.ReliabilityWarning`) if anything is wrong, and
    returns the problems (an empty list for a healthy run).

    Meant for ``DilationLangevin(..., host_callbacks=False)``, which does not check itself
    while it runs (so that, also without a progress bar, its compiled loop holds no host
    callback and JAX's persistent compilation cache can store it); it works after any run,
    of one chain or many, in any chain method (the statistics are kept per chain).

    **Example**

    .. code-block:: python

        import jax, numpyro, numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin
        from numpyro_dilation.run_checks import check_run

        def model():
            numpyro.sample("x", dist.Normal(0.0, 1.0).expand([2]))

        mcmc = MCMC(DilationLangevin(model, host_callbacks=False), num_warmup=200,
                    num_samples=200, num_chains=32, chain_method="vectorized",
                    progress_bar=False)
        mcmc.run(jax.random.key(0))
        print(check_run(mcmc))  # []: nothing to report
    """
    from numpyro_dilation.mcmc import DilationLangevin  # the kernel module imports this one

    kernel = getattr(mcmc, "sampler", None)
    if not isinstance(kernel, DilationLangevin):
        raise ValueError(
            f"`mcmc` must be a numpyro MCMC running DilationLangevin, got {type(mcmc).__name__}"
            + (f" running {type(kernel).__name__}" if kernel is not None else "")
            + "."
        )
    state = mcmc.last_state
    if state is None:
        raise ValueError("`mcmc` has not run yet: call `mcmc.run(...)` (or `warmup`) first.")
    if jnp.ndim(state.i) == 0:  # one chain: a population of one
        state = jax.tree.map(lambda x: x[None], state._replace(mixture=None))
    num_warmup = kernel.config.num_adaptation_steps
    phase = "warm-up" if int(np.max(np.asarray(state.i))) <= num_warmup else "sampling"
    if phase == "warm-up" and np.all(np.asarray(state.mean_accept_prob) == 0):
        never_accepted_warning(num_warmup)
        return [
            f"every proposal of every chain was rejected during the {num_warmup} warm-up iterations"
        ]
    flat = np.asarray(ravel_chains(state.z)[0])
    mixture = mixture_operands(state.mixture, flat.shape[1])
    problems = run_problems(
        phase, kernel._coordinate_sites, state.monitor, flat, *map(np.asarray, mixture),
        shares=not swaps_labels(kernel.settings), step_sizes=state.adapt_state.step_size,
    )  # fmt: skip
    warn_problems(problems, phase)
    return problems


def announce_pilot(mcmc: MCMC | None, pilot, num_chains: int, num_pilot: int) -> None:
    """If ``mcmc`` shows a progress bar, say on standard error that the warm-up begins with
    the pilot-box start's pilot pass (``num_pilot`` iterations) and what it is for."""
    if not getattr(mcmc, "progress_bar", False):
        return
    print(
        f"DilationLangevin: the first {num_pilot} warm-up iterations are a pilot pass, after "
        f"which the {num_chains} chains restart, half of them in the box of "
        f"{min(num_chains, pilot.num_chains)} chains' positions (start='auto' from 256 "
        "chains; start=None skips it).",
        file=sys.stderr,
        flush=True,
    )
