r"""Label-swap moves: exact Metropolis–Hastings moves that exchange the parameters of two
exchangeable components (``GlobalMoves(exchangeable=...)``).

A mixture posterior with :math:`K` unordered components has :math:`K!` symmetric modes,
one per labelling: more than the mode mixture can hold (``GlobalMoves.max_modes``,
64 < 5! = 120), and block moves from the modes' marginals
(:mod:`numpyro_dilation.block_moves`) only recombine values that the found modes have,
which never permutes the labels. A label swap does: with :math:`T_{ab}` the map that
exchanges the parameters of components :math:`a` and :math:`b`, these drawn uniformly and
independently (a symmetric choice; :math:`a = b`, probability :math:`1/K`, is the
identity), and :math:`T_{ab}` an involution (:math:`T_{ab}\circ T_{ab} = \mathrm{id}`), the
move
:math:`y' = T_{ab}(y)` accepted with probability

.. math:: \alpha = \min\Big(1, \frac{\gamma(y')}{\gamma(y)}\,
          \big|\det \partial T_{ab}(y)\big|\Big)

leaves :math:`\pi \propto \gamma` invariant for *any* :math:`\gamma` (Green's
deterministic-involution form of Metropolis–Hastings); when :math:`\gamma` is symmetric
under relabelling it is accepted always, and the random transpositions visit all :math:`K!`
labellings in :math:`O(K\log K)` moves (Diaconis and Shahshahani's random transposition
walk). The identity share matters: with :math:`a \ne b` always, every accepted swap flips
the labelling's parity, and draws of an even number of transitions kept the parity their
chain started with (measured: 4 components, 2 transitions per draw, each chain's draws in
12 of the 24 labellings).

**Components as flat indices** (the BlackJAX-level API): ``exchangeable`` is :math:`K \ge 2`
groups of :math:`L` flat indices each, the :math:`l`-th index of every group holding the
same parameter of its component; :math:`T_{ab}` exchanges the coordinates of groups
:math:`a` and :math:`b` (a coordinate permutation: :math:`|\det| = 1`).
**Components as NumPyro sites** (the NumPyro kernel): ``exchangeable`` is site names whose
values have the component on their leading axis (for example ``locs`` of shape
:math:`(K,)`, ``scales`` :math:`(K,)`, ``weights`` on the simplex :math:`(K,)`).
:math:`T_{ab}` exchanges the rows :math:`a, b` of the *constrained* values: in
unconstrained coordinates :math:`u \mapsto t^{-1}(\sigma_{ab}\,t(u))` for the site's
bijection :math:`t`, with :math:`\log|\det\partial T_{ab}(u)| = \log|\det t'(u)| -
\log|\det t'(u')|` (the swap of the constrained values has unit Jacobian, also on the
simplex); for an elementwise :math:`t` this is the swap of the unconstrained rows.

**Scheduling.** In the population sampler each global move is followed by one label swap
(one more gradient), so swaps happen at every transition of an iteration whose turn it
is (``GlobalMoves.every``).

**The log-evidence.** The importance weights of the independence moves estimate
:math:`\int\gamma` only over the labellings their proposal covers (too low by up to
:math:`\log(K!/c)` for :math:`c` of the :math:`K!` covered). With label swaps the
population sampler therefore accumulates, over the sampling phase, the reverse weights of
the modified harmonic mean (Gelfand and Dey 1994): :math:`1/\hat Z = \overline{\tilde q(y)/
\gamma(y)}` over the chains' states after each swap, :math:`\tilde q` the mode mixture's
Gaussian parts truncated to their ellipsoids of mass 0.9
(:func:`~numpyro_dilation.mode_mixture.truncated_mixture_logpdf`). Since
:math:`\mathbb E_\pi[\tilde q/\gamma] = \int\tilde q/Z = 1/Z` for any normalized
:math:`\tilde q` inside the posterior's support, the states in uncovered labellings simply
weigh 0, and the weights are bounded (finite variance); the standard error comes from the
spread of the chains' means (the weights of one chain are autocorrelated).

No NumPyro import: a site's bijection is anything with ``__call__``, ``inv``,
``log_abs_det_jacobian(x, y)`` and ``domain.event_dim``.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from numpyro_dilation.global_moves import _accept
from numpyro_dilation.kernel import DilationState

__all__ = [
    "GroupSwap",
    "SiteSwap",
    "SwapInfo",
    "build_swap_kernel",
    "check_exchangeable",
    "site_swap",
    "swap_of",
]


class SwapInfo(NamedTuple):
    """Diagnostics of one label swap.

    acceptance_rate
        :math:`\\alpha`.
    is_accepted
        Whether the labels were swapped.
    is_divergent
        Non-finite log-density or gradient at the swapped point (rejected).

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel
        from numpyro_dilation.label_swaps import GroupSwap, build_swap_kernel

        logdensity = lambda y: -0.5 * jnp.sum(y**2)  # symmetric: every swap is accepted
        state = kernel.init(jnp.array([1.0, 2.0]), logdensity)
        state, info = build_swap_kernel()(jax.random.key(0), state, logdensity,
                                          GroupSwap(((0,), (1,))))
        print(info.acceptance_rate, state.position)  # 1.0; [2. 1.], or [1. 2.] if a = b
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array


