import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from genlab.divergences.lipschitz import (
    LAYERS,
    LOWER_BOUND,
    UPPER_BOUND,
    UPPER_BOUND_ERROR,
    UPPER_CLIP,
    UPPER_SPECTRAL_PRODUCT,
    ascent_gradient_lower_bound,
    clip_bound,
    clipped_layer_bound,
    interpolate_gradient_lower_bound,
    layer_spectral_norm,
    lipschitz_report,
    max_gradient_norm,
    optimised_pair_ratio_lower_bound,
    pair_ratio_lower_bound,
    spectral_product_bound,
    trace_chain,
)
from genlab.errors import GenlabError
from genlab.models.mlp import MLPCritic


def _unrolled_matrix(layer, input_shape):
    """The layer's linear part (bias removed) as an explicit matrix: columns are basis images."""
    size = math.prod(input_shape)
    basis = torch.eye(size, dtype=torch.float64).reshape(size, *input_shape)
    with torch.no_grad():
        zero = layer(torch.zeros(1, *input_shape, dtype=torch.float64))
        columns = layer(basis) - zero  # subtracting f(0) removes the bias
    return columns.reshape(size, -1).T.numpy()


def _sigma_max(matrix):
    return np.linalg.svd(matrix, compute_uv=False)[0]


# ---------------------------------------------------------------- linear maps


def test_linear_map_bounds_bracket_the_largest_singular_value():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3, dtype=torch.float64)
    sigma = _sigma_max(layer.weight.detach().numpy())
    upper, layers = spectral_product_bound(layer, torch.randn(2, 5, dtype=torch.float64))
    assert upper == pytest.approx(sigma, rel=1e-12)
    assert [entry.kind for entry in layers] == ["Linear"]
    x1, x2 = torch.randn(64, 5, dtype=torch.float64), torch.randn(64, 5, dtype=torch.float64)
    sampled = pair_ratio_lower_bound(layer, x1, x2)
    optimised = optimised_pair_ratio_lower_bound(layer, x1, x2, steps=300, lr=0.05)
    assert sampled <= optimised <= sigma * (1 + 1e-9)
    assert optimised > 0.999 * sigma  # the ascent aligns x1 - x2 with the top singular vector


def test_scalar_linear_map_gradient_bound_is_the_weight_norm():
    torch.manual_seed(1)
    layer = nn.Linear(4, 1, dtype=torch.float64)
    norm = np.linalg.norm(layer.weight.detach().numpy())
    points = torch.randn(10, 4, dtype=torch.float64)
    assert max_gradient_norm(layer, points) == pytest.approx(norm, rel=1e-12)
    assert spectral_product_bound(layer, points)[0] == pytest.approx(norm, rel=1e-12)


# ---------------------------------------------------------------- convolutions


CONVOLUTIONS = [
    pytest.param(lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 6, 6), id="conv3x3-pad1"),
    pytest.param(lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1), (2, 7, 7), id="conv-stride2"),
    pytest.param(
        lambda: nn.Conv2d(4, 4, 3, dilation=2, padding=2, groups=2),
        (4, 6, 6),
        id="conv-dilated-grouped",
    ),
    pytest.param(lambda: nn.Conv2d(3, 2, 4, stride=2, padding=1), (3, 8, 8), id="dcgan-down"),
    pytest.param(lambda: nn.Conv1d(2, 3, 4, stride=2, padding=1), (2, 9), id="conv1d"),
    pytest.param(
        lambda: nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), (3, 3, 3), id="dcgan-up"
    ),
    pytest.param(
        lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1),
        (2, 3, 3),
        id="convT-output-padding",
    ),
]


@pytest.mark.parametrize(("make", "input_shape"), CONVOLUTIONS)
def test_conv_power_iteration_equals_svd_of_the_unrolled_matrix(make, input_shape):
    torch.manual_seed(2)
    layer = make().double()
    expected = _sigma_max(_unrolled_matrix(layer, input_shape))
    assert layer_spectral_norm(layer, input_shape) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(("make", "input_shape"), CONVOLUTIONS)
