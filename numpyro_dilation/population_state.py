r"""The population's state: every chain's position, level, step size and monitors, and
what the chains share (the preconditioner, the mode mixture). Pure NamedTuples; the same
state serves the BlackJAX-level population algorithm (:mod:`numpyro_dilation.population`)
and the NumPyro kernel (:class:`~numpyro_dilation.mcmc.DilationLangevin`), whose
``last_state`` it is. The field names are NumPyro's (``z``, ``potential_energy``,
``z_grad``, ``adapt_state``), so NumPyro's ``MCMC`` collects and resumes it unchanged.
"""

from collections import namedtuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

__all__ = [
    "DilationAdaptState",
    "DilationLangevinState",
    "ravel_chains",
    "with_inverse_mass_matrix",
]


class DilationAdaptState(
    namedtuple("DilationAdaptState", ["step_size", "dual_averaging", "inverse_mass_matrix"])
):
    """What the warm-up adapts, with the field names of NumPyro's ``HMCAdaptState``:

    - **step_size** - step :math:`h` for the next iteration (per chain).
    - **dual_averaging** - its dual-averaging state.
    - **inverse_mass_matrix** - the preconditioner :math:`v` (flat, ``ravel_pytree``
      order): a diagonal, shape ``(d,)``, or with ``dense_mass=True`` a matrix, shape
      ``(d, d)``; shared by the chains of a vectorized run (not batched); ``None`` when
      it is not adapted (``adapt_mass_matrix=False``, or no latent site).

    Properties, as NumPyro's: **mass_matrix_sqrt** - :math:`L` with
    :math:`LL^\\top = v^{-1}` (lower Cholesky factor; elementwise :math:`v^{-1/2}` for a
    diagonal), and **mass_matrix_sqrt_inv** - :math:`L^{-1}` (:math:`v^{1/2}`); ``None``
    when ``inverse_mass_matrix`` is.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin

        def model():
            numpyro.sample("x", dist.Normal(0.0, 0.1).expand([2]))

        mcmc = MCMC(DilationLangevin(model), num_warmup=40, num_samples=20, progress_bar=False)
        mcmc.run(jax.random.key(0))
        adapt = mcmc.last_state.adapt_state  # a DilationAdaptState
        print(adapt.step_size)  # the tuned h
        print(jnp.exp(adapt.dual_averaging.log_step_size_avg))  # the same (averaged iterate)
        print(adapt.inverse_mass_matrix)  # [0.01 0.01]: the curvature's inverse, 0.1 ** 2
    """

    __slots__ = ()

    @property
    def mass_matrix_sqrt(self):
        """:math:`L` with :math:`LL^\\top = v^{-1}` (``None`` without a preconditioner)."""
        v = self.inverse_mass_matrix
        if v is None:
            return None
        if jnp.ndim(v) == 1:
            return lax.rsqrt(v)
        return jnp.linalg.cholesky(jnp.linalg.inv(v))

    @property
    def mass_matrix_sqrt_inv(self):
        """:math:`L^{-1}` (``None`` without a preconditioner)."""
        v = self.inverse_mass_matrix
        if v is None:
            return None
        if jnp.ndim(v) == 1:
            return jnp.sqrt(v)
        return jnp.linalg.inv(self.mass_matrix_sqrt)


