r"""The checks a NumPyro run of :class:`~numpyro_dilation.mcmc.DilationLangevin` makes of
itself while it runs, each after the iteration whose count (``state.i``, warm-up
included) it names: the never-accepted warning at the end of warm-up, the end-of-phase
check (:mod:`numpyro_dilation.health`), and, with NumPyro's progress bar, the lines that
announce the mode finding and a run with one mode.

Each check is an :class:`IterationCheck`: *when* (a function of the count alone),
*report* (host code: decides and warns or prints) and *operands* (what report needs of
the state). One list of checks is made in two ways:

- :func:`checks_on_host`, from Python between iterations, where NumPyro calls the
  kernel's ``get_diagnostics_str`` after each one (a progress bar over vectorized,
  sequential or single chains): the compiled iteration holds no host callback, so JAX's
  persistent compilation cache can store it and nothing is added to it;
- :func:`checks_in_graph`, from inside the compiled iteration (``progress_bar=False``:
  NumPyro compiles the whole loop and calls nothing between iterations): each check a
  pure callback in a branch taken only when it is due (:func:`on_host`).
"""

import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from numpyro_dilation.draws import one_mode_moves_skipped
from numpyro_dilation.health import warn_problems
from numpyro_dilation.mode_settings import wide_start_count
from numpyro_dilation.population_modes import explorer_runs, wide_starts_run
from numpyro_dilation.population_settings import PopulationSettings, phase_end
from numpyro_dilation.population_state import ravel_chains
from numpyro_dilation.run_checks import (
    mixture_operands,
    never_accepted_warning,
    run_problems,
    swaps_labels,
)

__all__ = ["IterationCheck", "checks_in_graph", "checks_on_host", "iteration_checks"]


class IterationCheck(NamedTuple):
    """One check of a run: after an iteration whose count ``i`` (that of the state it
    returns) makes ``when(i)`` true, ``report(*operands(state))`` runs on the host.
    ``when`` takes a Python integer or a traced one; ``operands`` returns arrays.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from types import SimpleNamespace
        from numpyro_dilation.iteration_checks import IterationCheck, checks_on_host

        say = IterationCheck(lambda i: i == 3, lambda x: print(float(x)),
                             lambda state: (state.x,))
        checks_on_host([say], SimpleNamespace(i=jnp.full(4, 3), x=jnp.ones(())))  # 1.0
    """

    when: Callable
    report: Callable
    operands: Callable


def on_host(pred, fn, operands: Callable, *args) -> jax.Array:
    """Call ``fn(*operands(*args))`` on the host, from inside the compiled iteration, where
    ``pred`` (a boolean scalar) holds; returns an int32 zero that the caller must fold into
    its output. A pure callback inside a branch, not ``jax.debug.callback``: a program with
    the latter's effect leaves JAX's fast dispatch path, which cost every iteration called
    from Python (NumPyro's progress bar) about 0.3-1 ms; a pure callback whose result is
    unused is dropped by JAX, hence the zero. The operands are computed inside the branch,
    so only when a check is due; ``fn`` runs only where ``pred`` holds, also if XLA
    evaluates the branch regardless (checked again on the host)."""

    def host(holds, *values):
        # NumPy from here: JAX's callbacks pass jax.Array values, whose every eager
        # operation (a slice, a reduction) would compile a program of its own
        holds, values = jax.tree.map(np.asarray, (holds, values))
        if bool(np.all(holds)):
            fn(*values)
        return np.zeros((), np.int32)

    def call(args):
        shape = jax.ShapeDtypeStruct((), jnp.int32)
        return jax.pure_callback(host, shape, pred, *operands(*args), vmap_method="sequential")

    return lax.cond(pred, call, lambda args: jnp.zeros((), jnp.int32), args)


def _count(state):
    """The iteration count of ``state`` (the first chain's: all chains share it)."""
    return jnp.ravel(state.i)[0]


