r"""Lipschitz constants of networks: lower bounds from the function, upper bounds from the weights.

The Lipschitz constant of f: R^n → R^k (Euclidean norms on both sides) is

.. math::

    L(f) = \sup_{x \ne x'} \frac{\lVert f(x) - f(x') \rVert_2}{\lVert x - x' \rVert_2}
         = \sup_x \lVert J_f(x) \rVert_2 \quad (f \text{ differentiable almost everywhere}).

*Lower bounds* evaluate f: any gradient norm ‖∇f(x)‖ (for scalar f) and any difference quotient
is ≤ L, so the maximum over points — given, random, or optimised — is a valid lower bound.

*Upper bounds* come from the architecture. For a chain f = h_K ∘ … ∘ h_1 the constants multiply,
L(f) ≤ Π L(h_l). A linear or convolutional layer x ↦ Wx + b has L = ‖W‖_2, its largest singular
value (the bias does not matter); the usual activations are 1-Lipschitz. Computing the exact L is
NP-hard even for two-layer ReLU networks (Virmaux & Scaman, "Lipschitz regularity of deep neural
networks", NeurIPS 2018), so the product is usually loose; Miyato et al. (2018) normalise exactly
these layer norms.

Chains are recognised by running one example input through the network with hooks on its layers:
the recorded input of each layer must equal (up to reshaping) the output of the one before, so a
residual network or any arithmetic between layers is reported as unsupported, not bounded wrongly.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError

# Keys of `lipschitz_report`.
LOWER_GRADIENT_DATA = "lower_gradient_data"
LOWER_GRADIENT_INTERPOLATES = "lower_gradient_interpolates"
LOWER_GRADIENT_ASCENT = "lower_gradient_ascent"
LOWER_PAIRS_SAMPLED = "lower_pairs_sampled"
LOWER_PAIRS_OPTIMISED = "lower_pairs_optimised"
LOWER_BOUND = "lower_bound"
UPPER_SPECTRAL_PRODUCT = "upper_spectral_product"
UPPER_CLIP = "upper_clip"
UPPER_BOUND = "upper_bound"
UPPER_BOUND_ERROR = "upper_bound_error"
LAYERS = "layers"

_LINEAR_MAPS = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
_RESHAPES = (nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d)
_UNIT_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Hardtanh, nn.Softplus, nn.ReLU6)
_KNOWN_ATOMS = (
    *_LINEAR_MAPS,
    *_RESHAPES,
    *_UNIT_ACTIVATIONS,
    nn.LeakyReLU,
    nn.ELU,
    nn.Sigmoid,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
)


@dataclass(frozen=True)
class ChainLink:
    """One layer of a traced chain: its name, the module, and its per-sample input shape."""

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]


# ---------------------------------------------------------------------------- lower bounds


def gradient_norms(f: nn.Module | Callable, points: torch.Tensor) -> torch.Tensor:
    """‖∇_x f(x)‖_2 at each point, for a scalar-valued f ((N, …) → (N,) or (N, 1))."""
    x = points.detach().clone().requires_grad_(True)
    scores = _scalar_scores(f, x)
    (gradients,) = torch.autograd.grad(scores.sum(), x)
    return gradients.flatten(1).norm(dim=1).detach()


def max_gradient_norm(f: nn.Module | Callable, points: torch.Tensor) -> float:
    """max_i ‖∇f(x_i)‖_2 over the given points: a lower bound on L(f) for scalar f."""
    with _evaluation_mode(f):
        return gradient_norms(f, points).max().item()


def interpolate_gradient_lower_bound(
    f: nn.Module | Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num: int = 1024,
    seed: int = 0,
) -> float:
    """max ‖∇f‖ over random interpolates t·x_i + (1 - t)·y_j, t ~ U[0, 1] — where WGAN-GP looks.

    Pairs (i, j) and t are drawn at random (``num`` of them); x and y need the same point shape.
    """
    if x.shape[1:] != y.shape[1:]:
        raise GenlabError(f"x and y must have the same point shape, got {x.shape} and {y.shape}")
    generator = torch.Generator().manual_seed(seed)
    i = torch.randint(len(x), (num,), generator=generator)
    j = torch.randint(len(y), (num,), generator=generator)
    t = torch.rand((num,) + (1,) * (x.ndim - 1), generator=generator, dtype=x.dtype)
    return max_gradient_norm(f, t.to(x.device) * x[i] + (1 - t.to(x.device)) * y[j])


def ascent_gradient_lower_bound(
    f: nn.Module | Callable,
    start: torch.Tensor,
    *,
    steps: int = 100,
    step_size: float = 1e-2,
    noise: float = 1e-2,
    seed: int = 0,
) -> float:
    r"""Perturbed gradient ascent on ‖∇f(x)‖² from each starting point; the largest norm seen.

    Each step moves every point by ``step_size`` along the normalised gradient of ‖∇f(x)‖² (double
    back-propagation) plus Gaussian noise of scale ``noise``. Every visited point's gradient norm
    is a valid lower bound, so the maximum over the whole path is returned. For piecewise-linear
    networks (ReLU, leaky ReLU) ∇f is constant on each linear region, the ascent direction is
    zero almost everywhere, and the noise alone makes it a random local search across regions.
    """
    generator = torch.Generator().manual_seed(seed)
    x = start.detach().clone()
    best = 0.0
    with _evaluation_mode(f):
        for _ in range(steps + 1):
            x.requires_grad_(True)
            (gradient,) = torch.autograd.grad(_scalar_scores(f, x).sum(), x, create_graph=True)
            squared_norms = gradient.flatten(1).pow(2).sum(dim=1)
            best = max(best, squared_norms.detach().max().sqrt().item())
            (direction,) = torch.autograd.grad(squared_norms.sum(), x, allow_unused=True)
            x = x.detach()
            if direction is not None:
                scale = direction.flatten(1).norm(dim=1).clamp_min(1e-30)
                x = x + step_size * direction / scale.view(-1, *([1] * (x.ndim - 1)))
            x = x + noise * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return best


def pair_ratio_lower_bound(
    f: nn.Module | Callable,
    x1: torch.Tensor,
    x2: torch.Tensor,
    *,
    min_distance: float = 1e-6,
) -> float:
    """max_i ‖f(x1_i) - f(x2_i)‖ / ‖x1_i - x2_i‖ over paired points (any output shape).

    Pairs closer than ``min_distance`` are skipped: their quotient is dominated by rounding.
    """
    with _evaluation_mode(f), torch.no_grad():
        ratios, valid = _pair_ratios(f, x1, x2, min_distance)
    if not valid.any():
        raise GenlabError(
            f"every pair is closer than min_distance={min_distance}; spread the pairs"
        )
    return ratios[valid].max().item()


def optimised_pair_ratio_lower_bound(
    f: nn.Module | Callable,
    x1: torch.Tensor,
    x2: torch.Tensor,
    *,
    steps: int = 200,
    lr: float = 1e-2,
    min_distance: float = 1e-6,
) -> float:
    """Adam ascent on ‖f(x1) - f(x2)‖ / ‖x1 - x2‖ jointly in both points; the largest ratio seen.

    Unlike the gradient norm, the quotient has a useful gradient for piecewise-linear networks.
    Every visited pair is a valid witness, so the maximum over all steps is returned (pairs
    closer than ``min_distance`` excluded).
    """
    a = x1.detach().clone().requires_grad_(True)
    b = x2.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([a, b], lr=lr)
    best = 0.0
    with _evaluation_mode(f):
        for _ in range(steps + 1):
            ratios, valid = _pair_ratios(f, a, b, min_distance)
            if valid.any():
                best = max(best, ratios[valid].max().item())
            # Gradients for the points only: .backward() would also fill the network's .grad.
            a.grad, b.grad = torch.autograd.grad(-ratios[valid].sum(), [a, b])
            optimiser.step()
    if best == 0.0:
        raise GenlabError(
            f"every pair is closer than min_distance={min_distance}; spread the pairs"
        )
    return best


def _pair_ratios(
    f: nn.Module | Callable, x1: torch.Tensor, x2: torch.Tensor, min_distance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    if x1.shape != x2.shape:
        raise GenlabError(f"x1 and x2 must pair up point by point, got {x1.shape} and {x2.shape}")
    distances = (x1 - x2).flatten(1).norm(dim=1)
    valid = distances >= min_distance
    differences = (f(x1) - f(x2)).reshape(len(x1), -1).norm(dim=1)
    return differences / distances.clamp_min(min_distance), valid


def _scalar_scores(f: nn.Module | Callable, x: torch.Tensor) -> torch.Tensor:
    scores = f(x)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (x.shape[0],):
        raise GenlabError(
            f"gradient-norm bounds need one score per point, got output shape {tuple(scores.shape)}"
            f" for a batch of {x.shape[0]}; use the pair-ratio bounds for vector outputs"
        )
    return scores


# ---------------------------------------------------------------------------- chains


def trace_chain(net: nn.Module, example_input: torch.Tensor) -> list[ChainLink]:
    """The layers of a sequential network in execution order, with their per-sample input shapes.

    Runs ``example_input`` (a batch, in eval mode, without gradients) with hooks on every *atom*:
    a known layer type (linear, convolution, activation, pooling, batch norm, reshape) or a module
    without children. Containers are descended into; a module with a spectral-norm
    parametrisation is an atom (its parametrisation is not a layer).

    Raises
    ------
    GenlabError
        When the data does not flow layer to layer unchanged (residual connections, arithmetic
        between layers): the product of layer constants would then not bound the network.
    """
    records: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]] = []
    pending: dict[int, torch.Tensor] = {}
    handles = []
    for name, module in dict((id(m), (n, m)) for n, m in _atoms(net)).values():

        def pre_hook(module: nn.Module, args: tuple, *, key: int = id(module)) -> None:
            # Copy before the layer runs: an in-place activation would overwrite its input.
            pending[key] = args[0].detach().clone()

        def post_hook(
            module: nn.Module, args: tuple, output: torch.Tensor, *, name: str = name
        ) -> None:
            records.append((name, module, pending.pop(id(module)), output.detach().clone()))

        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    try:
        with _evaluation_mode(net), torch.no_grad():
            output = net(example_input)
    finally:
        for handle in handles:
            handle.remove()
    if not records:
        raise GenlabError("the network ran no layers on the example input; nothing to bound")
    _check_chain(records, example_input, output)
    return [ChainLink(name, module, tuple(x.shape[1:])) for name, module, x, _ in records]


def _atoms(net: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    if isinstance(net, _KNOWN_ATOMS) or not any(True for _ in net.children()):
        yield prefix or type(net).__name__, net
        return
    for child_name, child in net.named_children():
        yield from _atoms(child, f"{prefix}.{child_name}" if prefix else child_name)


def _check_chain(
    records: list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]],
    example_input: torch.Tensor,
    output: torch.Tensor,
) -> None:
    flows = [(example_input, "the network input", records[0][2], records[0][0])]
    flows += [
        (before[3], f"the output of {before[0]}", after[2], after[0])
        for before, after in itertools.pairwise(records)
    ]
    flows.append((records[-1][3], f"the output of {records[-1][0]}", output, "the network output"))
    for produced, producer, consumed, consumer in flows:
        if produced.numel() != consumed.numel() or not torch.equal(
            produced.reshape(-1), consumed.reshape(-1)
        ):
            raise GenlabError(
                f"{consumer} does not receive {producer} unchanged, so the network is not a plain "
                "chain of layers (residual connection or arithmetic between layers); the layer "
                "product bound only applies to sequential networks"
            )


# ---------------------------------------------------------------------------- upper bounds


def layer_spectral_norm(
    layer: nn.Module,
    input_shape: tuple[int, ...],
    *,
    iterations: int = 500,
    tol: float = 1e-10,
    seed: int = 0,
) -> float:
    r"""‖W‖_2 of a linear or convolutional layer as a linear map on inputs of ``input_shape``.

    - ``nn.Linear``: the exact largest singular value of the (effective) weight matrix.
    - Convolutions (1-, 2-, 3-D, and transposed): power iteration on the map itself,
      v ← Aᵀ A v / ‖Aᵀ A v‖ with A = ``conv`` (no bias) and Aᵀ = ``conv_transpose`` with the same
      stride, padding, dilation and groups (output padding chosen to recover the input size), or
      the reverse for a transposed convolution — the convolution *is* a (large, structured)
      matrix on the flattened input, and its norm depends on the input size through the padding
      borders. It runs in float64 until σ changes by less than ``tol`` relatively.

    A layer with a spectral-norm parametrisation is measured through its effective weight
    W/σ̂ (``layer.weight``). For a dense layer its norm is ≈ 1 (σ̂ is itself a power-iteration
    estimate). For a convolution it is not: PyTorch's spectral norm (like Miyato et al. 2018)
    normalises the reshaped (C_out, C_in·k·k) kernel matrix, not the convolution operator, whose
    norm can be larger (Tsuzuku et al. 2018; Gouk et al. 2021). Measured with σ̂ converged:
    1.58 for a 4×4 stride-2 conv on 28×28 inputs, 1.53 for a 3×3 stride-1 conv on 8×8.

    Power iteration approaches σ_max from below; with the default tolerance the shortfall is far
    below anything that matters for a bound, but it is an estimate, not a certificate.
    """
    if isinstance(layer, nn.Linear):
        return torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2).item()
    forward, adjoint = _conv_operator(layer, input_shape)
    generator = torch.Generator().manual_seed(seed)
    v = torch.randn((1, *input_shape), generator=generator, dtype=torch.float64)
    v = (v / v.norm()).to(layer.weight.device)
    sigma = 0.0
    with torch.no_grad():
        for _ in range(iterations):
            u = forward(v)
            new_sigma = u.norm().item()
            w = adjoint(u)
            if w.norm() == 0:
                return 0.0
            v = w / w.norm()
            if abs(new_sigma - sigma) <= tol * new_sigma:
                return new_sigma
            sigma = new_sigma
    return sigma


def _conv_operator(
    layer: nn.Module, input_shape: tuple[int, ...]
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    spatial = len(layer.kernel_size)
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise GenlabError(
            f"{type(layer).__name__} with padding={layer.padding!r}, "
            f"padding_mode={layer.padding_mode!r} is not supported; use numeric zero padding"
        )
    if len(input_shape) != spatial + 1:
        raise GenlabError(
            f"{type(layer).__name__} needs (C, *spatial) inputs, got input shape {input_shape}"
        )
    conv = (F.conv1d, F.conv2d, F.conv3d)[spatial - 1]
    conv_t = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[spatial - 1]
    weight = layer.weight.detach().double()
    geometry = {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation}
    groups = layer.groups
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):

        def forward_t(x: torch.Tensor) -> torch.Tensor:
            return conv_t(
                x, weight, None, output_padding=layer.output_padding, groups=groups, **geometry
            )

        def adjoint_t(y: torch.Tensor) -> torch.Tensor:
            return conv(y, weight, None, groups=groups, **geometry)

        return forward_t, adjoint_t

    def forward(x: torch.Tensor) -> torch.Tensor:
        return conv(x, weight, None, groups=groups, **geometry)

    probe = torch.zeros((1, *input_shape), dtype=torch.float64, device=weight.device)
    out_spatial = forward(probe).shape[2:]
    output_padding = tuple(
        size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
        for size, out, s, p, d, k in zip(
            input_shape[1:],
            out_spatial,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.kernel_size,
            strict=True,
        )
    )

    def adjoint(y: torch.Tensor) -> torch.Tensor:
        return conv_t(y, weight, None, output_padding=output_padding, groups=groups, **geometry)

    return forward, adjoint


def atom_lipschitz_constant(link: ChainLink, *, iterations: int = 500, seed: int = 0) -> float:
    """The Lipschitz constant (or a valid upper bound) of one traced layer.

    Linear maps: ‖W‖_2 (`layer_spectral_norm`). ReLU, tanh, hardtanh, softplus, ReLU6: 1. Leaky
    ReLU with slope a: max(1, |a|). ELU with α: max(1, α). Sigmoid: ¼. Reshapes and dropout
    (evaluation mode): 1. Max pooling without overlap (stride ≥ kernel): 1. Average pooling
    without overlap or padding: 1/sqrt(window size) (an average of k numbers has norm at most
    ‖x‖/√k by Cauchy–Schwarz). Batch norm in evaluation mode: max_c |γ_c| / sqrt(var_c + eps).
    """
    module = link.module
    if isinstance(module, _LINEAR_MAPS):
        return layer_spectral_norm(module, link.input_shape, iterations=iterations, seed=seed)
    if isinstance(module, (*_RESHAPES, *_UNIT_ACTIVATIONS)):
        return 1.0
    if isinstance(module, nn.LeakyReLU):
        return max(1.0, abs(module.negative_slope))
    if isinstance(module, nn.ELU):
        return max(1.0, module.alpha)
    if isinstance(module, nn.Sigmoid):
        return 0.25
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        return _pooling_constant(module)
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        return _batch_norm_constant(module)
    raise GenlabError(
        f"cannot bound the Lipschitz constant of {link.name} ({type(module).__name__}); the bound "
        "supports chains of Linear/Conv layers, 1-Lipschitz activations, non-overlapping pooling "
        "and evaluation-mode batch norm (layer/group norm have no global constant)"
    )


def _pooling_constant(module: nn.Module) -> float:
    dims = 1 if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)) else 2
    kernel = _per_dimension(module.kernel_size, dims)
    stride = _per_dimension(module.stride or module.kernel_size, dims)
    overlapping = any(s < k for s, k in zip(stride, kernel, strict=True))
    dilated = isinstance(module, (nn.MaxPool1d, nn.MaxPool2d)) and any(
        d != 1 for d in _per_dimension(module.dilation, dims)
    )
    if overlapping or dilated:
        raise GenlabError(
            f"{type(module).__name__} with overlapping or dilated windows (kernel {kernel}, "
            f"stride {stride}) is not supported by the layer product bound"
        )
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)):
        if any(_per_dimension(module.padding, dims)):
            raise GenlabError("average pooling with padding is not supported by the bound")
        return 1.0 / math.sqrt(math.prod(kernel))
    return 1.0


def _batch_norm_constant(module: nn.Module) -> float:
    if module.running_var is None:
        raise GenlabError("batch norm without running statistics has no fixed evaluation map")
    scale = 1.0 / torch.sqrt(module.running_var.double() + module.eps)
    if module.weight is not None:
        scale = scale * module.weight.detach().double().abs()
    return scale.max().item()


def _per_dimension(value: Any, dims: int) -> tuple[int, ...]:
    """A pooling size given as an int or a tuple, as one entry per spatial dimension."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


