"""The end-of-phase checks (numpyro_dilation.health): each trigger fires on a run that has
the problem and names it, and a healthy run raises none."""

import warnings
from collections import namedtuple
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC

from numpyro_dilation import DilationLangevin
from numpyro_dilation.health import (
    MAX_RHAT,
    ReliabilityWarning,
    RunMonitor,
    health_problems,
    init_monitor,
    rhat,
    update_monitor,
)
from numpyro_dilation.run_checks import (
    MIN_POPULATION_CHAINS,
    SMALL_STEP_RATIO,
    check_run,
    mixture_operands,
    population_warning,
    run_problems,
)


def _monitors(draws, diverging=None, moved=None, global_accept=None, half=None):
    """Batched monitors of draws ``(C, n, d)`` (flags ``(C, n)``), as the kernel keeps them
    (``half``: the iteration at which the first half's sums are frozen, for the split R-hat)."""
    num_chains, num, dim = draws.shape
    diverging = np.zeros((num_chains, num), bool) if diverging is None else diverging
    moved = np.ones((num_chains, num), bool) if moved is None else moved
    has_global = global_accept is not None
    accept = np.zeros((num_chains, num)) if global_accept is None else global_accept

    def one(chain_draws, chain_moved, chain_diverging, chain_accept):
        def step(m, xs):
            y, mv, dv, g = xs
            return update_monitor(m, y, mv, dv, g, has_global, half=half), None

        m0 = init_monitor(dim, chain_draws.dtype)
        return jax.lax.scan(step, m0, (chain_draws, chain_moved, chain_diverging, chain_accept))[0]

    return jax.jit(jax.vmap(one))(draws, moved, diverging, accept)


def _rhat_reference(draws):
    """Gelman-Rubin's basic R-hat of draws (C, n) from its textbook formula."""
    num = draws.shape[1]
    within = draws.var(axis=1, ddof=1).mean()
    between = num * draws.mean(axis=1).var(ddof=1)
    return np.sqrt(((num - 1) / num * within + between / num) / within)


def test_running_rhat_matches_the_formula(x64):
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(5, 40, 2))
    draws[0, :, 1] += 2.0  # one chain elsewhere in coordinate 1
    r = np.asarray(rhat(_monitors(draws)))
    np.testing.assert_allclose(r, [_rhat_reference(draws[..., i]) for i in range(2)], rtol=1e-10)
    assert r[0] < 1.1 < r[1]


def test_split_rhat_catches_chains_that_drift_together(x64):
    """64 chains of 100 draws whose mean moves by 1.2 sd over the run, the same in every chain
    (a warm-up too short): the whole chains agree with each other (R-hat 1.00), their halves do
    not. The split R-hat matches its textbook formula on the 128 half-chains and names the
    site; stationary chains pass it."""
    rng = np.random.default_rng(2)
    iid = rng.normal(size=(64, 100, 1))
    drift = iid + np.linspace(-0.6, 0.6, 100)[None, :, None]
    halves = drift.reshape(64, 2, 50).reshape(128, 50)
    split = np.asarray(rhat(_monitors(drift, half=50)))
    np.testing.assert_allclose(split, [_rhat_reference(halves)], rtol=1e-10)
    assert np.asarray(rhat(_monitors(drift)))[0] < MAX_RHAT < split[0]
    assert health_problems(_monitors(drift), ["mu"]) == []  # whole chains: blind to it
    (problem,) = health_problems(_monitors(drift, half=50), ["mu"])
    assert "R-hat" in problem and "'mu'" in problem
    assert health_problems(_monitors(iid, half=50), ["mu"]) == []
    # a half with fewer than 2 draws: the whole chains are compared
    np.testing.assert_allclose(rhat(_monitors(drift, half=1)), rhat(_monitors(drift)))


