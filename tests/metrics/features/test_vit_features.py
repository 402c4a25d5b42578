"""DINOv2 and CLIP feature extractors against transformers' implementations and PIL.

transformers builds ``Dinov2Model`` and ``CLIPVisionModelWithProjection`` with random weights (no
download); their state dicts go through genlab's converter and loader, and genlab's networks must
give the same embeddings to 1e-5 on real MNIST and CIFAR-10 images. The configurations are small
for CPU speed, except one that has the real hyper-parameters of DINOv2 ViT-S/14 (the smallest).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data.cifar10 import load_cifar10_jpeg
from genlab.errors import DataUnavailableError, GenlabError
from genlab.metrics.features import clip, dinov2, vit_models
from genlab.metrics.features.pil_resize import (
    pil_bicubic_float,
    pil_bicubic_uint8,
    resize_short_side_and_crop,
)
from genlab.metrics.features.registry import get_extractor
from genlab.metrics.features.vit import VisionTransformer, layout
from genlab.metrics.sources import resolve_source

transformers = pytest.importorskip("transformers")

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def mnist_images(shared_data_dir) -> torch.Tensor:
    source = resolve_source("mnist:test", n=6, data_dir=shared_data_dir)
    return torch.cat(list(source.batches(6)))


@pytest.fixture(scope="module")
def cifar_images(shared_data_dir) -> torch.Tensor:
    return load_cifar10_jpeg("test", data_dir=shared_data_dir, limit=6).images


@pytest.fixture(scope="module")
def real_images(mnist_images, cifar_images) -> list[torch.Tensor]:
    return [mnist_images, cifar_images]


# --- Preprocessing against PIL and transformers' image processor -------------------------------


def _pil_rgb(image: torch.Tensor) -> Image.Image:
    array = image.numpy()
    if array.shape[0] == 1:
        return Image.fromarray(array[0]).convert("RGB")
    return Image.fromarray(array.transpose(1, 2, 0))


def test_dinov2_preprocessing_is_dgm_evals_pil_pipeline(real_images):
    for images in real_images:
        expected = []
        for image in images:
            # dgm-eval: TF.Resize((224, 224), BICUBIC) on the RGB PIL image, ToTensor, Normalize.
            resized = np.asarray(_pil_rgb(image).resize((224, 224), Image.Resampling.BICUBIC))
            x = torch.from_numpy(resized.astype(np.float32) / 255.0).permute(2, 0, 1)
            mean = torch.tensor(dinov2.IMAGENET_MEAN).view(3, 1, 1)
            std = torch.tensor(dinov2.IMAGENET_STD).view(3, 1, 1)
            expected.append((x - mean) / std)
        torch.testing.assert_close(
            dinov2.preprocess(images), torch.stack(expected), rtol=0, atol=1e-6
        )


def test_dinov2_preprocessing_matches_transformers_image_processor(real_images):
    # transformers' Bit processor (DINOv2's), set to dgm-eval's protocol: a 224×224 bicubic resize
    # of the PIL image, no crop, ImageNet mean/std. (Its own DINOv2 default, short side 256 and a
    # 224 crop, is not what dgm-eval does.) The PIL backend: torchvision is not installed.
    processor = transformers.BitImageProcessorPil(
        size={"height": 224, "width": 224},
        do_center_crop=False,
        resample=Image.Resampling.BICUBIC,
        image_mean=list(dinov2.IMAGENET_MEAN),
        image_std=list(dinov2.IMAGENET_STD),
        do_convert_rgb=True,
    )
    for images in real_images:
        pil = [_pil_rgb(image) for image in images]
        expected = processor(images=pil, return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(dinov2.preprocess(images), expected, rtol=0, atol=1e-6)


def test_clip_preprocessing_matches_transformers_image_processor(real_images):
    processor = transformers.CLIPImageProcessorPil(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}
    )
    for images in real_images:
        pil = [_pil_rgb(image) for image in images]
        expected = processor(images=pil, return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(clip.preprocess(images, 224), expected, rtol=0, atol=1e-6)


def test_short_side_resize_and_centre_crop_of_a_wide_image(cifar_images):
    # 32×48 → short side 224: 224×336, crop columns 56..280 (torchvision's Resize + CenterCrop).
    wide = torch.cat([cifar_images, cifar_images[..., :16]], dim=-1)[:2]
    out = resize_short_side_and_crop(wide, 224)
    for image, got in zip(wide, out, strict=True):
        resized = np.asarray(_pil_rgb(image).resize((336, 224), Image.Resampling.BICUBIC))
        expected = torch.from_numpy(resized[:, 56:280].copy()).permute(2, 0, 1)
        assert torch.equal(got, expected)


def test_pil_resizes_of_grayscale_equal_those_of_its_rgb_copy(mnist_images):
    rgb = mnist_images.expand(-1, 3, -1, -1).contiguous()
    gray = pil_bicubic_uint8(mnist_images, (224, 224))
    assert torch.equal(gray.expand(-1, 3, -1, -1), pil_bicubic_uint8(rgb, (224, 224)))


def test_clean_resize_is_clean_fids_float_pil_resize(cifar_images):
    out = pil_bicubic_float(cifar_images[:2], (299, 299))
    channel = cifar_images[1, 2].numpy().astype(np.float32)
    expected = np.asarray(
        Image.fromarray(channel, mode="F").resize((299, 299), Image.Resampling.BICUBIC)
    ).clip(0, 255)
    np.testing.assert_array_equal(out[1, 2].numpy(), expected)
    assert out.dtype == torch.float32
    assert not torch.equal(out, out.round())


# --- Networks against transformers ------------------------------------------------------------


def _hf_dinov2(*, hidden: int, layers: int, heads: int, image_size: int, swiglu: bool = False):
    config = transformers.Dinov2Config(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        mlp_ratio=4,
        patch_size=14,
        image_size=image_size,
        layerscale_value=0.5,
        use_swiglu_ffn=swiglu,
        attn_implementation="eager",
    )
    torch.manual_seed(0)
    model = transformers.Dinov2Model(config).eval()
    _randomise(model)
    return model


def _randomise(model: torch.nn.Module) -> None:
    # transformers initialises LayerNorms to (1, 0), LayerScale to a constant and the class token
    # to 0: random values everywhere make a wrong mapping of any tensor visible.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter) * 0.2)


def _genlab_config(variant_config, **changes):
    return dataclasses.replace(variant_config, **changes)


def _small_dinov2_config(hf_model, *, pos_offset: float, swiglu: bool = False):
    hidden = hf_model.config.hidden_size
    grid = hf_model.config.image_size // 14
    reference = dinov2.VARIANTS["dinov2-vit-g14" if swiglu else "dinov2-vit-s14"].config
    hidden_mlp = dinov2._swiglu_hidden(hidden) if swiglu else 4 * hidden
    return _genlab_config(
        reference,
        width=hidden,
        depth=hf_model.config.num_hidden_layers,
        heads=hf_model.config.num_attention_heads,
        grid=grid,
        mlp_hidden=hidden_mlp,
        pos_offset=pos_offset,
    )


def _genlab_network(config, tensors) -> VisionTransformer:
    variant = dataclasses.replace(dinov2.VARIANTS["dinov2-vit-s14"], config=config)
    if "visual_projection.weight" in tensors or "visual.proj" in tensors:
        variant = dataclasses.replace(clip.VARIANTS["clip-vit-b32"], config=config)
    converted = vit_models._convert_for(variant, tensors)
    assert converted is not None, "the converted state dict does not fill the layout"
    network = VisionTransformer(config).eval()
    network.load_state_dict(converted, strict=True)
    return network


@pytest.mark.parametrize("swiglu", [False, True], ids=["mlp", "swiglu"])
def test_dinov2_matches_transformers_on_real_images(real_images, swiglu):
    # image_size 224: HF and genlab both use the 16×16 position grid as it is.
    hf = _hf_dinov2(hidden=48, layers=2, heads=3, image_size=224, swiglu=swiglu)
    network = _genlab_network(
        _small_dinov2_config(hf, pos_offset=0.1, swiglu=swiglu), hf.state_dict()
    )
    for images in real_images:
        x = dinov2.preprocess(images)
        with torch.no_grad():
            expected = hf(pixel_values=x).pooler_output  # layernorm(last hidden)[:, 0]
            got = network(x)
        torch.testing.assert_close(got, expected, rtol=0, atol=TOLERANCE)


def test_dinov2_resampled_position_embeddings(mnist_images):
    """Trained at a 37×37 grid (518 px) and run at 16×16, as the released networks are.

    transformers resamples to size (16, 16); DINOv2's own code (which dgm-eval runs) uses the scale
    factor (16 + 0.1)/37, which samples slightly different positions. genlab with offset 0 must
    equal transformers; with 0.1 it must give the official rule's table.
    """
    hf = _hf_dinov2(hidden=24, layers=1, heads=2, image_size=518)
    x = dinov2.preprocess(mnist_images[:2])
    with torch.no_grad():
        expected = hf(pixel_values=x).pooler_output
        plain = _genlab_network(_small_dinov2_config(hf, pos_offset=0.0), hf.state_dict())
        torch.testing.assert_close(plain(x), expected, rtol=0, atol=TOLERANCE)
        official = _genlab_network(_small_dinov2_config(hf, pos_offset=0.1), hf.state_dict())
        shift = official.position_embedding(16) - plain.position_embedding(16)
        assert shift.abs().max() > 1e-2  # the two rules sample visibly different positions
        # The official rule, written out: interpolate with the scale factor, not the size.
        table = hf.embeddings.position_embeddings[:, 1:].reshape(1, 37, 37, 24).permute(0, 3, 1, 2)
        scaled = torch.nn.functional.interpolate(
            table, scale_factor=(16.1 / 37, 16.1 / 37), mode="bicubic", align_corners=False
        )
        resampled = (
            official.position_embedding(16)[:, 1:].reshape(1, 16, 16, 24).permute(0, 3, 1, 2)
        )
        torch.testing.assert_close(resampled, scaled, rtol=0, atol=0)


def test_dinov2_vit_s14_real_architecture_matches_transformers(mnist_images):
    """The real ViT-S/14 hyper-parameters (384 wide, 12 blocks, 6 heads, 518-px position table)."""
    config = transformers.Dinov2Config(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, image_size=518,
        patch_size=14, attn_implementation="eager",
    )  # fmt: skip
    torch.manual_seed(1)
    hf = transformers.Dinov2Model(config).eval()
    _randomise(hf)
    variant = dinov2.VARIANTS["dinov2-vit-s14"]
    converted = vit_models._convert_for(variant, hf.state_dict())
    assert converted is not None
    network = VisionTransformer(dataclasses.replace(variant.config, pos_offset=0.0)).eval()
    network.load_state_dict(converted, strict=True)
    x = dinov2.preprocess(mnist_images[:2])
    with torch.no_grad():
        torch.testing.assert_close(
            network(x), hf(pixel_values=x).pooler_output, rtol=0, atol=TOLERANCE
        )


def _hf_clip(*, hidden: int, layers: int, heads: int, patch: int, image_size: int, embed: int):
    config = transformers.CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        patch_size=patch,
        image_size=image_size,
        projection_dim=embed,
        hidden_act="quick_gelu",
        attn_implementation="eager",
    )
    torch.manual_seed(2)
    model = transformers.CLIPVisionModelWithProjection(config).eval()
    _randomise(model)
    return model


@pytest.mark.parametrize("size", [224, 336])
def test_clip_matches_transformers_on_real_images(real_images, size):
    hf = _hf_clip(
        hidden=48, layers=2, heads=3, patch=32 if size == 224 else 14, image_size=size, embed=20
    )
    config = _genlab_config(
        clip.VARIANTS["clip-vit-b32"].config,
        width=48, depth=2, heads=3, patch=hf.config.patch_size, grid=size // hf.config.patch_size,
        mlp_hidden=192, embed_dim=20,
    )  # fmt: skip
    network = _genlab_network(config, hf.state_dict())
    for images in real_images:
        x = clip.preprocess(images, size)
        with torch.no_grad():
            expected = hf(pixel_values=x).image_embeds
            got = network(x)
        torch.testing.assert_close(got, expected, rtol=0, atol=TOLERANCE)


def test_openai_layout_converts_to_the_same_network(mnist_images):
    """OpenAI's layout (written here from the HF weights by OpenAI's names) gives the same
    network: checks the OpenAI converter's names, fused qkv order and projection orientation."""
    hf = _hf_clip(hidden=48, layers=1, heads=3, patch=32, image_size=224, embed=20)
    sd = hf.state_dict()
    prefix = "vision_model.encoder.layers.0."
    openai = {
        "visual.conv1.weight": sd["vision_model.embeddings.patch_embedding.weight"],
        "visual.class_embedding": sd["vision_model.embeddings.class_embedding"],
        "visual.positional_embedding": sd["vision_model.embeddings.position_embedding.weight"],
        "visual.ln_pre.weight": sd["vision_model.pre_layrnorm.weight"],
        "visual.ln_pre.bias": sd["vision_model.pre_layrnorm.bias"],
        "visual.ln_post.weight": sd["vision_model.post_layernorm.weight"],
        "visual.ln_post.bias": sd["vision_model.post_layernorm.bias"],
        "visual.proj": sd["visual_projection.weight"].t(),
        "logit_scale": torch.ones(()),  # a text-side tensor, ignored
    }
    block = "visual.transformer.resblocks.0."
    for kind in ("weight", "bias"):
        openai[f"{block}attn.in_proj_{kind}"] = torch.cat(
            [sd[f"{prefix}self_attn.{p}_proj.{kind}"] for p in "qkv"]
        )
        openai[f"{block}attn.out_proj.{kind}"] = sd[f"{prefix}self_attn.out_proj.{kind}"]
        openai[f"{block}ln_1.{kind}"] = sd[f"{prefix}layer_norm1.{kind}"]
        openai[f"{block}ln_2.{kind}"] = sd[f"{prefix}layer_norm2.{kind}"]
        openai[f"{block}mlp.c_fc.{kind}"] = sd[f"{prefix}mlp.fc1.{kind}"]
        openai[f"{block}mlp.c_proj.{kind}"] = sd[f"{prefix}mlp.fc2.{kind}"]
    config = _genlab_config(
        clip.VARIANTS["clip-vit-b32"].config,
        width=48, depth=1, heads=3, grid=7, mlp_hidden=192, embed_dim=20,
    )  # fmt: skip
    from_openai = _genlab_network(config, openai)
    x = clip.preprocess(mnist_images[:2], 224)
    with torch.no_grad():
        torch.testing.assert_close(
            from_openai(x), hf(pixel_values=x).image_embeds, rtol=0, atol=TOLERANCE
        )