@pytest.mark.parametrize("pattern", ["all_positive", "random_signs"])
def test_clipped_conv_bound_holds_for_extreme_weights(make, input_shape, pattern):
    torch.manual_seed(3)
    layer = make().double()
    clip = 0.05
    with torch.no_grad():
        if pattern == "all_positive":  # the largest norm a clipped layer can have
            layer.weight.fill_(clip)
        else:
            layer.weight.copy_(clip * torch.sign(torch.randn_like(layer.weight)))
    true_norm = _sigma_max(_unrolled_matrix(layer, input_shape))
    assert clipped_layer_bound(layer, clip=clip) >= true_norm * (1 - 1e-12)


def test_clipped_dense_bound_is_tight_for_a_constant_matrix():
    # An all-c m×n matrix is c·1_m 1_nᵀ, of rank one with σ = c·sqrt(m·n).
    layer = nn.Linear(6, 4, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.fill_(0.01)
    sigma = _sigma_max(layer.weight.detach().numpy())
    assert clipped_layer_bound(layer, clip=0.01) == pytest.approx(sigma, rel=1e-12)
    assert sigma == pytest.approx(0.01 * math.sqrt(24), rel=1e-12)


def test_unsupported_padding_is_rejected():
    layer = nn.Conv2d(1, 1, 3, padding="same")
    with pytest.raises(GenlabError, match="padding"):
        layer_spectral_norm(layer, (1, 5, 5))
    with pytest.raises(GenlabError, match="padding"):
        layer_spectral_norm(nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), (1, 5, 5))


# ---------------------------------------------------------------- ReLU nets with known constants


def _one_hidden_relu_1d(width, seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, 1)).double()


def _exact_constant_1d(net):
    """max |slope| over the linear pieces of x ↦ Σ a_i relu(w_i x + b_i), by enumeration."""
    w = net[0].weight.detach().numpy()[:, 0]
    b = net[0].bias.detach().numpy()
    a = net[2].weight.detach().numpy()[0]
    kinks = np.sort(-b / w)
    probes = np.concatenate([[kinks[0] - 1.0], (kinks[:-1] + kinks[1:]) / 2, [kinks[-1] + 1.0]])
    slopes = [np.sum(a * w * (w * x + b > 0)) for x in probes]
    return float(np.max(np.abs(slopes))), probes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_dimensional_relu_net_bounds_bracket_the_exact_constant(seed):
    net = _one_hidden_relu_1d(12, seed)
    exact, probes = _exact_constant_1d(net)
    probe_points = torch.as_tensor(probes, dtype=torch.float64)[:, None]
    # One probe inside every linear piece: the gradient bound is then exact.
    assert max_gradient_norm(net, probe_points) == pytest.approx(exact, rel=1e-12)
    upper, _ = spectral_product_bound(net, probe_points)
    assert upper >= exact
    random_points = torch.randn(200, 1, dtype=torch.float64) * 2
    report = lipschitz_report(net, random_points[:2], data=random_points, ascent_steps=30)
    assert report[LOWER_BOUND] <= exact * (1 + 1e-9)
    assert report[LOWER_BOUND] >= 0.5 * exact
    assert report[UPPER_BOUND] == pytest.approx(upper)


def _exact_constant_2d_bias_free(net):
    """max over the 2h angular sectors of ‖Σ_i a_i w_i [⟨w_i, x⟩ > 0]‖ for a bias-free 2-D net."""
    w = net[0].weight.detach().numpy()
    a = net[2].weight.detach().numpy()[0]
    # Each hyperplane ⟨w_i, x⟩ = 0 is a line through 0 at angles atan2(w_i) ± π/2; the activation
    # pattern is constant between consecutive boundary angles, so probe each sector's middle.
    normals = np.arctan2(w[:, 1], w[:, 0])
    boundaries = np.sort(np.mod(normals[:, None] + [np.pi / 2, -np.pi / 2], 2 * np.pi).ravel())
    following = np.append(boundaries[1:], boundaries[0] + 2 * np.pi)
    mids = (boundaries + following) / 2
    directions = np.stack([np.cos(mids), np.sin(mids)], axis=1)
    gradients = ((directions @ w.T > 0) * a) @ w
    return float(np.linalg.norm(gradients, axis=1).max())


