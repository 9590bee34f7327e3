"""Camera-appearance randomisation for fundus photos that MONAI does not provide.

MONAI covers gain, gamma, blur, noise, bias fields and histogram shifts; it
has nothing for two artefacts of the camera's field of view:

* :class:`RandRimFlared` — a bright flash crescent along the edge of the field
  (HYGD's Topcon Triton), as bright as a disc: it most often fooled the disc model.
* :class:`RandFieldEdged` — the black edge of the field cutting into a disc
  crop. In HYGD it shows in most normal eyes' crops and few glaucomatous ones
  (the disc sits nearer the edge in their photos), so a classifier learns
  "black corner → normal"; drawing it on crops of both classes removes the cue.

and two domain-generalisation transforms for a classifier trained on one or two
cameras that must work on others:

* :class:`RandDesaturated` — colour saturation pulled towards grey, so the hue
  of one camera's sensor and flash is not a cue.
* :class:`RandConvd` — a random convolution of the image blended with it
  (RandConv: Xu et al., "Robust and Generalizable Visual Representation
  Learning via Random Convolutions", ICLR 2021): random local texture and
  colour mixing that keeps shapes (the cup and rim) and scrambles a camera's
  optics and colour processing.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import MapTransform, RandomizableTransform

__all__ = ["RandConvd", "RandDesaturated", "RandFieldEdged", "RandRimFlared"]


class RandRimFlared(RandomizableTransform, MapTransform):
    """Add a bright crescent along a random arc of the fundus field-of-view edge.

    Args:
        keys: image keys (channel-first float arrays in [0, 1]).
        prob: probability of adding a flare to a sample.
        strength: range of the flare's peak added brightness (0–1 scale).
        width: range of the flare's width as a fraction of the field's radius.
        arc: range of the flare's angular extent in radians.

    The field of view is the set of pixels brighter than 0.04 in any channel;
    the flare decays with the distance from the field's edge and is windowed
    to an arc around a random angle. Views without a visible field edge (tight
    disc crops) are returned unchanged.
    """

    def __init__(
        self,
        keys: tuple[str, ...] | str,
        prob: float = 0.25,
        strength: tuple[float, float] = (0.3, 0.9),
        width: tuple[float, float] = (0.04, 0.2),
        arc: tuple[float, float] = (0.6, 2.5),
    ):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        if not 0 <= strength[0] <= strength[1]:
            raise ValueError(f"strength must be an increasing pair of non-negative numbers, got {strength}")
        self.strength, self.width, self.arc = strength, width, arc

    def __call__(self, data: Mapping[Hashable, np.ndarray]) -> dict[Hashable, np.ndarray]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        amp = self.R.uniform(*self.strength)
        width = self.R.uniform(*self.width)
        angle, arc = self.R.uniform(-np.pi, np.pi), self.R.uniform(*self.arc)
        tint = self.R.uniform(0.7, 1.0, size=3)
        tint[0] = 1.0  # flash is white-to-yellow: red strongest
        for key in self.key_iterator(d):
            img = np.asarray(d[key], dtype=np.float32)
            d[key] = self._flare(img, amp, width, angle, arc, tint)
        return d

    @staticmethod
    def _flare(img: np.ndarray, amp: float, width: float, angle: float, arc: float, tint: np.ndarray) -> np.ndarray:
        fov = img.max(axis=0) > 0.04
        if fov.all() or not fov.any():  # no field edge in view
            return img
        ys, xs = np.nonzero(fov)
        cy, cx = ys.mean(), xs.mean()
        radius = max(ys.max() - ys.min(), xs.max() - xs.min()) / 2.0
        h, w = fov.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.hypot(yy - cy, xx - cx) / max(radius, 1.0)
        theta = np.arctan2(yy - cy, xx - cx)
        dtheta = np.angle(np.exp(1j * (theta - angle)))
        window = np.exp(-0.5 * (dtheta / (arc / 2.0)) ** 2)
        field = amp * np.exp(-np.clip(1.0 - r, 0, None) / width) * window * fov
        out = img.copy()
        for c in range(min(3, img.shape[0])):
            out[c] = np.clip(out[c] + field * tint[c], 0.0, 1.0)
        return out


class RandFieldEdged(RandomizableTransform, MapTransform):
    """Black out the part of a crop beyond a random circular field-of-view edge (the camera's surround).

    Args:
        keys: image keys (channel-first float arrays in [0, 1]).
        prob: probability of adding an edge to a sample.
        depth: range of how far the edge reaches into the crop, as a share of its side.
        radius: range of the field's radius, in crop sides (large: a gently curved edge).

    The field's centre lies outside the crop in a random direction, placed so
    that its boundary cuts ``depth`` of the side into the crop.
    """

    def __init__(self, keys: tuple[str, ...] | str, prob: float = 0.3, depth: tuple[float, float] = (0.03, 0.28),
                 radius: tuple[float, float] = (1.5, 4.0)):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        if not 0 <= depth[0] <= depth[1] < 1:
            raise ValueError(f"depth must be an increasing pair in [0, 1), got {depth}")
        self.depth, self.radius = depth, radius

    def __call__(self, data: Mapping[Hashable, np.ndarray]) -> dict[Hashable, np.ndarray]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        depth, radius, angle = self.R.uniform(*self.depth), self.R.uniform(*self.radius), self.R.uniform(-np.pi, np.pi)
        for key in self.key_iterator(d):
            img = np.asarray(d[key], dtype=np.float32)
            h, w = img.shape[-2:]
            side = float(max(h, w))
            # the crop's centre sits (radius - (0.5 - depth)) sides from the field's centre, towards ``angle``
            dist = (radius - (0.5 - depth)) * side
            cy, cx = h / 2 - dist * np.sin(angle), w / 2 - dist * np.cos(angle)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            inside = np.hypot(yy - cy, xx - cx) <= radius * side
            d[key] = img * inside
        return d


class RandDesaturated(RandomizableTransform, MapTransform):
    """Blend an RGB image towards its grey (luma) version by a random amount.

    Args:
        keys: image keys (channel-first float arrays in [0, 1], three channels).
        prob: probability of desaturating a sample.
        amount: range of the blend weight of grey (1 = fully grey).
    """

    def __init__(self, keys: tuple[str, ...] | str, prob: float = 0.3, amount: tuple[float, float] = (0.3, 1.0)):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        if not 0 <= amount[0] <= amount[1] <= 1:
            raise ValueError(f"amount must be an increasing pair in [0, 1], got {amount}")
        self.amount = amount

    def __call__(self, data: Mapping[Hashable, np.ndarray]) -> dict[Hashable, np.ndarray]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        w = self.R.uniform(*self.amount)
        for key in self.key_iterator(d):
            img = np.asarray(d[key], dtype=np.float32)
            if img.shape[0] != 3:
                continue
            grey = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
            d[key] = (1.0 - w) * img + w * grey[None]
        return d


class RandConvd(RandomizableTransform, MapTransform):
    """RandConv: convolve with a random filter bank, match the original's statistics, blend.

    Args:
        keys: image keys (channel-first float arrays in [0, 1]).
        prob: probability of transforming a sample.
        kernel_sizes: odd kernel sizes to draw from (1 mixes colours only).
        mix: range of the blend weight of the convolved image.

    The filter is ``C×C×k×k`` with He-normal weights (std ``1/sqrt(C·k²)``);
    the image is reflection-padded (no dark border), and each output channel is rescaled to the mean and standard deviation of the
    input channel so that exposure stays plausible. Hand-written: MONAI has no
    random-convolution transform.
    """

    def __init__(self, keys: tuple[str, ...] | str, prob: float = 0.5, kernel_sizes: tuple[int, ...] = (1, 3, 5),
                 mix: tuple[float, float] = (0.2, 0.8)):
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        if not kernel_sizes or any(k < 1 or k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd positive integers, got {kernel_sizes}")
        if not 0 <= mix[0] <= mix[1] <= 1:
            raise ValueError(f"mix must be an increasing pair in [0, 1], got {mix}")
        self.kernel_sizes, self.mix = tuple(kernel_sizes), mix

    def __call__(self, data: Mapping[Hashable, np.ndarray]) -> dict[Hashable, np.ndarray]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        k = int(self.R.choice(self.kernel_sizes))
        alpha = self.R.uniform(*self.mix)
        for key in self.key_iterator(d):
            img = np.asarray(d[key], dtype=np.float32)
            c = img.shape[0]
            weight = self.R.normal(0.0, 1.0 / np.sqrt(c * k * k), size=(c, c, k, k)).astype(np.float32)
            with torch.no_grad():
                padded = F.pad(torch.from_numpy(img)[None], (k // 2,) * 4, mode="reflect") if k > 1 else \
                    torch.from_numpy(img)[None]
                out = F.conv2d(padded, torch.from_numpy(weight))[0].numpy()
            mean, std = img.mean(axis=(1, 2), keepdims=True), img.std(axis=(1, 2), keepdims=True)
            o_mean, o_std = out.mean(axis=(1, 2), keepdims=True), out.std(axis=(1, 2), keepdims=True)
            out = (out - o_mean) / np.maximum(o_std, 1e-6) * std + mean
            d[key] = np.clip((1.0 - alpha) * img + alpha * out, 0.0, 1.0)
        return d