# --- Variants, weights files, extractors -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dim", "blocks"),
    [
        ("dinov2-vit-s14", 384, 12),
        ("dinov2-vit-b14", 768, 12),
        ("dinov2-vit-l14", 1024, 24),
        ("dinov2-vit-g14", 1536, 40),
        ("clip-vit-b32", 512, 12),
        ("clip-vit-l14-336", 768, 24),
    ],
)
def test_variant_layouts_have_the_published_sizes(name, dim, blocks):
    variant = {**dinov2.VARIANTS, **clip.VARIANTS}[name]
    shapes = layout(variant.config)
    assert variant.config.out_dim == dim
    assert sum(key.endswith(".norm1.weight") for key in shapes) == blocks
    if name == "dinov2-vit-g14":  # SwiGLU, 2/3 of 4×1536 rounded to a multiple of 8
        assert shapes["blocks.0.mlp.w12.weight"] == (2 * 4096, 1536)
    if name == "clip-vit-l14-336":  # 336/14 = 24: 577 positions
        assert shapes["pos_embed"] == (1, 577, 1024)


def _tiny_variant(monkeypatch, name: str, hf_model) -> vit_models.ViTVariant:
    """Shrink a registered variant to the tiny random network, in place for this test."""
    family = dinov2 if name.startswith("dinov2") else clip
    original = family.VARIANTS[name]
    if family is dinov2:
        config = _small_dinov2_config(hf_model, pos_offset=original.config.pos_offset)
    else:
        config = _genlab_config(
            original.config, width=48, depth=1, heads=3, patch=hf_model.config.patch_size,
            grid=hf_model.config.image_size // hf_model.config.patch_size, mlp_hidden=192,
            embed_dim=20,
        )  # fmt: skip
    tiny = dataclasses.replace(original, config=config)
    monkeypatch.setitem(family.VARIANTS, name, tiny)
    extractor_class = {"dinov2-vit-l14": dinov2.vitl14, "clip-vit-l14-336": clip.ViTL14336}[name]
    monkeypatch.setattr(extractor_class, "variant", tiny)
    return tiny