class GroupSwap(NamedTuple):
    """:math:`T_{ab}` on groups of flat indices: ``swap(flat, a, b) -> (flat',
    log_abs_det)`` exchanges the coordinates of groups ``a`` and ``b`` (``log_abs_det``
    is 0). ``groups``: :math:`K` tuples of :math:`L` flat indices.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.label_swaps import GroupSwap

        swap = GroupSwap(((0, 3), (1, 4), (2, 5)))  # 3 components: (mean, log sd) each
        y = jnp.arange(6.0)
        print(swap.num_groups, swap(y, 0, 2))  # 3 (Array([2., 1., 0., 5., 4., 3.]), 0.0)
    """

    groups: tuple[tuple[int, ...], ...]

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    def __call__(self, flat: jax.Array, a: jax.Array, b: jax.Array):
        idx = jnp.asarray(self.groups, jnp.int32)  # (K, L)
        perm = jnp.arange(flat.shape[-1]).at[idx[a]].set(idx[b]).at[idx[b]].set(idx[a])
        return flat[perm], jnp.zeros((), flat.dtype)


class SiteSwap(NamedTuple):
    """:math:`T_{ab}` on NumPyro sites (see the module docstring): ``swap(flat, a, b) ->
    (flat', log_abs_det)`` on one chain's raveled unconstrained values. ``names``: the
    exchangeable sites; ``transforms``: their bijections from unconstrained to constrained
    values (``None`` for an elementwise one: its unconstrained rows are swapped);
    ``unravel``: ``ravel_pytree``'s inverse for one chain; ``num_groups``: :math:`K`.
    Built by :func:`site_swap`.

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro.distributions.transforms import StickBreakingTransform
        from numpyro_dilation.label_swaps import site_swap

        values = {"locs": jnp.array([-1.0, 0.0, 1.0]), "w": jnp.zeros(2)}  # unconstrained
        swap = site_swap(("locs", "w"), values, {"w": StickBreakingTransform()})
        flat, log_det = swap(jnp.array([-1.0, 0.0, 1.0, 0.5, 0.0]), 0, 2)
        print(flat[:3], log_det)  # locs [1, 0, -1]; the weights' Jacobian term
    """

    names: tuple[str, ...]
    transforms: tuple[Any, ...]
    unravel: Callable
    num_groups: int

    def __call__(self, flat: jax.Array, a: jax.Array, b: jax.Array):
        values = dict(self.unravel(flat))
        log_det = jnp.zeros((), flat.dtype)
        for name, t in zip(self.names, self.transforms):
            u = values[name]
            if t is None:
                values[name] = _swap_rows(u, a, b)
                continue
            c = t(u)
            u_new = t.inv(_swap_rows(c, a, b))
            log_det = log_det + jnp.sum(t.log_abs_det_jacobian(u, c))
            log_det = log_det - jnp.sum(t.log_abs_det_jacobian(u_new, t(u_new)))
            values[name] = u_new
        return ravel_pytree(values)[0].astype(flat.dtype), log_det