def test_each_trigger_and_a_healthy_phase(x64):
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(8, 400, 3))
    sites = ["a", "b", "b"]
    assert health_problems(_monitors(draws), sites) == []  # iid chains: R-hat ~ 1.002

    shifted = draws.copy()
    shifted[:4, :, 2] += 1.0  # half the chains disagree on 'b' only
    (problem,) = health_problems(_monitors(shifted), sites)
    assert "R-hat" in problem and "'b'" in problem and "'a'" not in problem

    diverging = np.zeros((8, 400), bool)
    diverging[3, :7] = True
    (problem,) = health_problems(_monitors(draws, diverging=diverging), sites)
    assert problem.startswith("7 of 3200 iterations diverged") and "reparameterize" in problem

    moved = np.ones((8, 400), bool)
    moved[5] = False  # one chain never moved (its draws are constant)
    still = draws.copy()
    still[5] = 0.0
    problems = health_problems(_monitors(still, moved=moved), sites)
    assert any(p.startswith("1 of 8 chains never moved") for p in problems)

    accept = np.full((8, 400), 0.01)
    (problem,) = health_problems(_monitors(draws, global_accept=accept), sites, num_modes=2)
    assert "global moves between the 2 modes" in problem and "0.010" in problem
    assert health_problems(_monitors(draws, global_accept=accept), sites, num_modes=1) == []

    ok = health_problems(_monitors(draws), sites, "sampling", 2, [0.3, 0.7], [0.25, 0.75])
    assert ok == []
    (problem,) = health_problems(_monitors(draws), sites, "sampling", 2, [0.3, 0.7], [1e-9, 1.0])
    assert problem.startswith("mode 0 holds 30.0% of the chains")


def test_chains_with_far_smaller_steps_are_named_when_the_chains_disagree(x64):
    """Measured on the radon-like model sampled non-centered: the chains that set R-hat had
    steps 130 times below the median. The end-of-phase check names such chains when the
    chains disagree, and only then (a narrow mode's chains legitimately take small steps)."""
    rng = np.random.default_rng(3)
    draws = rng.normal(size=(8, 400, 2))
    far = draws.copy()
    far[7] += 5.0  # one chain elsewhere
    flat = far[:, -1]
    mixture = [np.asarray(x) for x in mixture_operands(None, 2)]
    steps = np.full(8, 0.25)
    steps[7] = 0.25 / (2 * SMALL_STEP_RATIO)
    problems = run_problems("sampling", ["x", "x"], _monitors(far), flat, *mixture,
                            step_sizes=steps)  # fmt: skip
    assert len(problems) == 2 and problems[0].startswith("the chains disagree")
    assert problems[1].startswith(f"1 of 8 chains run with step sizes {SMALL_STEP_RATIO:g}")
    assert "`reparam=None`" in problems[1] and "0.017 of it" in problems[1]
    even = np.full(8, 0.25)
    assert len(run_problems("sampling", ["x", "x"], _monitors(far), flat, *mixture,
                            step_sizes=even)) == 1  # fmt: skip
    assert run_problems("sampling", ["x", "x"], _monitors(draws), draws[:, -1], *mixture,
                        step_sizes=steps) == []  # agreeing chains: nothing to explain


