r"""How work over many chains or starting points is batched: ``vmap``, or one at a time.

Every chain runs the same step, so the natural program is ``jax.vmap`` over chains: one
batched call per operation. On CPU, for a model whose log-density calls LAPACK
(Cholesky factors, triangular solves, eigendecompositions: Gaussian processes,
multivariate normals with a full covariance), batching is unsafe with jaxlib 0.10.2.
Its batched LAPACK kernels split a batch across XLA's intra-op thread pool when
batch × work per matrix exceeds about :math:`2\cdot 10^5` flops, and the pool thread
that split it blocks until the pieces are done. When as many such kernels run
concurrently as the pool has threads (two on a 2-core machine; the forward and backward
passes of a gradient contain independent solves), every thread waits and none of the
pieces runs: the process hangs in ``block_until_ready`` with the CPU idle. Measured on
the GP model of ``benchmarks/models.py`` (``gp_hyperparameters``, 25 points): mode
finding from 48 starts hung 3 times in 3 (60 s limit; 15 s per run one start at a time),
and a 400-chain run of the sampler hung in sampling.

A batch of one never splits, so these functions map one item at a time
(``lax.map``) where that hazard exists, and ``vmap`` everywhere else. One item at a
time costs throughput on a vectorizable model, which is why it is confined to CPU runs
of models that call LAPACK.
"""

from collections.abc import Callable

import jax
from jax import lax

__all__ = ["calls_lapack", "map_items", "map_starts"]

#: JAX primitives that XLA's CPU backend runs as (batched) LAPACK calls.
LAPACK_PRIMITIVES = frozenset(
    {
        "cholesky",
        "triangular_solve",
        "eigh",
        "eig",
        "lu",
        "qr",
        "geqrf",
        "geqp3",
        "householder_product",
        "svd",
        "schur",
        "hessenberg",
        "tridiagonal",
        "tridiagonal_solve",
    }
)


def _sub_jaxprs(value):
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _sub_jaxprs(v)


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                names |= _primitives(sub)
    return names


def calls_lapack(logdensity_fn: Callable, position) -> bool:
    """Whether ``logdensity_fn`` or its gradient at ``position`` (one chain's, any
    pytree) uses a primitive of ``LAPACK_PRIMITIVES``. Traces, does not run.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from jax.scipy.stats import multivariate_normal
        from numpyro_dilation.batching import calls_lapack

        cov = jnp.array([[1.0, 0.5], [0.5, 2.0]])
        print(calls_lapack(lambda x: multivariate_normal.logpdf(x, jnp.zeros(2), cov), jnp.ones(2)))
        # True: a Cholesky factor and triangular solves
        print(calls_lapack(lambda x: -0.5 * jnp.sum(x**2), jnp.ones(2)))  # False
    """
    jaxpr = jax.make_jaxpr(jax.value_and_grad(logdensity_fn))(position)
    return bool(_primitives(jaxpr.jaxpr) & LAPACK_PRIMITIVES)


def map_items(fn: Callable, one_at_a_time: bool) -> Callable:
    """``jax.vmap(fn)`` (every argument mapped over its leading axis), or the same
    function computed one item at a time with ``lax.map`` when ``one_at_a_time``.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.batching import map_items

        f = lambda x, y: jnp.sum(x * y)
        xs, ys = jnp.ones((4, 3)), jnp.arange(12.0).reshape(4, 3)
        print(map_items(f, False)(xs, ys), map_items(f, True)(xs, ys))  # the same, twice
    """
    if not one_at_a_time:
        return jax.vmap(fn)
    return lambda *xs: lax.map(lambda args: fn(*args), xs)


def map_starts(fn: Callable, *xs):
    """``jax.vmap(fn)(*xs)`` on accelerators, one item at a time on CPU: for the
    optimisations and explorations from many starting points, whose per-item work
    (hundreds of gradient and Hessian evaluations) gains little from batching on a few
    CPU cores, whatever the model.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.batching import map_starts

        print(map_starts(lambda y, h: y - h * y, jnp.ones((3, 2)), jnp.array([0.1, 0.2, 0.5])))
    """
    return map_items(fn, jax.default_backend() == "cpu")(*xs)