def _swap_rows(x: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    xa, xb = x[a], x[b]
    return x.at[a].set(xb).at[b].set(xa)


def check_exchangeable(exchangeable: Any, dim: int | None = None, sites: bool = False) -> Any:
    """Validate ``GlobalMoves(exchangeable=...)`` before any work and return it normalized:
    ``None``; :math:`K \\ge 2` disjoint groups of equally many flat indices in ``[0, dim)``
    (as tuples); with ``sites=True`` (the NumPyro kernel) also a sequence of site names
    (as a tuple); or a swap already built (:class:`GroupSwap`, :class:`SiteSwap`). Raises
    ``ValueError`` naming ``exchangeable`` otherwise.

    **Example**

    .. code-block:: python

        from numpyro_dilation.label_swaps import check_exchangeable

        print(check_exchangeable([[0, 3], [1, 4], [2, 5]], dim=6))  # ((0, 3), (1, 4), (2, 5))
        try:
            check_exchangeable([[0, 1], [2]], dim=4)
        except ValueError as err:
            print(err)  # groups of different sizes
    """
    if exchangeable is None or isinstance(exchangeable, (GroupSwap, SiteSwap)):
        return exchangeable
    expected = "None, a sequence of >= 2 groups of equally many flat indices" + (
        " or a sequence of site names" if sites else ""
    )
    if isinstance(exchangeable, str) or not isinstance(exchangeable, Sequence):
        raise ValueError(f"`exchangeable` must be {expected}, got {exchangeable!r}.")
    if exchangeable and all(isinstance(x, str) for x in exchangeable):
        if not sites:
            raise ValueError(
                f"`exchangeable` must be {expected}: site names need the NumPyro kernel."
            )
        if len(set(exchangeable)) < len(exchangeable):
            raise ValueError(f"`exchangeable`: a site is named twice in {exchangeable!r}.")
        return tuple(exchangeable)
    groups = []
    for group in exchangeable:
        if isinstance(group, str) or not isinstance(group, Sequence) or not group:
            raise ValueError(
                f"`exchangeable` must be {expected}; group {group!r} is not a non-empty "
                "sequence of indices."
            )
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in group):
            raise ValueError(f"`exchangeable`: group {group!r} must hold flat indices.")
        groups.append(tuple(int(i) for i in group))
    if len(groups) < 2:
        raise ValueError(f"`exchangeable` needs at least 2 groups, got {len(groups)}.")
    if len({len(g) for g in groups}) > 1:
        raise ValueError(
            "`exchangeable`: every group must hold as many indices (the same parameters "
            f"of its component, in the same order); sizes {[len(g) for g in groups]}."
        )
    flat = [i for g in groups for i in g]
    bad = [i for i in flat if i < 0 or (dim is not None and i >= dim)]
    if bad:
        raise ValueError(f"`exchangeable`: indices must lie in [0, {dim}), got {bad[:5]}.")
    if len(set(flat)) < len(flat):
        raise ValueError("`exchangeable`: an index is in two groups (groups must be disjoint).")
    return tuple(groups)


def swap_of(exchangeable: Any) -> GroupSwap | SiteSwap | None:
    """The swap of a checked ``exchangeable`` (:func:`check_exchangeable`): a
    :class:`GroupSwap` for groups of flat indices, a swap already built as it is, ``None``
    for ``None``.

    **Example**

    .. code-block:: python

        from numpyro_dilation.label_swaps import swap_of

        print(swap_of(((0,), (1,))).num_groups, swap_of(None))  # 2 None
    """
    if exchangeable is None or isinstance(exchangeable, (GroupSwap, SiteSwap)):
        return exchangeable
    return GroupSwap(exchangeable)