def test_stopped_global_moves_are_reported_with_modes_to_move_between(x64):
    """Global moves stopped at the warm-up's end (none accepted there): the sampling check
    says so where the chains sit in two or more modes and disagree (R-hat), or all miss a
    mode with Laplace weight above 1e-3 that they miss with chance below 0.01; not with one
    mode, moves kept, the other modes without mass (radon: Laplace weights 1e-19 to 1e-31),
    or chains in two modes that agree (their local moves crossed between them: NumPyro's
    baseball logit model, a false alarm before 2026-12-07)."""
    rng = np.random.default_rng(4)
    draws = rng.normal(size=(8, 100, 1))
    apart = draws + 6.0 * (np.arange(8) % 2)[:, None, None]  # half the chains a mode away
    split, weights = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.5, 1e-9])
    stopped = health_problems(_monitors(apart), ["x"], num_modes=3, mode_shares=split,
                              laplace_weights=weights, moves_stopped=True)  # fmt: skip
    assert len(stopped) == 2 and stopped[0].startswith("the chains disagree")
    assert "3 modes found were stopped" in stopped[1]
    assert "more than one of them" in stopped[1] and "mode_summary" in stopped[1]
    # every chain crosses between the modes (a draw's mode at random): no alarm
    crossing = draws + 6.0 * (rng.random(size=(8, 100, 1)) < 0.5)
    assert health_problems(_monitors(crossing), ["x"], num_modes=3, mode_shares=split,
                           laplace_weights=weights, moves_stopped=True) == []  # fmt: skip
    assert health_problems(_monitors(draws), ["x"], num_modes=1, moves_stopped=True) == []
    assert health_problems(_monitors(draws), ["x"], num_modes=3, mode_shares=split,
                           laplace_weights=weights) == []  # fmt: skip
    # all chains in one mode: nothing to say unless another mode has Laplace mass they miss
    one = np.array([1.0, 0.0, 0.0])
    assert health_problems(_monitors(draws), ["x"], num_modes=3, mode_shares=one,
                           laplace_weights=np.array([1.0, 1e-9, 1e-9]),
                           moves_stopped=True) == []  # fmt: skip
    missed = health_problems(_monitors(draws), ["x"], num_modes=3, mode_shares=one,
                             laplace_weights=np.array([0.5, 0.5, 1e-9]), moves_stopped=True)
    assert len(missed) == 1 and "stopped" in missed[0]  # half the mass missed by 8 chains
    # a missed mode of weight w: reported where 8 chains all miss it with chance (1-w)^8 <
    # 0.01 (w > 0.44), not where that is likely (w = 0.1: chance 0.43; baseball's logit
    # model, 64 chains, 0.023 and 0.009: chance 0.22 and 0.57, a false alarm before)
    for w, reported in ((0.1, False), (0.4, False), (0.45, True)):
        weights = np.array([1.0 - w, w, 1e-9])
        problems = health_problems(_monitors(draws), ["x"], num_modes=3, mode_shares=one,
                                   laplace_weights=weights, moves_stopped=True)  # fmt: skip
        assert (len(problems) == 1) == reported, (w, problems)


def test_run_problems_compares_the_chains_mode_shares_with_the_laplace_weights(x64):
    """All 256 chains' final positions at the first of two modes of equal Laplace weight:
    the end-of-run check reports the second mode's share (it computed none before
    2026-12-05, the share's name shadowed by its switch); with label swaps (``shares=False``)
    it is not computed."""
    rng = np.random.default_rng(5)
    draws = rng.normal(size=(256, 20, 2))
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    chol, log_mass = np.ones((2, 2)), np.zeros(2)
    args = ("sampling", ["x", "x"], _monitors(draws), draws[:, -1], means, chol, log_mass, 2)
    problems = run_problems(*args)
    assert len(problems) == 1 and "Laplace weight" in problems[0], problems
    assert run_problems(*args, shares=False) == []


def test_warm_up_phase_only_reports_stuck_chains(x64):
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(4, 50, 1))
    draws[0] += 5.0
    assert health_problems(_monitors(draws), ["x"], phase="warm-up") == []


def _run(kernel, num_warmup, num_samples, num_chains, **run_kwargs):
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mcmc.run(jax.random.key(0), **run_kwargs)
        jax.block_until_ready(mcmc.last_state)
    return mcmc, [w for w in caught if issubclass(w.category, ReliabilityWarning)]


def test_a_healthy_run_warns_nothing_and_a_split_one_names_its_site():
    """One normal site: no warning. Two separated modes with the global moves off: the
    chains stay where the annealing left them, so they disagree and the run says so; with
    the global moves on (default) they agree again."""

    def normal():
        numpyro.sample("x", dist.Normal(1.0, 2.0))

    mcmc, caught = _run(DilationLangevin(normal), 100, 400, 64)
    assert caught == [], [str(w.message) for w in caught]
    assert float(mcmc.last_state.monitor.count[0]) == 400

    def two_modes():
        locs = jnp.array([-4.0, 4.0])
        numpyro.sample(
            "theta",
            dist.MixtureSameFamily(dist.Categorical(jnp.ones(2) / 2), dist.Normal(locs, 0.5)),
        )

    _, caught = _run(DilationLangevin(two_modes, global_moves=None, steps_per_draw=1), 100, 200, 64)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "R-hat" in message and "'theta'" in message
    r = float(message.split("'theta' (")[1].split(")")[0])
    assert r > 2 * MAX_RHAT