def checks_in_graph(checks, state) -> jax.Array:
    """Make ``checks`` from inside a traced iteration that returns ``state`` (a pytree):
    each a pure callback in a branch (:func:`on_host`). Returns an int32 zero that the caller must
    fold into its output (``state._replace(i=state.i + zero)``), or the callbacks are
    dropped.

    **Example**

    .. code-block:: python

        import jax, jax.numpy as jnp
        from collections import namedtuple
        from numpyro_dilation.iteration_checks import IterationCheck, checks_in_graph

        State = namedtuple("State", ["i"])  # a pytree, as the kernel's state
        say = IterationCheck(lambda i: i == 3, lambda: print("three"), lambda state: ())
        step = jax.jit(lambda i: i + checks_in_graph([say], State(i)))
        jax.block_until_ready(step(jnp.int32(3)))  # three
    """
    zero, count = jnp.zeros((), jnp.int32), _count(state)
    for check in checks:
        zero = zero + on_host(jnp.asarray(check.when(count)), check.report, check.operands, state)
    return zero


def checks_on_host(checks, state) -> int:
    """Make ``checks`` from Python after an iteration that returned ``state`` (concrete
    arrays); returns its count. The count is read first (which waits for the iteration,
    so NumPyro's loop no longer dispatches ahead: measured free on a cheap posterior and
    about 3% on radon on a 2-core CPU, BENCHMARKS.md, "The run's checks between
    iterations"), the operands of a check only where it is due.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from types import SimpleNamespace
        from numpyro_dilation.iteration_checks import IterationCheck, checks_on_host

        say = IterationCheck(lambda i: i == 3, lambda: print("three"), lambda state: ())
        checks_on_host([say], SimpleNamespace(i=jnp.full(8, 3)))  # three
    """
    i = int(np.asarray(state.i).ravel()[0])
    for check in checks:
        if bool(check.when(i)):
            check.report(*jax.tree.map(np.asarray, tuple(check.operands(state))))
    return i


def never_accepted_check(num_warmup: int) -> IterationCheck:
    """At the end of warm-up, the warning if every proposal of every chain was rejected
    (the mean acceptance probability of every chain exactly 0). A warning, not an error:
    like NumPyro's divergence count it reports without discarding the run."""

    def report(mean_accept_prob):
        if np.all(np.asarray(mean_accept_prob) == 0):
            never_accepted_warning(num_warmup)

    return IterationCheck(lambda i: i == num_warmup, report,
                          lambda state: (state.mean_accept_prob,))  # fmt: skip


def phase_end_check(settings: PopulationSettings, sites: list[str]) -> IterationCheck:
    """At the end of a phase (warm-up, or one ``run``'s draws), the chains' monitors and,
    with modes, their final positions and the mixture, checked on the host
    (:func:`~numpyro_dilation.run_checks.run_problems`), which warns if anything is wrong."""

    def when(i):
        end_warmup, end_run = phase_end(i, settings)
        return end_warmup | end_run

    def report(i, step_sizes, *arrays):
        phase = "sampling" if bool(phase_end(int(i), settings)[1]) else "warm-up"
        shares = not swaps_labels(settings)
        problems = run_problems(phase, sites, *arrays, shares=shares, step_sizes=step_sizes)
        warn_problems(problems, phase)

    def operands(state):
        mix = mixture_operands(state.mixture, len(sites))
        flat = ravel_chains(state.z)[0]
        return (_count(state), state.adapt_state.step_size, state.monitor, flat) + mix

    return IterationCheck(when, report, operands)


def _say(line: str) -> None:
    print(f"DilationLangevin: {line}", file=sys.stderr, flush=True)