def test_import_then_extract_with_a_random_checkpoint(tmp_path, monkeypatch, mnist_images):
    """`import_weights` on an HF safetensors file installs it; the registered extractor finds it
    and gives the HF model's embeddings; its protocol records the file's SHA-256, unpinned."""
    from safetensors.torch import save_file

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    hf = _hf_dinov2(hidden=48, layers=2, heads=3, image_size=224)
    variant = _tiny_variant(monkeypatch, "dinov2-vit-l14", hf)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, path)
    installed = vit_models.import_weights(path, [variant])
    assert installed == [vit_models.installed_path(variant)]
    extractor = get_extractor("dinov2-vit-l14")
    with torch.no_grad():
        expected = hf(pixel_values=dinov2.preprocess(mnist_images)).pooler_output
    torch.testing.assert_close(extractor(mnist_images), expected, rtol=0, atol=TOLERANCE)
    protocol = extractor.protocol()
    assert protocol["extractor"] == "dinov2-vit-l14"
    assert protocol["weights_pinned"] is False
    from genlab.data.download import sha256_file

    assert protocol["weights_sha256"] == sha256_file(path)


def test_missing_weights_fail_at_once_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataUnavailableError) as caught:
        get_extractor("dinov2-vit-l14")
    message = str(caught.value)
    assert "\n" not in message
    assert "dinov2_vitl14_pretrain.pth" in message
    assert "facebook/dinov2-large" in message
    assert "genlab weights import PATH" in message