def test_divergences_in_sampling_are_reported():
    """A potential that is infinite below 0 and a fixed large step: many proposals cross
    into the region and diverge; the run reports how many."""

    def potential(z):
        x = z["x"]
        return jnp.where(x > 0, 0.5 * (x - 3.0) ** 2, jnp.inf).sum()

    kernel = DilationLangevin(
        potential_fn=potential, step_size=4.0, adapt_step_size=False, adapt_mass_matrix=False
    )
    init = {"x": jnp.full((16, 1), 3.0)}
    mcmc, caught = _run(kernel, 20, 100, 16, init_params=init)
    diverged = int(np.sum(np.asarray(mcmc.last_state.monitor.num_divergent)))
    assert diverged > 0
    assert len(caught) == 1
    assert f"{diverged} of 1600 iterations diverged" in str(caught[0].message)


@pytest.mark.slow  # two compilations per case; the reset logic is also covered by a healthy run
@pytest.mark.parametrize("continuation", ["warmup_then_run", "post_warmup_state"])
def test_each_run_is_checked_once_at_its_end(continuation):
    """``warmup()`` then ``run()``, and a second ``run`` from ``post_warmup_state``: the
    monitor restarts with each run's draws and the check fires at each run's end."""

    def normal():
        numpyro.sample("x", dist.Normal(0.0, 1.0))

    mcmc = MCMC(
        DilationLangevin(normal),
        num_warmup=60,
        num_samples=50,
        num_chains=8,
        chain_method="vectorized",
        progress_bar=False,
    )
    if continuation == "warmup_then_run":
        mcmc.warmup(jax.random.key(0))
        assert int(mcmc.post_warmup_state.i[0]) == 60
        mcmc.run(jax.random.key(1))
    else:
        mcmc.run(jax.random.key(0))
        mcmc.post_warmup_state = mcmc.last_state
        mcmc.run(jax.random.key(1))
    jax.block_until_ready(mcmc.last_state)
    assert np.all(np.asarray(mcmc.last_state.monitor.count) == 50)


def test_the_end_of_run_check_runs_no_xla_computation():
    """The end-of-run check runs inside a host callback of the running sampler, where an
    XLA computation can deadlock on CPU (the radon model, d = 89, hung at the end of
    warm-up in a batched triangular solve of ``nearest_mode``). With NumPy inputs,
    ``nearest_mode`` and ``rhat`` must not touch JAX (a transfer to the device raises under
    the guard) and must give the exact labels and R-hat."""
    from numpyro_dilation.modes import nearest_mode

    rng = np.random.default_rng(0)
    num_modes, dim = 3, 40
    means = rng.normal(size=(num_modes, dim)) * 3
    a = rng.normal(size=(num_modes, dim, dim)) / np.sqrt(dim)
    cov = a @ np.swapaxes(a, 1, 2) + 0.5 * np.eye(dim)
    chol = np.linalg.cholesky(cov)
    points = rng.normal(size=(500, dim)) * 3
    inv = np.linalg.inv(cov)
    diff = points[None] - means[:, None]
    exact = np.argmin(np.einsum("mnd,mde,mne->mn", diff, inv, diff), axis=0)
    diag = np.exp(rng.normal(size=(num_modes, dim)))
    exact_diag = np.argmin(np.sum((diff / diag[:, None]) ** 2, axis=-1), axis=0)
    draws = rng.normal(size=(4, 200, 2))
    draws[0, :, 1] += 3.0
    n = draws.shape[1]
    monitor = RunMonitor(
        count=np.full(4, n, np.int32),
        mean=draws.mean(1),
        m2=((draws - draws.mean(1, keepdims=True)) ** 2).sum(1),
        num_divergent=np.zeros(4, np.int32),
        num_moved=np.full(4, n, np.int32),
        global_accept_sum=np.zeros(4),
        num_global_moves=np.zeros(4, np.int32),
        jump_sq=np.zeros((4, 2)),
        num_jumps=np.zeros(4, np.int32),
        snapshot=np.zeros((4, 2)),
        lag_jump_sq=np.zeros((4, 2)),
        num_lag_jumps=np.zeros(4, np.int32),
    )
    with jax.transfer_guard("disallow"):
        labels = nearest_mode(points, means, chol)
        labels_diag = nearest_mode(points, means, diag)
        r = rhat(monitor)
    assert isinstance(r, np.ndarray)
    np.testing.assert_array_equal(labels, exact)
    np.testing.assert_array_equal(labels_diag, exact_diag)
    within = draws.var(1, ddof=1).mean(0)
    between = draws.mean(1).var(0, ddof=1)
    np.testing.assert_allclose(r, np.sqrt(((n - 1) / n * within + between) / within), rtol=1e-10)