def mode_finding_checks(settings: PopulationSettings, num_chains: int,
                        pilot: bool) -> tuple[IterationCheck, IterationCheck]:  # fmt: skip
    """Progress through a vectorized run's longest iteration, during which NumPyro's
    progress bar stands still: once the iteration before it has ended, a line on standard
    error says that the next one finds the modes (with the pilot-box start, ``pilot``, in
    which pass); when it has ended, a line gives the number of modes found, the gradients
    it cost per chain and its time (measured between the two reports: exact from the
    host, an upper bound from inside the compiled loop)."""
    it, num_warmup = settings.mode_iteration, settings.config.num_adaptation_steps
    gm = settings.global_moves
    explorer = settings.uturn is not None and settings.uturn.kind == "explore"
    clock = [time.perf_counter()]

    def before(in_pilot, explores, wide):
        clock[0] = time.perf_counter()
        what = "U-turn explorer, then " if explorer and explores else ""
        skip = ""
        if wide:
            skip = ", also from wide starts" if in_pilot or not pilot else (
                ", again from wide starts: the pilot pass found fewer than two modes")
        if explorer and not explores:
            skip += "; no U-turn explorer: the pilot's chains ended in one mode"
        where = f"warm-up iteration {it + 1}/{num_warmup}"
        if pilot:
            where = f"the next iteration ({'pilot' if in_pilot else 'run'} pass)"
        _say(f"{where} finds the modes of the {num_chains} chains ({what}gradient ascent and "
             f"Newton steps{skip}); the progress bar waits for it.")

    def before_operands(state):  # the state the mode finding starts from
        in_pilot = (jnp.zeros((), bool) if state.pilot_end is None
                    else jnp.ravel(state.pilot_end)[0] >= 0)  # fmt: skip
        explores = explorer and explorer_runs(state.mixture.num_modes, gm)
        wide = (wide_start_count(gm, num_chains) > 0) & wide_starts_run(state.mixture.num_found)
        return in_pilot, jnp.asarray(explores), wide

    def after(num_modes, grads):
        _say(f"{int(num_modes)} mode(s) found in {time.perf_counter() - clock[0]:.1f} s "
             f"({float(grads) / num_chains:,.0f} gradients per chain).")

    return (
        IterationCheck(lambda i: i == it, before, before_operands),
        IterationCheck(lambda i: i == it + 1, after,
                       lambda state: (state.mixture.num_modes, jnp.sum(state.num_grad_evals))),
    )  # fmt: skip


def one_mode_check(settings: PopulationSettings) -> IterationCheck:
    """After the first draw: where the warm-up found one mode and the draws will make no
    global move (one mode above ``DENSE_MAX_DIM`` dimensions,
    :func:`~numpyro_dilation.draws.one_mode_moves_skipped`, or the moves stopped
    because the warm-up accepted none), a line on standard error says that
    ``global_moves=None`` gives the same draws without compiling the mode finding, the
    explorer and the moves."""

    def say(num_modes, stopped, skipped):
        if int(num_modes) != 1 or not (bool(stopped) or bool(skipped)):
            return
        why = ("the global moves were stopped (the warm-up accepted none)" if stopped else
               "a global move from one mode in this many dimensions changes nothing, so none "
               "is made")
        _say(f"the warm-up found one mode and {why}: the draws will be those of "
             "`global_moves=None`, which compiles neither the moves nor the mode finding "
             "(about 40% of a run's compile time measured: user guide, 'How many chains'). "
             "Where you expect one mode, pass it.")

    def operands(state):
        mixture = state.mixture
        skipped = one_mode_moves_skipped(mixture, settings)  # static
        return mixture.num_modes, jnp.asarray(mixture.stopped), jnp.asarray(skipped)

    first_draw = settings.config.num_adaptation_steps + 1
    return IterationCheck(lambda i: i == first_draw, say, operands)


def iteration_checks(settings: PopulationSettings, sites: list[str], num_chains: int,
                     progress: bool, pilot: bool = False) -> list[IterationCheck]:  # fmt: skip
    """The checks of a run of ``num_chains`` chains (1: one chain alone, or chains run one
    at a time) whose flat coordinates belong to ``sites``: the never-accepted warning
    always; with two or more vectorized chains, the end-of-phase check; with them and
    a progress bar (``progress``) and global moves, the announcements
    (``pilot``: the pilot-box start's two passes).

    **Example**

    .. code-block:: python

        from numpyro_dilation.iteration_checks import iteration_checks
        from numpyro_dilation.population_settings import make_settings

        checks = iteration_checks(make_settings(100, 2), ["x", "x"], 64, progress=False)
        print(len(checks))  # 2
    """
    checks = [never_accepted_check(settings.config.num_adaptation_steps)]
    if num_chains >= 2 and sites:
        checks.append(phase_end_check(settings, sites))
        if progress and settings.global_moves is not None:
            checks += [*mode_finding_checks(settings, num_chains, pilot), one_mode_check(settings)]
    return checks