def test_a_file_of_no_known_layout_is_refused(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, path)
    with pytest.raises(GenlabError, match="holds no weights of a known feature space"):
        vit_models.import_weights(path, dinov2.VARIANTS.values())


def test_a_damaged_installed_file_is_refused(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    hf = _hf_clip(hidden=48, layers=1, heads=3, patch=14, image_size=336, embed=20)
    variant = _tiny_variant(monkeypatch, "clip-vit-l14-336", hf)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, path)
    (installed,) = vit_models.import_weights(path, [variant])
    tensors = dict(vit_models.load_installed(variant).state_dict)
    tensors["proj"] = tensors["proj"] + 1
    from safetensors import safe_open

    with safe_open(installed, framework="pt") as handle:
        metadata = handle.metadata()
    save_file(tensors, installed, metadata=metadata)
    with pytest.raises(GenlabError, match="damaged"):
        get_extractor("clip-vit-l14-336")


def _dinov2_file_layouts(model) -> tuple[dict, dict]:
    """The model's tensors under the names of the Hub's files and of the official ``.pth``."""
    hub, official = {}, {}
    for key, value in model.state_dict().items():
        renamed = key
        for new, old in (
            (".attention.q_proj.", ".attention.attention.query."),
            (".attention.k_proj.", ".attention.attention.key."),
            (".attention.v_proj.", ".attention.attention.value."),
            (".attention.o_proj.", ".attention.output.dense."),
            (".mlp.down_proj.", ".mlp.weights_out."),
        ):
            renamed = renamed.replace(new, old)
        if ".mlp.gate_proj." not in key and ".mlp.up_proj." not in key:
            hub[renamed] = value
    sd = model.state_dict()
    layers = {key.split(".")[2] for key in sd if key.startswith("encoder.layer.")}
    for layer in layers:
        p = f"encoder.layer.{layer}."
        for kind in ("weight", "bias"):
            hub[f"{p}mlp.weights_in.{kind}"] = torch.cat(
                [sd[f"{p}mlp.gate_proj.{kind}"], sd[f"{p}mlp.up_proj.{kind}"]]
            )
            b = f"blocks.{layer}."
            official[f"{b}attn.qkv.{kind}"] = torch.cat(
                [sd[f"{p}attention.{q}_proj.{kind}"] for q in "qkv"]
            )
            official[f"{b}attn.proj.{kind}"] = sd[f"{p}attention.o_proj.{kind}"]
            official[f"{b}mlp.w12.{kind}"] = hub[f"{p}mlp.weights_in.{kind}"]
            official[f"{b}mlp.w3.{kind}"] = sd[f"{p}mlp.down_proj.{kind}"]
            for norm in ("norm1", "norm2"):
                official[f"{b}{norm}.{kind}"] = sd[f"{p}{norm}.{kind}"]
        official[f"{b}ls1.gamma"] = sd[f"{p}layer_scale1.lambda1"]
        official[f"{b}ls2.gamma"] = sd[f"{p}layer_scale2.lambda1"]
    official.update(
        cls_token=sd["embeddings.cls_token"],
        pos_embed=sd["embeddings.position_embeddings"],
        mask_token=sd["embeddings.mask_token"],
        **{
            "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
            "patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
            "norm.weight": sd["layernorm.weight"],
            "norm.bias": sd["layernorm.bias"],
        },
    )
    return hub, official