def _population_warnings(run) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    messages = [str(w.message) for w in caught if issubclass(w.category, ReliabilityWarning)]
    return [m for m in messages if "global_moves=None to run independent" in m]


def test_chains_that_cannot_be_a_population_say_so_once():
    """NumPyro's defaults (one chain; several chains run one at a time) switch the global
    moves off: the README's two-mode model then gives P(theta > 0) = 0 or 0.75 against
    0.727 with nothing to check it. The run warns once (not once per chain), naming the
    chain method and the fix; vectorized chains too few to find the modes are told the
    miss probability; asking for independent chains (``global_moves=None``) or enough
    vectorized chains is quiet."""

    def potential(z):
        return 0.5 * jnp.sum(z["x"] ** 2)

    def run(num_chains, chain_method, **kernel_kwargs):
        kernel = DilationLangevin(potential_fn=potential, **kernel_kwargs)
        mcmc = MCMC(kernel, num_warmup=20, num_samples=2, num_chains=num_chains,
                    chain_method=chain_method, progress_bar=False)  # fmt: skip
        init = {"x": jnp.zeros((num_chains, 1))}
        return lambda: mcmc.run(jax.random.key(0), init_params=init)

    (sequential,) = _population_warnings(run(2, "sequential"))
    assert "chain_method='sequential' (num_chains=2) runs each chain on its own" in sequential
    assert "chain_method='vectorized'" in sequential and "global_moves=None" in sequential

    single = DilationLangevin(potential_fn=potential)
    init = {"x": jnp.zeros(1)}
    (alone,) = _population_warnings(lambda: single.init(jax.random.key(0), 20, init))
    assert "runs each chain on its own" in alone
    quiet = DilationLangevin(potential_fn=potential, global_moves=None)
    assert _population_warnings(lambda: quiet.init(jax.random.key(0), 20, init)) == []

    one = SimpleNamespace(chain_method="vectorized", num_chains=1)
    assert "a single chain runs alone" in population_warning(True, 1, one)
    few = population_warning(True, 4, None)
    assert "num_chains=4 is too few" in few and "41%" in few
    assert population_warning(True, MIN_POPULATION_CHAINS, None) is None


def test_without_host_callbacks_the_run_is_quiet_and_check_run_says_the_same():
    """``host_callbacks=False``: no callback in the loop, so the split run (global moves
    off, two separated modes) does not warn by itself; ``check_run(mcmc)`` afterwards
    raises the warning the run would have raised, and returns [] for a healthy run. Its
    bad input is named."""

    def two_modes():
        locs = jnp.array([-4.0, 4.0])
        numpyro.sample(
            "theta",
            dist.MixtureSameFamily(dist.Categorical(jnp.ones(2) / 2), dist.Normal(locs, 0.5)),
        )

    kernel = DilationLangevin(two_modes, global_moves=None, host_callbacks=False)
    mcmc, caught = _run(kernel, 60, 100, 32)  # as in the test above, which warns
    assert caught == []
    with warnings.catch_warnings(record=True) as after:
        warnings.simplefilter("always")
        problems = check_run(mcmc)
    assert len(problems) == 1 and "R-hat" in problems[0] and "'theta'" in problems[0]
    assert len(after) == 1 and issubclass(after[0].category, ReliabilityWarning)
    assert problems[0] in str(after[0].message)

    def normal():
        numpyro.sample("x", dist.Normal(1.0, 2.0))

    kernel = DilationLangevin(normal, global_moves=None, host_callbacks=False)
    mcmc, caught = _run(kernel, 60, 100, 32)
    assert caught == [] and check_run(mcmc) == []
    with pytest.raises(ValueError, match="`mcmc` must be"):
        check_run(object())