class DilationLangevinState(
    namedtuple(
        "DilationLangevinState",
        [
            "i",
            "z",
            "potential_energy",
            "z_grad",
            "lam",
            "center",
            "accept_prob",
            "mean_accept_prob",
            "diverging",
            "num_grad_evals",
            "global_accept_prob",
            "uturn_accept_prob",
            "evidence",
            "monitor",
            "mixture",
            "adapt_state",
            "rng_key",
        ],
    )
):
    """State of :class:`DilationLangevin`, one chain (batched over chains in a
    vectorized run):

    - **i** - iterations done (warm-up included; never reset).
    - **z** - target-coordinate position :math:`y` in unconstrained space (the draw once λ = 1).
    - **potential_energy** - :math:`-\\log\\gamma(y)`.
    - **z_grad** - gradient of the potential energy at ``z``.
    - **lam** - level :math:`\\lambda` of the last transition.
    - **center** - dilation center :math:`c` (unconstrained, structure of ``z``).
    - **accept_prob** - Metropolis acceptance probability of the last proposal.
    - **mean_accept_prob** - running mean of ``accept_prob`` (reset when sampling starts).
    - **diverging** - whether the last proposal had a non-finite log-density or gradient (rejected).
    - **num_grad_evals** - gradient evaluations spent by the last iteration (1 or 2 for the
      local step, +1 for a global move, + an exact U-turn move's, + the mode finding (and
      the explorer's U-turns) once during warm-up, + the preconditioner's
      Hessian (counted as :math:`d` gradients) and step-size search at its update
      iterations; the first iteration also counts the initialization: the initial
      gradient and the first step-size search). Summed over all iterations it is the
      run's whole gradient cost.
    - **global_accept_prob** - acceptance probability of the last global move (0 if none).
    - **uturn_accept_prob** - acceptance probability :math:`\\min(1, e^W)` of the last exact
      U-turn move (0 if none; see ``uturn``).
    - **evidence** - :class:`~numpyro_dilation.global_moves.EvidenceAccumulator` of the
      global-move proposals' importance weights (for :func:`log_evidence`).
    - **monitor** - :class:`~numpyro_dilation.health.RunMonitor`: running statistics of the
      chain's draws at :math:`\\lambda = 1` in the current phase (warm-up, or one ``run``'s
      draws), from which the end of each phase checks the run (:mod:`numpyro_dilation.health`).
    - **mixture** - :class:`~numpyro_dilation.modes.ModeMixture` of the modes found at the end
      of warm-up, shared by all chains of a vectorized run (not batched); ``None`` when
      global moves are off.
    - **adapt_state** - :class:`DilationAdaptState` (``step_size``, ``dual_averaging``,
      ``inverse_mass_matrix``, as in NumPyro's ``HMCAdaptState``).
    - **rng_key** - random key for the next iteration.

    Properties: **num_steps** - ``num_grad_evals`` under the name NumPyro's HMC and NUTS
    states give their cost per iteration, so ``extra_fields=("num_steps",)`` works as
    with ``NUTS`` (a MALA step is one gradient); **inverse_mass_matrix** -
    ``adapt_state.inverse_mass_matrix``, the preconditioner.

    **Example**

    .. code-block:: python

        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC
        from numpyro_dilation import DilationLangevin

        def model():
            numpyro.sample("x", dist.Normal(1.0, 2.0).expand([2]))

        mcmc = MCMC(DilationLangevin(model), num_warmup=40, num_samples=20, num_chains=4,
                    chain_method="vectorized", progress_bar=False)
        mcmc.run(jax.random.key(0))
        state = mcmc.last_state  # a DilationLangevinState, batched over the 4 chains
        print(state.i, state.lam, state.z["x"].shape)  # [60 60 60 60] [1. 1. 1. 1.] (4, 2)
        print(state.mean_accept_prob, state.adapt_state.step_size)  # acceptance and h, per chain
        print(state.mixture.num_modes, state.inverse_mass_matrix)  # 1 [4. 4.]: shared by the chains
    """

    __slots__ = ()

    @property
    def num_steps(self):
        """Gradient evaluations of the last iteration (``num_grad_evals``)."""
        return self.num_grad_evals

    @property
    def inverse_mass_matrix(self):
        """The preconditioner, ``adapt_state.inverse_mass_matrix``."""
        return self.adapt_state.inverse_mass_matrix


def with_inverse_mass_matrix(state, v):
    """``state`` (a :class:`DilationLangevinState`) with
    ``adapt_state.inverse_mass_matrix = v`` (the preconditioner has one owner, the
    adaptation state).

    **Example**

    .. code-block:: python

        from collections import namedtuple

        import jax.numpy as jnp
        from numpyro_dilation.population_state import DilationAdaptState, with_inverse_mass_matrix

        S = namedtuple("S", ["adapt_state"])  # any NamedTuple with an ``adapt_state`` field
        s = with_inverse_mass_matrix(S(DilationAdaptState(0.1, None, None)), jnp.ones(2))
        print(s.adapt_state.inverse_mass_matrix)  # [1. 1.]
    """
    return state._replace(adapt_state=state.adapt_state._replace(inverse_mass_matrix=v))


def ravel_chains(z):
    """Flatten batched positions (leading axis: chains) to shape ``(C, d)``, in
    ``ravel_pytree`` order; also return the one-chain ``unravel``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.population_state import ravel_chains

        flat, unravel = ravel_chains({"a": jnp.zeros((4, 2)), "b": jnp.ones(4)})
        print(flat.shape, unravel(flat[0])["a"].shape)  # (4, 3) (2,)
    """
    one_chain = jax.tree.map(lambda x: x[0], z)
    _, unravel_one = ravel_pytree(one_chain)
    flat = jax.vmap(lambda zc: ravel_pytree(zc)[0])(z)
    return flat, unravel_one