@dataclass(frozen=True)
class LayerBound:
    """One layer's part in the upper bounds."""

    name: str
    kind: str
    input_shape: tuple[int, ...]
    spectral_norm: float
    clip_bound: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.kind,
            "input_shape": list(self.input_shape),
            "spectral_norm": self.spectral_norm,
            "clip_bound": self.clip_bound,
        }


def spectral_product_bound(
    net: nn.Module,
    example_input: torch.Tensor,
    *,
    iterations: int = 500,
    seed: int = 0,
) -> tuple[float, list[LayerBound]]:
    r"""Upper bound L(f) ≤ Π_l L(h_l) over the traced chain (see `atom_lipschitz_constant`).

    Returns the product and the per-layer constants.
    """
    links = trace_chain(net, example_input)
    layers = [
        LayerBound(
            name=link.name,
            kind=type(link.module).__name__,
            input_shape=link.input_shape,
            spectral_norm=atom_lipschitz_constant(link, iterations=iterations, seed=seed),
            clip_bound=None,
        )
        for link in links
    ]
    return math.prod(layer.spectral_norm for layer in layers), layers


def clipped_layer_bound(layer: nn.Module, *, clip: float) -> float:
    r"""Bound on ‖W‖_2 for a linear or convolutional layer whose weights all satisfy |w| ≤ c.

    For any matrix A, ‖A‖_2² ≤ ‖A‖_1 ‖A‖_∞ (Hölder / Schur test), where ‖A‖_1 is the largest
    absolute column sum and ‖A‖_∞ the largest absolute row sum. If every entry is at most c in
    absolute value, a row with R non-zeros sums to at most cR and a column with S non-zeros to at
    most cS, hence ‖A‖_2 ≤ c·sqrt(R·S).

    - Linear W ∈ R^{m×n}: R = n, S = m, giving c·sqrt(m·n) — the same as ‖W‖_2 ≤ ‖W‖_F ≤ c√(mn).
    - Convolution with C_in input and C_out output channels, g groups, kernel k_1 × … × k_D,
      stride s_i and dilation d_i, seen as its unrolled matrix: an output element reads at most
      R = (C_in/g)·Π k_i inputs; an input element feeds, per output channel of its group, at most
      Π min(k_i, ⌈((k_i - 1)d_i + 1)/s_i⌉) output positions (one per kernel tap, and no more than
      the number of stride steps inside the receptive field's span), so
      S = (C_out/g)·Π min(k_i, ⌈((k_i - 1)d_i + 1)/s_i⌉). Padding only removes entries.
    - Transposed convolution: the adjoint of the convolution with the same parameters (the roles
      of R and S swap), and ‖Aᵀ‖_2 = ‖A‖_2, so the same product R·S applies.

    The bound does not depend on the input size.
    """
    weight = layer.weight.detach()
    largest = weight.abs().max().item()
    if largest > clip * (1 + 1e-6):
        raise GenlabError(
            f"a weight of {type(layer).__name__} has |w| = {largest:.4g} > clip = {clip}; the "
            "network was not clipped at this value (pass the clip value used in training)"
        )
    if isinstance(layer, nn.Linear):
        out_features, in_features = weight.shape
        return clip * math.sqrt(out_features * in_features)
    groups = layer.groups
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        c_in, c_out = weight.shape[0], weight.shape[1] * groups
    else:
        c_out, c_in = weight.shape[0], weight.shape[1] * groups
    row = (c_in // groups) * math.prod(layer.kernel_size)
    taps = math.prod(
        min(k, math.ceil(((k - 1) * d + 1) / s))
        for k, d, s in zip(layer.kernel_size, layer.dilation, layer.stride, strict=True)
    )
    column = (c_out // groups) * taps
    return clip * math.sqrt(row * column)


def clip_bound(
    net: nn.Module,
    example_input: torch.Tensor,
    *,
    clip: float,
    iterations: int = 500,
    seed: int = 0,
) -> tuple[float, list[LayerBound]]:
    r"""Closed-form upper bound for a weight-clipped chain: L ≤ Π_l c·sqrt(R_l S_l) × Π other atoms.

    Linear and convolutional layers use `clipped_layer_bound` (c·sqrt(m·n) for a dense layer);
    other layers (activations, pooling, batch norm) contribute their constants as in
    `atom_lipschitz_constant`. This is what weight clipping alone guarantees (Arjovsky et al.
    2017 only state that the critic is K-Lipschitz for *some* K); it is always ≥ the spectral
    product, usually by orders of magnitude. Raises if any weight exceeds c.
    """
    if not clip > 0:
        raise GenlabError(f"the clip value must be positive, got {clip}")
    links = trace_chain(net, example_input)
    layers = []
    for link in links:
        spectral = atom_lipschitz_constant(link, iterations=iterations, seed=seed)
        clipped = (
            clipped_layer_bound(link.module, clip=clip)
            if isinstance(link.module, _LINEAR_MAPS)
            else spectral
        )
        layers.append(
            LayerBound(link.name, type(link.module).__name__, link.input_shape, spectral, clipped)
        )
    return math.prod(layer.clip_bound for layer in layers), layers


# ---------------------------------------------------------------------------- report


def lipschitz_report(
    critic: nn.Module,
    example_input: torch.Tensor,
    *,
    data: torch.Tensor | None = None,
    clip: float | None = None,
    iterations: int = 500,
    ascent_steps: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    r"""Lower and upper bounds on the Lipschitz constant of a scalar critic, as a JSON-ready dict.

    Lower bounds (keys ``lower_*``), each ≤ L: max gradient norm at the data points; at random
    interpolates between data points (where WGAN-GP penalises); after perturbed gradient ascent on
    ‖∇f‖ from the data; max difference quotient over random pairs of data points, and after
    optimising those pairs. ``lower_bound`` is their maximum.

    Upper bounds: ``upper_spectral_product`` (product of layer spectral norms, power iteration for
    convolutions) and, when ``clip`` is given, ``upper_clip`` (the closed-form clipping bound).
    ``upper_bound`` is the smaller. If the network is not a supported chain, the upper keys are
    None and ``upper_bound_error`` says why. ``layers`` lists the per-layer constants.

    Parameters
    ----------
    critic
        A network mapping a batch (N, …) to scores (N,) or (N, 1); it is evaluated in eval mode
        (restored afterwards) and its weights are not changed.
    example_input
        A batch (at least one point) of the critic's input shape, used to trace the layers.
    data
        Points (N, …) for the lower bounds; ``example_input`` when None (use at least a few
        points; real and generated samples together are the natural choice).
    clip
        The weight-clipping value c, if the critic was trained with clipping.
    iterations, ascent_steps, seed
        Power-iteration limit, gradient-ascent and pair-optimisation steps, and the seed.
    """
    points = (example_input if data is None else data).detach()
    if len(points) < 2:
        raise GenlabError("the lower bounds need at least two data points")
    generator = torch.Generator().manual_seed(seed)
    partner = points[torch.randperm(len(points), generator=generator)]
    spread = points.flatten(1).std().item() or 1.0
    report: dict[str, Any] = {
        LOWER_GRADIENT_DATA: max_gradient_norm(critic, points),
        LOWER_GRADIENT_INTERPOLATES: interpolate_gradient_lower_bound(
            critic, points, partner, seed=seed
        ),
        LOWER_GRADIENT_ASCENT: ascent_gradient_lower_bound(
            critic,
            points,
            steps=ascent_steps,
            step_size=0.01 * spread,
            noise=0.01 * spread,
            seed=seed,
        ),
    }
    separated = (points - partner).flatten(1).norm(dim=1) > 0
    if separated.any():
        report[LOWER_PAIRS_SAMPLED] = pair_ratio_lower_bound(
            critic, points[separated], partner[separated]
        )
        report[LOWER_PAIRS_OPTIMISED] = optimised_pair_ratio_lower_bound(
            critic, points[separated], partner[separated], steps=ascent_steps, lr=0.01 * spread
        )
    report[LOWER_BOUND] = max(report.values())
    try:
        spectral, layers = spectral_product_bound(
            critic, example_input, iterations=iterations, seed=seed
        )
        clipped = (
            None
            if clip is None
            else clip_bound(critic, example_input, clip=clip, iterations=iterations, seed=seed)
        )
    except GenlabError as exc:
        report.update({UPPER_SPECTRAL_PRODUCT: None, UPPER_CLIP: None, UPPER_BOUND: None})
        report[UPPER_BOUND_ERROR] = str(exc)
        report[LAYERS] = []
        return report
    if clipped is not None:
        layers = clipped[1]
    report[UPPER_SPECTRAL_PRODUCT] = spectral
    report[UPPER_CLIP] = None if clipped is None else clipped[0]
    report[UPPER_BOUND] = spectral if clipped is None else min(spectral, clipped[0])
    report[UPPER_BOUND_ERROR] = None
    report[LAYERS] = [layer.as_dict() for layer in layers]
    return report


@contextlib.contextmanager
def _evaluation_mode(f: nn.Module | Callable) -> Iterator[None]:
    """Run a module in eval mode (batch norm on running statistics, no dropout), then restore."""
    if not isinstance(f, nn.Module):
        yield
        return
    modes = {module: module.training for module in f.modules()}
    f.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training
