"""Tests of medscreen.io.images on small images generated in tmp_path."""

from __future__ import annotations

import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from medscreen.errors import ConfigError, ImageReadError
from medscreen.io import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_SUFFIXES,
    ImageInfo,
    decode_image,
    file_sha256,
    read_image,
    read_image_info,
    read_mask,
)

# ----------------------------------------------------------------------------- helpers


def _ramp(h: int = 12, w: int = 16) -> np.ndarray:
    """uint8 grey ramp with distinct values."""
    return (np.arange(h * w, dtype=np.uint16).reshape(h, w) % 256).astype(np.uint8)


def _save(path: Path, im: Image.Image, **kwargs: object) -> Path:
    im.save(path, **kwargs)
    return path


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose IHDR claims ``width``×``height`` (no real pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _write_dicom(path: Path, arr: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 12, **attrs: object) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.set_pixel_data(arr, photometric, bits)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.save_as(path, enforce_file_format=True)
    return path


# ----------------------------------------------------------------------------- formats and modes


def test_png_grey_roundtrip_and_modes(tmp_path: Path) -> None:
    ramp = _ramp()
    path = _save(tmp_path / "grey.png", Image.fromarray(ramp, mode="L"))
    grey = read_image(path, mode="gray")
    rgb = read_image(path)
    assert grey.dtype == np.uint8 and grey.shape == (12, 16)
    np.testing.assert_array_equal(grey, ramp)
    assert rgb.shape == (12, 16, 3)
    np.testing.assert_array_equal(rgb[..., 1], ramp)
    assert read_image_info(path) == ImageInfo(str(path), 16, 12, "L", "PNG")


def test_png_rgb_roundtrip_and_grey_is_luma(tmp_path: Path) -> None:
    rgb = np.stack([_ramp(), 255 - _ramp(), np.full((12, 16), 7, np.uint8)], axis=-1)
    path = _save(tmp_path / "colour.png", Image.fromarray(rgb, mode="RGB"))
    np.testing.assert_array_equal(read_image(path), rgb)
    expected = np.array(Image.fromarray(rgb, mode="RGB").convert("L"))
    np.testing.assert_array_equal(read_image(path, mode="gray"), expected)


def test_png_rgba_and_la_alpha_composited_on_black(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:, :2, 3] = 255  # left opaque, right transparent
    path = _save(tmp_path / "rgba.png", Image.fromarray(rgba, mode="RGBA"))
    out = read_image(path)
    assert out.shape == (4, 4, 3)
    assert (out[:, :2] == 200).all() and (out[:, 2:] == 0).all()

    la = np.stack([np.full((4, 4), 100, np.uint8), np.full((4, 4), 128, np.uint8)], axis=-1)
    path = _save(tmp_path / "la.png", Image.fromarray(la, mode="LA"))
    assert (read_image(path, mode="gray") == 50).all()


def test_png_palette_is_expanded(tmp_path: Path) -> None:
    im = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    out = read_image(_save(tmp_path / "pal.png", im))
    np.testing.assert_array_equal(out[0, 1], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])


def test_png_one_bit_gives_0_and_255(tmp_path: Path) -> None:
    bits = np.array([[True, False], [False, True]])
    out = read_image(_save(tmp_path / "bits.png", Image.fromarray(bits)), mode="gray")
    np.testing.assert_array_equal(out, [[255, 0], [0, 255]])


def test_png_16_bit_is_min_max_scaled(tmp_path: Path) -> None:
    arr = np.array([[1000, 2000], [3000, 4000]], np.uint16)
    path = _save(tmp_path / "deep.png", Image.fromarray(arr))
    out = read_image(path, mode="gray")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 85], [170, 255]])


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10] = 255  # top half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = _save(tmp_path / "rot.jpg", Image.fromarray(stored), exif=exif.tobytes(), quality=95)
    out = read_image(path)
    assert out.shape == (40, 20, 3)
    assert out[:, 12:].mean() > 200 and out[:, :8].mean() < 50  # top became right
    info = read_image_info(path)
    assert (info.width, info.height, info.format) == (20, 40, "JPEG")


def test_tiff_palette_mask_values_0_1(tmp_path: Path) -> None:
    values = np.zeros((6, 8), np.uint8)
    values[2:4, 3:6] = 1
    im = Image.fromarray(values, mode="P")
    im.putpalette([0, 0, 0, 1, 1, 1] + [0] * 762)
    path = _save(tmp_path / "IDRiD_01_OD.tif", im)
    assert read_image_info(path).format == "TIFF"
    np.testing.assert_array_equal(read_mask(path), values == 1)