def test_dinov2_hub_and_official_file_layouts_give_the_same_network(mnist_images):
    """Real files use the Hub's older names (``attention.attention.query``, SwiGLU
    ``weights_in``) or the official ones (``attn.qkv``, ``ls1.gamma``, ``mlp.w12``); both must
    convert to the network transformers runs (ViT-g's SwiGLU, the variant most names differ in)."""
    hf = _hf_dinov2(hidden=48, layers=2, heads=3, image_size=224, swiglu=True)
    hub, official = _dinov2_file_layouts(hf)
    assert any(".attention.attention.query." in key for key in hub)
    config = _small_dinov2_config(hf, pos_offset=0.1, swiglu=True)
    x = dinov2.preprocess(mnist_images[:3])
    with torch.no_grad():
        expected = hf(pixel_values=x).pooler_output
        for tensors in (hub, official):
            got = _genlab_network(config, tensors)(x)
            torch.testing.assert_close(got, expected, rtol=0, atol=TOLERANCE)


def test_a_file_with_a_pinned_sha256_is_marked_pinned(tmp_path, monkeypatch, mnist_images):
    """A file whose SHA-256 is a variant's pinned one is installed as that release (here a
    random file stands in for OpenAI's ``.pt``, its hash pinned in place of the real one)."""
    from safetensors.torch import save_file

    from genlab.data.download import sha256_file

    monkeypatch.setenv("GENLAB_CACHE_DIR", str(tmp_path / "cache"))
    hf = _hf_clip(hidden=48, layers=1, heads=3, patch=14, image_size=336, embed=20)
    variant = _tiny_variant(monkeypatch, "clip-vit-l14-336", hf)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, path)
    pinned_source = dataclasses.replace(variant.sources[0], sha256=sha256_file(path))
    pinned = dataclasses.replace(variant, sources=(pinned_source,))
    monkeypatch.setattr(clip.ViTL14336, "variant", pinned)
    vit_models.import_weights(path, [pinned])
    extractor = get_extractor("clip-vit-l14-336")
    assert extractor.protocol()["weights_pinned"] is True
    with torch.no_grad():
        expected = hf(pixel_values=clip.preprocess(mnist_images, 336)).image_embeds
    torch.testing.assert_close(extractor(mnist_images), expected, rtol=0, atol=TOLERANCE)