@pytest.mark.parametrize("seed", [0, 1])
def test_two_dimensional_bias_free_relu_net_bounds_bracket_the_exact_constant(seed):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 10, bias=False), nn.ReLU(), nn.Linear(10, 1)).double()
    exact = _exact_constant_2d_bias_free(net)
    points = torch.randn(128, 2, dtype=torch.float64)
    lower = ascent_gradient_lower_bound(net, points, steps=20, step_size=0.05, noise=0.05)
    upper, _ = spectral_product_bound(net, points)
    assert lower <= exact * (1 + 1e-9)
    assert lower >= 0.999 * exact  # 128 random directions visit every sector here
    assert upper >= exact
    pairs = optimised_pair_ratio_lower_bound(net, points, -points.flip(0), steps=50, lr=0.05)
    assert pairs <= exact * (1 + 1e-9)


def test_gradient_ascent_climbs_on_a_smooth_network():
    # f(x) = tanh(⟨w, x⟩) has ‖∇f‖ = ‖w‖·(1 - tanh²), largest (= ‖w‖) on the line ⟨w, x⟩ = 0.
    layer = nn.Linear(2, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0]]))
    net = nn.Sequential(layer, nn.Tanh())
    start = torch.tensor([[1.0, 1.0]], dtype=torch.float64)  # ‖∇f‖ = 5(1 - tanh²7) ≈ 8e-6
    climbed = ascent_gradient_lower_bound(net, start, steps=300, step_size=0.01, noise=0.0)
    assert max_gradient_norm(net, start) < 1e-4
    assert 4.9 < climbed <= 5.0


# ---------------------------------------------------------------- clipped networks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clip_bound_dominates_the_spectral_product_and_the_lower_bounds(seed):
    torch.manual_seed(seed)
    clip = 0.01
    mlp = MLPCritic((3,), hidden=(32, 32)).double()
    conv = nn.Sequential(
        nn.Conv2d(1, 8, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(8, 8, 3, 1, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 1),
    ).double()
    for net, example in ((mlp, torch.randn(64, 3)), (conv, torch.randn(64, 1, 8, 8))):
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.uniform_(-clip, clip)
        example = example.double()
        clipped, layers = clip_bound(net, example, clip=clip)
        spectral, _ = spectral_product_bound(net, example)
        report = lipschitz_report(net, example[:2], data=example, clip=clip, ascent_steps=20)
        assert clipped >= spectral >= report[LOWER_BOUND] > 0
        assert report[UPPER_CLIP] == pytest.approx(clipped)
        assert report[UPPER_BOUND] == pytest.approx(spectral)
        assert all(layer.clip_bound >= layer.spectral_norm * (1 - 1e-9) for layer in layers)


def test_clip_bound_of_an_mlp_is_the_closed_form_product():
    mlp = MLPCritic((3,), hidden=(16, 8)).double()
    with torch.no_grad():
        for parameter in mlp.parameters():
            parameter.clamp_(-0.02, 0.02)
    bound, _ = clip_bound(mlp, torch.zeros(1, 3, dtype=torch.float64), clip=0.02)
    expected = 0.02**3 * math.sqrt(3 * 16) * math.sqrt(16 * 8) * math.sqrt(8 * 1)
    assert bound == pytest.approx(expected, rel=1e-12)  # leaky ReLU (0.2) contributes 1


def test_clip_bound_rejects_weights_above_the_clip_value():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        net[0].weight.fill_(0.5)
    with pytest.raises(GenlabError, match="not clipped"):
        clip_bound(net, torch.zeros(1, 2), clip=0.01)


# ---------------------------------------------------------------- chains and reports


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)
        self.head = nn.Linear(3, 1)

    def forward(self, x):
        return self.head(x + self.inner(x))


def test_residual_network_is_not_bounded_as_a_chain():
    with pytest.raises(GenlabError, match="not a plain chain"):
        trace_chain(_Residual(), torch.randn(2, 3))
    report = lipschitz_report(_Residual(), torch.randn(16, 3))
    assert report[UPPER_BOUND] is None
    assert "not a plain chain" in report[UPPER_BOUND_ERROR]
    assert report[LOWER_BOUND] > 0


def test_trace_records_input_shapes_and_handles_inplace_activations():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 4, 2, 1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(4, 2, 4, 2, 1),
        nn.BatchNorm2d(2),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 1),
    )
    links = trace_chain(net, torch.randn(3, 1, 16, 16))
    assert [link.input_shape for link in links] == [
        (1, 16, 16),
        (4, 8, 8),
        (4, 8, 8),
        (2, 4, 4),
        (2, 4, 4),
        (2, 4, 4),
        (32,),
    ]