@pytest.mark.parametrize(("suffix", "kwargs"), [(".bmp", {}), (".webp", {"lossless": True}), (".tiff", {})])
def test_bmp_webp_tiff_roundtrip(tmp_path: Path, suffix: str, kwargs: dict) -> None:
    rgb = np.stack([_ramp(), _ramp()[::-1], 255 - _ramp()], axis=-1)
    path = _save(tmp_path / f"img{suffix}", Image.fromarray(rgb), **kwargs)
    np.testing.assert_array_equal(read_image(path), rgb)


def test_format_is_detected_by_content_not_suffix(tmp_path: Path) -> None:
    path = _save(tmp_path / "really_a_png.jpg", Image.fromarray(_ramp(), mode="L"), format="PNG")
    assert read_image_info(path).format == "PNG"
    np.testing.assert_array_equal(read_image(path, mode="gray"), _ramp())


def test_decode_image_matches_read_image(tmp_path: Path) -> None:
    path = _save(tmp_path / "a.png", Image.fromarray(_ramp(), mode="L"))
    np.testing.assert_array_equal(decode_image(path.read_bytes(), name="a.png"), read_image(path))


# ----------------------------------------------------------------------------- DICOM


def test_dicom_monochrome2_16_bit(tmp_path: Path) -> None:
    arr = np.array([[0, 1024], [2048, 4095]], np.uint16)
    path = _write_dicom(tmp_path / "us.dcm", arr)
    out = read_image(path, mode="gray")
    assert out.dtype == np.uint8
    assert out[0, 0] == 0 and out[1, 1] == 255 and out[0, 0] < out[0, 1] < out[1, 0] < out[1, 1]
    assert read_image_info(path) == ImageInfo(str(path), 2, 2, "I;16", "DICOM")
    assert read_image(path).shape == (2, 2, 3)


def test_dicom_monochrome1_is_inverted(tmp_path: Path) -> None:
    arr = np.array([[0, 4095]], np.uint16)
    out = read_image(_write_dicom(tmp_path / "m1.dcm", arr, "MONOCHROME1"), mode="gray")
    np.testing.assert_array_equal(out, [[255, 0]])


def test_dicom_rescale_and_window(tmp_path: Path) -> None:
    arr = np.array([[0, 1000, 1050, 1100, 3000]], np.uint16)
    path = _write_dicom(
        tmp_path / "ct.dcm", arr, RescaleSlope=1, RescaleIntercept=-1000, WindowCenter=50, WindowWidth=100
    )
    out = read_image(path, mode="gray")[0]
    assert out[0] == 0 and out[1] == 0 and out[3] == 255 and out[4] == 255
    assert 100 < out[2] < 155  # centre of the window maps to mid-grey


def test_dicom_multi_frame_gives_first_frame_and_no_suffix(tmp_path: Path) -> None:
    frames = np.stack([np.zeros((3, 4), np.uint8), np.full((3, 4), 9, np.uint8)])
    frames[0, 0, 0] = 200
    path = _write_dicom(tmp_path / "cine", frames, bits=8)
    assert path.suffix == "" and ".dcm" in SUPPORTED_SUFFIXES
    out = read_image(path, mode="gray")
    assert out.shape == (3, 4) and out[0, 0] == 255 and out[1, 1] == 0


def test_dicom_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = [255, 0, 0]
    rgb[1, 2] = [0, 0, 255]
    path = _write_dicom(tmp_path / "colour.dcm", rgb, "RGB", bits=8)
    np.testing.assert_array_equal(read_image(path), rgb)
    assert read_image_info(path).mode == "RGB"


# ----------------------------------------------------------------------------- masks


def test_mask_union_of_several_files(tmp_path: Path) -> None:
    a = np.zeros((5, 6), np.uint8)
    b = np.zeros((5, 6), np.uint8)
    a[0, 0] = 255
    b[4, 5] = 255
    pa = _save(tmp_path / "benign (1)_mask.png", Image.fromarray(a, mode="L"))
    pb = _save(tmp_path / "benign (1)_mask_1.png", Image.fromarray(b, mode="L"))
    mask = read_mask([pa, pb])
    assert mask.dtype == bool and mask.shape == (5, 6)
    assert mask.sum() == 2 and mask[0, 0] and mask[4, 5]


def test_mask_rgb_rgba_and_one_bit(tmp_path: Path) -> None:
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 3] = 255  # alpha everywhere must not count
    rgba[1, 1, :3] = [0, 0, 255]
    assert read_mask(_save(tmp_path / "m_rgba.png", Image.fromarray(rgba, mode="RGBA"))).sum() == 1
    assert read_mask(_save(tmp_path / "m_rgb.png", Image.fromarray(rgba[..., :3], mode="RGB")))[1, 1]
    bits = np.eye(3, dtype=bool)
    np.testing.assert_array_equal(read_mask(_save(tmp_path / "m_1.png", Image.fromarray(bits))), bits)