def _tree(**fields):
    """A state-like pytree (a namedtuple) with these fields."""
    return namedtuple("State", fields)(**fields)


def _make_checks(checks, state, where: str) -> None:
    """Make ``checks`` after an iteration that returned ``state``: from inside a jitted
    function (pure callbacks) or from Python between iterations."""
    from numpyro_dilation.iteration_checks import checks_in_graph, checks_on_host

    if where == "graph":
        jax.block_until_ready(jax.jit(lambda: state.i + checks_in_graph(checks, state))())
        jax.effects_barrier()
    else:
        checks_on_host(checks, state)


@pytest.mark.parametrize("where", ["graph", "host"])
def test_mode_finding_announces_its_start_and_end(capfd, where):
    """The longest iteration says what it does: once the iteration before the mode
    finding has ended, a line that the next one finds the modes (with the pilot-box start,
    in which pass); once it has ended, the number of modes and the gradients per chain;
    from inside ``jit`` (host callbacks) and from between iterations alike."""
    from numpyro_dilation.iteration_checks import mode_finding_checks
    from numpyro_dilation.population_settings import make_settings
    from numpyro_dilation.uturn import UTurn

    settings = make_settings(40, 2)
    it = settings.mode_iteration

    def population(i, num_modes, grads, pilot_end=None, num_found=None):
        num_found = num_modes if num_found is None else num_found
        mixture = _tree(num_modes=jnp.asarray(num_modes, jnp.int32),
                                  num_found=jnp.asarray(num_found, jnp.int32))
        ends = None if pilot_end is None else jnp.full(8, pilot_end)
        return _tree(i=jnp.full(8, i), mixture=mixture, pilot_end=ends,
                               num_grad_evals=jnp.full(8, grads, jnp.int32))

    def said(checks, state) -> str:
        _make_checks(checks, state, where)
        return capfd.readouterr().err

    for pilot_end, which in ((35, "pilot"), (-1, "run")):
        err = said(mode_finding_checks(settings, 8, pilot=True), population(it, 0, 0, pilot_end))
        assert f"the next iteration ({which} pass) finds the modes of the 8 chains" in err

    explore = mode_finding_checks(make_settings(40, 2, uturn=UTurn(kind="explore")), 8, True)
    again = "again from wide starts: the pilot pass found fewer than two modes"
    for modes_before, found, says, not_said in (
        (0, 0, "(U-turn explorer, then", None),
        (0, 0, again, None),
        (1, 1, "the pilot's chains ended in one mode", None),
        (1, 1, again, None),
        (1, 2, "the pilot's chains ended in one mode", "wide starts"),  # 2 found, 1 occupied
    ):  # the run pass: the pilot's occupied modes are kept until then
        err = said(explore, population(it, modes_before, 0, -1, found))
        assert says in err and (not_said is None or not_said not in err)
    err = said(explore, population(it, 0, 0, 40))
    assert "(pilot pass) finds the modes" in err and "also from wide starts" in err

    checks = mode_finding_checks(settings, 8, pilot=False)
    err = said(checks, population(it, 0, 0))
    assert f"warm-up iteration {it + 1}/40 finds the modes of the 8 chains (U-turn" not in err
    assert f"warm-up iteration {it + 1}/40 finds the modes of the 8 chains" in err
    assert "mode(s) found" not in err
    err = said(checks, population(it + 1, 3, 250))
    assert "DilationLangevin: 3 mode(s) found in" in err and "(250 gradients per chain)" in err
    assert said(checks, population(it + 6, 3, 2)) == ""
    assert said(checks, population(it - 1, 0, 0)) == ""