def test_group_norm_has_no_upper_bound_but_a_clear_reason():
    net = nn.Sequential(nn.Linear(2, 4), nn.GroupNorm(1, 4), nn.Linear(4, 1))
    report = lipschitz_report(net, torch.randn(8, 2))
    assert report[UPPER_SPECTRAL_PRODUCT] is None
    assert "GroupNorm" in report[UPPER_BOUND_ERROR]


def test_spectral_norm_parametrisation_is_measured_through_the_effective_weight():
    torch.manual_seed(4)
    layer = nn.utils.parametrizations.spectral_norm(nn.Linear(6, 5), n_power_iterations=20)
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(3.0)  # raw norm ≈ 3
    layer(torch.randn(1, 6))  # training-mode calls refine σ̂
    effective = layer.weight.detach().numpy()
    raw = layer.parametrizations.weight.original.detach().numpy()
    norm = layer_spectral_norm(layer, (6,))
    assert norm == pytest.approx(_sigma_max(effective), rel=1e-6)
    assert norm == pytest.approx(1.0, rel=1e-3)
    assert _sigma_max(raw) > 2.0


def test_report_is_json_ready_restores_modes_and_leaves_gradients_alone():
    torch.manual_seed(5)
    critic = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))
    critic.train()
    data = torch.randn(32, 2)
    report = lipschitz_report(critic, data[:4], data=data, ascent_steps=5)
    assert critic.training
    assert critic[1].training
    assert all(parameter.grad is None for parameter in critic.parameters())
    assert report[LOWER_BOUND] <= report[UPPER_BOUND]
    assert [layer["type"] for layer in report[LAYERS]] == [
        "Linear",
        "BatchNorm1d",
        "ReLU",
        "Linear",
    ]
    json.dumps(report)


def test_interpolates_and_vector_outputs():
    torch.manual_seed(6)
    critic = MLPCritic((2,), hidden=(8,))
    x, y = torch.randn(20, 2), torch.randn(30, 2)
    bound = interpolate_gradient_lower_bound(critic, x, y, num=100)
    assert 0 < bound <= spectral_product_bound(critic, x)[0]
    with pytest.raises(GenlabError, match="one score per point"):
        max_gradient_norm(nn.Linear(2, 3), x)


@pytest.mark.parametrize(
    ("layer", "input_shape"),
    [
        pytest.param(nn.AvgPool2d(2), (2, 4, 4), id="avgpool2"),
        pytest.param(nn.AvgPool1d(3), (1, 9), id="avgpool1d-3"),
    ],
)
def test_non_overlapping_average_pooling_constant_is_exact(layer, input_shape):
    expected = _sigma_max(_unrolled_matrix(layer, input_shape))
    bound, _ = spectral_product_bound(layer, torch.randn(1, *input_shape, dtype=torch.float64))
    assert bound == pytest.approx(expected, rel=1e-12)


def test_batch_norm_in_eval_mode_is_a_diagonal_scale():
    torch.manual_seed(7)
    norm = nn.BatchNorm1d(5).double()
    with torch.no_grad():
        norm.running_var.uniform_(0.2, 3.0)
        norm.weight.uniform_(-2.0, 2.0)
    norm.eval()
    expected = _sigma_max(_unrolled_matrix(norm, (5,)))
    bound, _ = spectral_product_bound(norm, torch.randn(2, 5, dtype=torch.float64))
    assert bound == pytest.approx(expected, rel=1e-12)


def test_max_pooling_bound_and_overlap_rejection():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 1)
    ).double()
    x = torch.randn(64, 1, 4, 4, dtype=torch.float64)
    upper, layers = spectral_product_bound(net, x)
    assert [layer.spectral_norm for layer in layers][1] == 1.0
    assert pair_ratio_lower_bound(net, x, x.flip(0)) <= upper
    overlapping = nn.Sequential(nn.MaxPool2d(3, stride=1), nn.Flatten())
    with pytest.raises(GenlabError, match="overlapping"):
        spectral_product_bound(overlapping, torch.randn(1, 1, 5, 5))
