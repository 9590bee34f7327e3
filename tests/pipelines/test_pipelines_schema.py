"""The screening result schema: JSON round trip, required keys, refusal of findings on rejected images."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from medscreen.pipelines.schema import (
    ADVICE,
    DISCLAIMER,
    SCHEMA_VERSION,
    BreastClassFinding,
    DiscFinding,
    GlaucomaFinding,
    LesionFinding,
    ModelVersion,
    ProgressionFinding,
    ScreeningResult,
)


def _fundus_result() -> ScreeningResult:
    return ScreeningResult(
        source="eye.jpg", modality="fundus", detected_modality="fundus", modality_confidence=0.93, gradable=True,
        advice="refer", reasons=["glaucoma probability 0.91 ≥ 0.55", "signs of progression: earlier review"],
        disc=DiscFinding(found=True, centre_x=236.4, centre_y=664.1, diameter_px=141.3, area_px=15688.0,
                         bbox=[170, 600, 300, 730], crop_box=[81, 509, 392, 820]),
        glaucoma=GlaucomaFinding(probability=0.9119625198, threshold=0.5481075, positive=True),
        progression=ProgressionFinding(probability=0.71, threshold=0.354361, progressing=True),
        models={"disc": ModelVersion(file="disc.onnx", sha256="83" * 32)},
        timings_ms={"decode": 12.5, "quality": 14.0, "disc": 80.25, "total": 120.0},
    )


def _ultrasound_result() -> ScreeningResult:
    return ScreeningResult(
        source=None, modality="ultrasound", detected_modality="ultrasound", modality_confidence=0.66, gradable=True,
        advice="refer", reasons=["looks malignant"],
        lesion=LesionFinding(found=True, area_px=36107.0, area_fraction=0.182, bbox=[41, 111, 287, 323]),
        breast_class=BreastClassFinding(probabilities={"normal": 0.001, "benign": 0.21, "malignant": 0.789},
                                        label="malignant"),
        backend="torch",
    )


@pytest.mark.parametrize("make", [_fundus_result, _ultrasound_result])
def test_json_round_trip_is_exact(make):
    result = make()
    text = result.model_dump_json()
    again = ScreeningResult.model_validate_json(text)
    assert again == result
    assert again.model_dump_json() == text


def test_json_has_the_documented_keys():
    data = json.loads(_fundus_result().model_dump_json())
    for key in ("schema_version", "modality", "gradable", "advice", "reasons", "disclaimer", "models", "backend",
                "timings_ms", "disc", "glaucoma", "progression", "lesion", "breast_class", "quality_reasons"):
        assert key in data, key
    assert data["schema_version"] == SCHEMA_VERSION == "1.5"
    assert {"confidence", "size_ratio", "eye"} <= set(data["disc"]) and data["progression"]["experimental"] is False
    assert data["glaucoma"]["probability"] == pytest.approx(0.9119625198)
    assert data["progression"]["probability"] == 0.71 and data["disc"]["diameter_px"] == 141.3
    assert data["disclaimer"] == DISCLAIMER and "not a diagnosis" in DISCLAIMER
    us = json.loads(_ultrasound_result().model_dump_json())
    assert us["breast_class"]["probabilities"]["malignant"] == 0.789 and us["lesion"]["bbox"] == [41, 111, 287, 323]


def test_json_schema_documents_every_field():
    schema = ScreeningResult.model_json_schema()
    assert {"schema_version", "modality", "gradable", "advice", "reasons", "glaucoma", "breast_class"} <= set(
        schema["properties"])
    assert tuple(schema["properties"]["advice"]["enum"]) == ADVICE == ("refer", "review", "rescreen", "routine")


def test_a_rejected_image_cannot_carry_findings_or_other_advice():
    base = {"modality": "fundus", "detected_modality": "unknown", "modality_confidence": 0.9, "gradable": False,
            "reasons": ["this does not look like a retinal fundus photo"]}
    ok = ScreeningResult(**base, advice="rescreen")
    assert ok.glaucoma is None and ok.disc is None
    with pytest.raises(ValidationError, match="ungradable"):
        ScreeningResult(**base, advice="rescreen",
                        glaucoma=GlaucomaFinding(probability=0.9, threshold=0.5, positive=True))
    with pytest.raises(ValidationError, match="ungradable"):
        ScreeningResult(**base, advice="routine")


def test_values_out_of_range_are_refused():
    with pytest.raises(ValidationError):
        GlaucomaFinding(probability=1.5, threshold=0.5, positive=True)
    with pytest.raises(ValidationError):
        ScreeningResult(modality="xray", detected_modality="unknown", modality_confidence=0.5, gradable=False,
                        advice="rescreen", reasons=[])


def test_importing_medscreen_stays_light_and_screen_is_exported_lazily():
    code = ("import sys, medscreen; heavy = {'onnxruntime', 'torch', 'pandas'} & set(sys.modules); "
            "assert not heavy, heavy; from medscreen import screen, ScreeningResult; "
            "assert callable(screen) and ScreeningResult.__name__ == 'ScreeningResult'; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