def test_mask_is_not_min_max_scaled(tmp_path: Path) -> None:
    grey = np.full((2, 2), 1, np.uint8)  # all foreground; min-max would make it empty
    assert read_mask(_save(tmp_path / "ones.png", Image.fromarray(grey, mode="L"))).all()


def test_mask_size_mismatch_names_files(tmp_path: Path) -> None:
    pa = _save(tmp_path / "x_mask.png", Image.new("L", (6, 5)))
    pb = _save(tmp_path / "x_mask_1.png", Image.new("L", (7, 5)))
    with pytest.raises(ImageReadError, match=r"x_mask\.png.*x_mask_1\.png.*6×5.*7×5"):
        read_mask([pa, pb])


def test_mask_empty_list_is_refused() -> None:
    with pytest.raises(ImageReadError, match="no mask"):
        read_mask([])


# ----------------------------------------------------------------------------- bad inputs


def _truncate(path: Path, keep: float = 0.6) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = _truncate(_save(tmp_path / "benign (3).png", Image.fromarray(noise)))
    with pytest.raises(ImageReadError, match=r"benign \(3\)\.png: file is truncated or corrupt.*re-export"):
        read_image(path)


def test_truncated_jpeg_is_refused_even_if_pillow_allows_truncation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = _truncate(_save(tmp_path / "IDRiD_07.jpg", Image.fromarray(noise), quality=90))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageReadError, match=r"IDRiD_07\.jpg: file is truncated or corrupt"):
        read_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_text_file_named_png_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_text("meow, this is text")
    with pytest.raises(ImageReadError, match=r"cat\.png: not an image.*supported formats are"):
        read_image(path)
    with pytest.raises(ImageReadError, match=r"cat\.png: not an image"):
        read_image_info(path)


def test_empty_missing_and_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(ImageReadError, match=r"empty\.png: file is empty"):
        read_image(empty)
    with pytest.raises(ImageReadError, match=r"ghost\.png: file not found"):
        read_image(tmp_path / "ghost.png")
    with pytest.raises(ImageReadError, match=r"ghost\.png: file not found"):
        read_mask(tmp_path / "ghost.png")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(ImageReadError, match=r"folder\.png: is a directory"):
        read_image_info(folder)
    with pytest.raises(ImageReadError, match=r"<upload>: file is empty"):
        decode_image(b"")


def test_file_over_max_bytes(tmp_path: Path) -> None:
    path = _save(tmp_path / "big.png", Image.fromarray(_ramp(), mode="L"))
    with pytest.raises(ImageReadError, match=r"big\.png: file is .* bytes, over the limit of 10;"):
        read_image(path, max_bytes=10)
    with pytest.raises(ImageReadError, match=r"up\.png: file is .* over the limit"):
        decode_image(path.read_bytes(), name="up.png", max_bytes=10)


def test_huge_png_is_refused_from_header_fast(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_claiming(20000, 20000))
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not leak
        for call in (read_image, read_image_info, read_mask):
            with pytest.raises(ImageReadError) as err:
                call(path)
            message = str(err.value)
            assert message.startswith("huge.png: 20000×20000 = 400,000,000 pixels")
            assert f"{DEFAULT_MAX_PIXELS:,}" in message and "MEDSCREEN_MAX_IMAGE_PIXELS" in message
        with pytest.raises(ImageReadError, match=r"scan\.png: 20000×20000"):
            decode_image(path.read_bytes(), name="scan.png")
    assert time.perf_counter() - start < 2.0
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_raised_pixel_limit_overrides_pillow_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_claiming(20000, 20000))  # above Pillow's own 2 x 89M error limit
    info = read_image_info(path, max_pixels=500_000_000)
    assert (info.width, info.height) == (20000, 20000)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="did you mean 'gray'"):
        decode_image(b"x", mode="grey")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_pixels"):
        decode_image(b"x", max_pixels=0)


def test_file_sha256(tmp_path: Path) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(b"abc")
    assert file_sha256(a) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(ImageReadError, match=r"nope\.bin"):
        file_sha256(tmp_path / "nope.bin")


def test_pillow_settings_restored_after_concurrent_reads(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = _save(tmp_path / "a.png", Image.fromarray(np.zeros((64, 64, 3), np.uint8)))
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_claiming(20000, 20000))
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)

    def work(i: int) -> bool:
        if i % 3 == 0:
            with pytest.raises(ImageReadError):
                read_image(huge)
            return True
        return read_image(path).shape == (64, 64, 3)

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(64)))
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before


def test_non_binary_mask_is_refused_with_a_clear_error(tmp_path):
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    path = tmp_path / "lesion_mask.png"
    Image.fromarray(ramp).save(path)
    with pytest.raises(ImageReadError, match=r"lesion_mask\.png: mask has 16 distinct values"):
        read_mask(path)