@pytest.mark.parametrize("where", ["graph", "host"])
def test_one_mode_without_moves_is_announced_at_the_first_draw(capfd, where):
    """After the first draw, with one mode and no global move to come (diagonal
    covariances, or the moves stopped), a line says that ``global_moves=None`` gives these
    draws; not with dense covariances and moves running, with two modes, nor at another
    iteration."""
    from numpyro_dilation.iteration_checks import one_mode_check
    from numpyro_dilation.population_settings import make_settings

    settings = make_settings(40, 2)
    first = settings.config.num_adaptation_steps + 1  # the count after the first draw
    check = one_mode_check(settings)

    def population(i, num_modes, stopped, diagonal):
        mixture = _tree(num_modes=jnp.asarray(num_modes, jnp.int32),
                                  stopped=jnp.asarray(stopped),
                                  chol=jnp.zeros((4, 2) if diagonal else (4, 2, 2)))
        return _tree(i=jnp.full(8, i), mixture=mixture)

    said = "the draws will be those of `global_moves=None`"
    for i, num_modes, stopped, diagonal, why in (
        (first, 1, False, True, "in this many dimensions changes nothing"),
        (first, 1, True, False, "were stopped (the warm-up accepted none)"),
        (first, 1, False, False, None),
        (first, 2, False, True, None),
        (first, 2, True, False, None),
        (first - 1, 1, True, True, None),
        (first + 1, 1, True, True, None),
    ):
        _make_checks([check], population(i, num_modes, stopped, diagonal), where)
        err = capfd.readouterr().err
        assert (said in err) == (why is not None), (i, num_modes, stopped, diagonal, err)
        assert why is None or why in err

def test_with_a_progress_bar_the_run_checks_itself_between_iterations(monkeypatch):
    """NumPyro's progress bar over vectorized chains calls the kernel after each iteration:
    there the run checks itself, and its compiled iteration holds no host callback (which
    would keep JAX's persistent cache from storing it): ``on_host`` is never called. Two
    separated modes with the global moves off, ``mcmc.warmup`` then ``run``: the run's end
    warns once that the chains disagree (R-hat, ``'theta'``), with the same message and the
    same draws, bit for bit, as without a progress bar (the checks as callbacks inside the
    loop). NumPyro asks whether the kernel is an ensemble kernel also before handing the
    post-warm-up state one key for all chains; told no there, the chains keep one key each
    and the run's iteration is not traced again for a new shape of key."""
    from numpyro_dilation import iteration_checks

    for name in ("CI", "PYTEST_XDIST_WORKER"):  # NumPyro turns its progress bar off there
        monkeypatch.delenv(name, raising=False)

    def two_modes():
        locs = jnp.array([-4.0, 4.0])
        numpyro.sample(
            "theta",
            dist.MixtureSameFamily(dist.Categorical(jnp.ones(2) / 2), dist.Normal(locs, 0.5)),
        )

    def warmup_then_run(progress_bar):
        kernel = DilationLangevin(two_modes, global_moves=None, steps_per_draw=1)
        mcmc = MCMC(kernel, num_warmup=100, num_samples=200, num_chains=64,
                    chain_method="vectorized", progress_bar=progress_bar)  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mcmc.warmup(jax.random.key(0))
            sample, traced = kernel.sample, []
            kernel.sample = lambda *args: traced.append(1) or sample(*args)
            mcmc.run(jax.random.key(1))
            jax.block_until_ready(mcmc.last_state)
            jax.effects_barrier()
        return mcmc, traced, [str(w.message) for w in caught
                              if issubclass(w.category, ReliabilityWarning)]

    with monkeypatch.context() as m:
        m.setattr(iteration_checks, "on_host", None)  # a callback would fail
        runs = {True: warmup_then_run(True)}
    runs[False] = warmup_then_run(False)
    mcmc, traced, messages = runs[True]
    assert len(messages) == 1 and "R-hat" in messages[0] and "'theta'" in messages[0]
    assert len(traced) <= 1  # NumPyro reuses the warm-up's (0), or traces one with these keys
    assert mcmc.last_state.rng_key.shape == (64,)
    assert int(mcmc.last_state.i[0]) == 300
    assert messages == runs[False][2]
    np.testing.assert_array_equal(np.asarray(mcmc.get_samples()["theta"]),
                                  np.asarray(runs[False][0].get_samples()["theta"]))
