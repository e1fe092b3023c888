"""Pure image work: sniff, probe, decode at the right scale, shape, encode.

Takes bytes and returns bytes and facts. Knows nothing of AWS, storage or settings: the
caller passes the allowed formats, the pixel limit and the specs. Every verdict about the
bytes themselves (not an image, too big, damaged) is a failures.Rejected with a stable code.

One module a step, as the upload variants and on-the-fly renders run them:

    sniffing   the real format, from magic bytes          (Pillow-free)
    probing    validate from the header: size, frames, orientation, memory
    cost       the memory a decode and its outputs take   (Pillow-free)
    decoding   decode once at scale, to the working colour, reduced and oriented
    shaping    every output side by side: resample, crop, rotate
    encoding   the format's options and a fitting colour profile
    knowing    what an upload's picture is like, from a glance at its decode:
      placeholder  ThumbHash and the average and dominant colours
      fingerprint  64-bit dHash, and its bands for the duplicate index (Pillow-free bands)
      focus        where the subject is: the focal point cover crops centre on
    pipeline   make_upload, make_variants, render, without_metadata: the steps in order

and two tables the rest of the service uses too, without Pillow: `geometry` (what a fit
makes of a size) and `formats` (names, media types, extensions).

Importing the package loads no Pillow, so that the API's render planning and the settings
can use `geometry` and `formats` at cold start; the names below that need Pillow load
their module on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

from chalicelib.failures import IMAGE_VERDICTS, Rejected
from chalicelib.imaging.cost import estimate_memory
from chalicelib.imaging.facts import Encoded, Knowledge, Probe
from chalicelib.imaging.sniffing import known_elsewhere, sniff

if TYPE_CHECKING:
    from chalicelib.imaging.pipeline import (
        Made,
        make_upload,
        make_variants,
        render,
        without_metadata,
    )
    from chalicelib.imaging.probing import probe

__all__ = [
    "IMAGE_VERDICTS",
    "Encoded",
    "Knowledge",
    "Made",
    "Probe",
    "Rejected",
    "estimate_memory",
    "known_elsewhere",
    "make_upload",
    "make_variants",
    "probe",
    "render",
    "sniff",
    "without_metadata",
]

_WITH_PILLOW = {
    "probe": "probing",
    "Made": "pipeline",
    "make_upload": "pipeline",
    "make_variants": "pipeline",
    "render": "pipeline",
    "without_metadata": "pipeline",
}


def __getattr__(name: str) -> Any:
    if name not in _WITH_PILLOW:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WITH_PILLOW[name]}"), name)
    globals()[name] = value  # found by the next lookup without coming here
    return value
