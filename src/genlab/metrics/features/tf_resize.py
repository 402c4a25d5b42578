"""TensorFlow 1 bilinear resizing, reproduced in PyTorch.

The reference FID code (Heusel et al., 2017, TTUR) feeds images of any size to the Inception graph
of 2015-12-05, whose first operation is ``tf.image.resize_bilinear(x, [299, 299])`` with
``align_corners=False`` and, in TensorFlow 1, no half-pixel centres. That resize differs from
``torch.nn.functional.interpolate(mode="bilinear")`` (which uses half-pixel centres), and the
difference moves FID by more than the differences between many published models, so FID features
must be computed with this exact sampling grid.
"""

from __future__ import annotations

import torch

from genlab.errors import GenlabError


def _source_coordinates(in_size: int, out_size: int, device: torch.device):
    """Sampling positions of TF1's legacy grid along one axis.

    Output index ``d`` reads source position ``s = d · (in_size / out_size)``, the scale and the
    product both in float32 as TensorFlow computes them. The value there blends the two source
    pixels ``floor(s)`` and ``min(floor(s) + 1, in_size - 1)`` with weight ``s - floor(s)``: with no
    half-pixel shift the grid is anchored at the top-left pixel, and the right/bottom edge repeats.
    """
    scale = torch.tensor(in_size, dtype=torch.float32) / float(out_size)
    source = torch.arange(out_size, dtype=torch.float32, device=device) * scale.to(device)
    lower = source.floor()
    fraction = source - lower
    lower_index = lower.to(torch.long).clamp_(max=in_size - 1)
    upper_index = (lower_index + 1).clamp_(max=in_size - 1)
    return lower_index, upper_index, fraction


def tf1_bilinear_resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize a batch like TF1's ``tf.image.resize_bilinear(align_corners=False)``.

    For output pixel (i, j) with source position (y, x) = (i·H/H', j·W/W') (no half-pixel
    centres), neighbours y0 = ⌊y⌋, y1 = min(y0 + 1, H - 1) (likewise x0, x1) and weights
    a = y - y0, b = x - x0::

        top    = I[y0, x0] + (I[y0, x1] - I[y0, x0]) · b
        bottom = I[y1, x0] + (I[y1, x1] - I[y1, x0]) · b
        out    = top + (bottom - top) · a

    evaluated in that order, as TensorFlow does, so float32 results match it closely. No
    anti-aliasing is applied when shrinking (TF1 applies none).

    Parameters
    ----------
    images
        Floating tensor N×C×H×W (float32 or float64; values of any range).
    size
        Output size ``S`` (square) or ``(H', W')``.

    Returns
    -------
    torch.Tensor
        N×C×H'×W' tensor of the input's dtype and device.
    """
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise GenlabError("tf1_bilinear_resize expects a tensor of shape N×C×H×W")
    if images.dtype not in (torch.float32, torch.float64):
        raise GenlabError(
            f"tf1_bilinear_resize expects float32 or float64 images, got {images.dtype}; "
            "convert uint8 images with .float() first"
        )
    out_h, out_w = (size, size) if isinstance(size, int) else size
    if out_h < 1 or out_w < 1:
        raise GenlabError(f"resize target must be at least 1×1, got {out_h}×{out_w}")
    in_h, in_w = images.shape[-2:]
    if (in_h, in_w) == (out_h, out_w):
        # Scale 1 samples every pixel with weight 0 on its neighbour: the identity, exactly.
        return images

    x0, x1, wx = _source_coordinates(in_w, out_w, images.device)
    y0, y1, wy = _source_coordinates(in_h, out_h, images.device)
    wx = wx.to(images.dtype)
    wy = wy.to(images.dtype).view(-1, 1)

    # Blend along the width first for every source row, then blend the two rows each output row
    # needs: the same operation order as TensorFlow's kernel.
    left = images.index_select(3, x0)
    rows = left + (images.index_select(3, x1) - left) * wx
    top = rows.index_select(2, y0)
    return top + (rows.index_select(2, y1) - top) * wy
