"""Licence and citation of each public dataset medscreen reads (from ``shared/data/README.md``).

Plain data keyed like :data:`medscreen.datasets.registry.READERS`: a model
card names every dataset its model learnt from with these (CC BY and ODC-By
data ask for attribution). Imports nothing.
"""

from __future__ import annotations

__all__ = ["DATASET_CREDITS"]

#: dataset → {"name", "licence", "citation"}
DATASET_CREDITS: dict[str, dict[str, str]] = {
    "busi": {
        "name": "BUSI",
        "licence": "CC0 / CC BY 4.0",
        "citation": "Al-Dhabyani W. et al., Dataset of breast ultrasound images, Data in Brief 28:104863 (2020), "
                    "doi:10.1016/j.dib.2019.104863",
    },
    "bus-bra": {
        "name": "BUS-BRA",
        "licence": "permissive, citation required (the dataset's LICENSE.txt)",
        "citation": "Gómez-Flores W. et al., BUS-BRA: a breast ultrasound dataset for assessing computer-aided "
                    "diagnosis systems, Medical Physics (2024), doi:10.5281/zenodo.7730709",
    },
    "idrid": {
        "name": "IDRiD",
        "licence": "CC BY 4.0",
        "citation": "Porwal P. et al., Data 3(3):25 (2018), doi:10.3390/data3030025",
    },
    "acrima": {
        "name": "ACRIMA",
        "licence": "CC BY 4.0",
        "citation": "Diaz-Pinto A. et al., BioMedical Engineering OnLine 18:29 (2019), doi:10.1186/s12938-019-0649-y",
    },
    "grape": {
        "name": "GRAPE",
        "licence": "CC0 data / CC BY 4.0 paper",
        "citation": "Huang X. et al., Scientific Data 10:520 (2023), doi:10.1038/s41597-023-02424-4",
    },
    "hygd": {
        "name": "HYGD",
        "licence": "Open Data Commons Attribution (ODC-By 1.0)",
        "citation": "Abramovich O. et al., Hillel Yaffe Glaucoma Dataset, PhysioNet (2025), doi:10.13026/z0ak-km33; "
                    "also cite the GONet paper and PhysioNet (Goldberger et al., Circulation 2000)",
    },
}