def site_swap(names: Sequence[str], sites: Any, transforms: dict[str, Any]) -> SiteSwap:
    """The :class:`SiteSwap` of NumPyro sites ``names``: ``sites`` is one chain's dict of
    unconstrained values, ``transforms`` maps a site to its bijection from unconstrained to
    constrained values (NumPyro's ``biject_to(site.support)``; a missing or elementwise one
    swaps the unconstrained rows). A site sampled non-centered (``reparam="auto"``: its
    values are ``NAME_decentered``, with ``NAME = loc + scale * NAME_decentered``) is swapped
    through ``NAME_decentered``, which swaps ``NAME``'s rows when its ``loc`` and ``scale``
    are shared by the components or are exchangeable sites named too. Raises
    ``ValueError`` for an unknown site, for sites whose leading (component) axes differ or
    have fewer than 2 entries, or for names when ``sites`` is not a dict (a
    ``potential_fn``'s position).

    **Example**

    .. code-block:: python

        import jax.numpy as jnp
        from numpyro_dilation.label_swaps import site_swap

        values = {"locs": jnp.zeros(4), "scales": jnp.zeros(4), "noise": jnp.zeros(())}
        print(site_swap(["locs", "scales"], values, {}).num_groups)  # 4 components
    """
    if not isinstance(sites, dict):
        raise ValueError(
            "`GlobalMoves.exchangeable`: site names need a model (a `potential_fn`'s "
            "position has no sites); give groups of flat indices."
        )
    names = [n if n in sites or f"{n}_decentered" not in sites else f"{n}_decentered"
             for n in names]  # fmt: skip
    unknown = [n for n in names if n not in sites]
    if unknown:
        raise ValueError(
            f"`exchangeable`: unknown sites {unknown}; the model's sampled sites are "
            f"{sorted(sites)}."
        )
    chosen, sizes = [], {}
    for name in names:
        t = transforms.get(name)
        t = None if t is None or _elementwise(t) else t
        value = sites[name] if t is None else t(sites[name])
        sizes[name] = int(np.shape(value)[0]) if np.ndim(value) else 0
        chosen.append(t)
    if len(set(sizes.values())) > 1 or min(sizes.values()) < 2:
        raise ValueError(
            "`exchangeable`: the sites must have the component on their leading axis, with "
            f"the same number (>= 2) of components; leading sizes {sizes}."
        )
    return SiteSwap(tuple(names), tuple(chosen), ravel_pytree(sites)[1], sizes[names[0]])


def _elementwise(t: Any) -> bool:
    """Whether the bijection acts on each scalar alone (its rows can be swapped before it)."""
    while hasattr(t, "base_transform"):  # an IndependentTransform
        t = t.base_transform
    return getattr(getattr(t, "domain", None), "event_dim", None) == 0


def build_swap_kernel() -> Callable:
    """Label-swap kernel (see the module docstring): ``kernel(rng_key, state,
    logdensity_fn, swap)`` returns ``(DilationState, SwapInfo)`` for ``state`` a
    :class:`~numpyro_dilation.kernel.DilationState` at :math:`\\lambda = 1` and ``swap`` a
    :class:`GroupSwap` or :class:`SiteSwap`; one log-density and gradient evaluation.

    **Example**

    .. code-block:: python

        import jax
        import jax.numpy as jnp
        from numpyro_dilation import kernel
        from numpyro_dilation.label_swaps import GroupSwap, build_swap_kernel

        # y = (a, b) with a ~ N(-2, 1), b ~ N(2, 1) or the labels swapped, equally likely
        def logdensity(y):
            return jnp.logaddexp(-0.5 * jnp.sum((y - jnp.array([-2.0, 2.0])) ** 2),
                                 -0.5 * jnp.sum((y - jnp.array([2.0, -2.0])) ** 2))

        swap = jax.jit(build_swap_kernel(), static_argnums=(2, 3))
        state = kernel.init(jnp.array([-2.0, 2.0]), logdensity)
        first = []
        for key in jax.random.split(jax.random.key(0), 100):
            state, info = swap(key, state, logdensity, GroupSwap(((0,), (1,))))
            first.append(state.position[0])
        print(info.acceptance_rate, (jnp.array(first) > 0).mean())  # 1.0; about 0.5
    """

    def kernel(
        rng_key: jax.Array, state: DilationState, logdensity_fn: Callable, swap: Any
    ) -> tuple[DilationState, SwapInfo]:
        key_a, key_b, key_acc = jax.random.split(rng_key, 3)
        k = swap.num_groups
        # a and b independent: a = b (probability 1/K) leaves the labels as they are, which
        # makes the walk over labellings aperiodic (each real swap flips their parity)
        a = jax.random.randint(key_a, (), 0, k)
        b = jax.random.randint(key_b, (), 0, k)
        flat, unravel = ravel_pytree(state.position)
        proposal_flat, log_det = swap(flat, a, b)
        # log alpha = log gamma(y') + log|det| - log gamma(y): "log q" terms -log|det| and 0
        new_state, p_accept, accept, divergent, _ = _accept(
            key_acc, state, proposal_flat, unravel, logdensity_fn, -log_det, 0.0
        )
        return new_state, SwapInfo(p_accept, accept, divergent)

    return kernel
