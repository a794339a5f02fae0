"""Reference posteriors from posteriordb, ported to NumPyro.

The data and reference draws live outside the repository, in
``<repo root>/../shared/posteriordb`` (override with the environment variable
``NUMPYRO_DILATION_POSTERIORDB``); see :mod:`benchmarks.posteriordb.loader`.
The NumPyro ports and the registry :data:`POSTERIORS` are in
:mod:`benchmarks.posteriordb.models`.
"""

from benchmarks.posteriordb.loader import (
    ENV_VAR,
    available,
    load_data,
    load_info,
    load_reference_draws,
    posterior_names,
    posteriordb_path,
)
from benchmarks.posteriordb.models import (
    POSTERIORS,
    VARIANTS,
    OrderedNormal,
    Spec,
    arK,
    eight_schools_noncentered,
    get_spec,
    kidscore_momhs,
    low_dim_gauss_mix,
    low_dim_gauss_mix_unordered,
    model_kwargs,
    sblrc_blr,
)

__all__ = [
    "ENV_VAR",
    "POSTERIORS",
    "VARIANTS",
    "OrderedNormal",
    "Spec",
    "arK",
    "available",
    "eight_schools_noncentered",
    "get_spec",
    "kidscore_momhs",
    "load_data",
    "load_info",
    "load_reference_draws",
    "low_dim_gauss_mix",
    "low_dim_gauss_mix_unordered",
    "model_kwargs",
    "posterior_names",
    "posteriordb_path",
    "sblrc_blr",
]
