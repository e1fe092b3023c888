"""What imaging learns and makes, as plain data: a probe of a header and an encoded output.
Pillow-free, so that records and plans can name them without paying for Pillow."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    """What the header says about an image, learnt without decoding its pixels."""

    format: str
    mime: str
    width: int  # as stored, before EXIF orientation
    height: int
    frames: int
    has_alpha: bool
    orientation: int  # EXIF orientation 1..8
    mode: str = "RGB"  # Pillow's mode of the decoded first frame, from the header

    @property
    def oriented_size(self) -> tuple[int, int]:
        """The size as a person sees it, after EXIF orientation."""
        if self.orientation >= 5:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class Knowledge:
    """What is learnt about an upload's picture from its decode (see imaging.knowing)."""

    placeholder: str  # ThumbHash, base64
    average: str  # "#rrggbb"
    dominant: str  # "#rrggbb"
    fingerprint: int  # 64-bit dHash
    focus: tuple[float, float]  # fractions of the width and height, from the top left


@dataclass(frozen=True)
class Encoded:
    """One encoded output image, ready to store."""

    name: str
    data: bytes
    width: int
    height: int
    format: str
    content_type: str
    extension: str
