"""Image preparation before OCR: page outline warp, illumination, deskew and text size (OpenCV only).

``preprocess_page`` composes the steps below; each is a plain function of a uint8 image that can be
called and tested on its own, and each returns its input unchanged (cheaply) when the page does not
need it: a clean A4 scan at 300 DPI goes through all of them in about 0.1 s (Tesseract then takes
about 1 s). The steps that look at the ink share one ``InkMap`` (binarisation and connected
components at about half resolution).

1. ``correct_perspective``: find the sheet of paper in a phone photo (a bright quadrilateral on a
   darker background) and warp it to a rectangle.
2. ``normalise_illumination``: divide by the paper's background (a morphological close) to remove
   uneven light and shadows.
3. ``deskew``: rotate away a small skew (up to ``MAX_SKEW_DEGREES``), found by projection profiles.
4. ``remove_rules``: erase table borders and long rules, which make Tesseract skip table cells
   (but not the bars that the letters of a blurred photo run together into).
5. ``remove_specks``: erase isolated dust, which makes Tesseract misread the word next to it.
6. ``scale_for_ocr``: resize so that the lower-case letter height suits Tesseract.

``to_gray`` drops colour ink (blue stamps and signatures) on the way to grayscale.

When the first pass's reading does not decide a document, ``pipeline.second_look`` reads it again
with ``prepare_look``: ``separate_ink`` divides dark-blue and violet ink out of the page (Lab chroma;
print under the ink stays), and a hard photo is flattened, freed of the camera's motion
(``undo_motion_blur``) or sharpened, enlarged and binarised locally.

Right-angle rotation (90/180/270) needs Tesseract's OSD and is decided in ``ocr.ocr_page``, which
only pays for OSD when the page looks turned (``text_line_direction``) or the first reading is poor;
the lines' direction also rules out the turns OSD may guess on a poor reading.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from .models import EngineSettings

log = logging.getLogger(__name__)

MAX_SKEW_DEGREES = 15.0
MIN_SKEW_DEGREES = 0.3  # Tesseract copes with less
TARGET_X_HEIGHT = 24.0  # px; lower-case letters of 10-12 pt text scanned at 300 DPI
MIN_GOOD_X_HEIGHT = 15.0
MAX_GOOD_X_HEIGHT = 48.0
MAX_UPSCALE = 3.0
MAX_OCR_PIXELS = 40_000_000  # upscaling stops here
MIN_LINE_STRENGTH = 1.5  # projection sharpness below which no text lines are assumed
INK_MAP_LONG_SIDE = 1800  # px: the working resolution of the ink analysis (about half an A4 scan)


def preprocess_page(image: np.ndarray, settings: Optional[EngineSettings] = None) -> np.ndarray:
    """Return the grayscale image Tesseract should read for a loaded page (gray or BGR uint8)."""
    gray = to_gray(image)
    gray = correct_perspective(gray)
    return _prepare_flat(normalise_illumination(gray))


def _prepare_flat(gray: np.ndarray, target_x_height: Optional[float] = None) -> np.ndarray:
    """The steps after the illumination: deskew, rules, specks, text size."""
    ink = InkMap.of(gray)
    lines = analyse_text_lines(gray, ink)
    straight = deskew(gray, lines)
    if straight is not gray:
        gray, ink = straight, InkMap.of(straight)
    # rules and specks are both judged on the same map of the page (rules are large blobs in it)
    gray = remove_specks(remove_rules(gray, ink), ink)
    if lines.strength < MIN_LINE_STRENGTH:
        return gray  # no text lines found: blank, a picture or noise, which upscaling would only slow down
    if target_x_height is not None:
        return upscale_to(gray, estimate_x_height(gray, ink), target_x_height)
    return scale_for_ocr(gray, estimate_x_height(gray, ink))


def to_gray(image: np.ndarray, drop_colour_ink: bool = True) -> np.ndarray:
    """A uint8 single-channel image of a gray, BGR or BGRA image.

    With ``drop_colour_ink`` strongly coloured pixels take the value of their brightest channel
    instead of their luminance, so that blue stamps and signatures fade while black (and bluish
    black) print keeps its luminance: Tesseract otherwise takes a stamp overlapping the text for a
    picture and skips the lines under it.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"unsupported image shape {image.shape}")
    bgr = image if image.shape[2] == 3 else np.ascontiguousarray(image[..., :3])
    luminance = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if not drop_colour_ink:
        return luminance
    sample = bgr[::8, ::8]
    if int((sample.max(axis=2).astype(np.int16) - sample.min(axis=2)).max()) <= _COLOURLESS:
        return luminance  # no colour ink on the page
    blue, green, red = cv2.split(bgr)
    brightest = cv2.max(cv2.max(blue, green), red)
    chroma = cv2.subtract(brightest, cv2.min(cv2.min(blue, green), red))
    weight = cv2.LUT(chroma, _COLOUR_WEIGHT)
    lift = cv2.multiply(cv2.subtract(brightest, luminance), weight, scale=1 / 255)
    return cv2.add(luminance, lift)


def separate_ink(image: np.ndarray) -> np.ndarray:
    """Grayscale of a colour page with coloured ink (stamps, signatures) divided out of it.

    ``to_gray`` only lightens strongly coloured pixels to their brightest channel: a dark-blue
    ballpoint (RGB 25,40,120) or a violet stamp then stays nearly as dark as print and Tesseract
    reads the surname under it as garbage. Here colour is judged in Lab, where chroma (distance from
    the neutral axis, after removing the paper's colour cast, relative to the local paper brightness)
    separates blue and violet from black at any lightness. Ink multiplies: in its most transparent
    channel a stroke over paper is as bright as the stroke's ink nearby, a stroke over print is much
    darker. So each coloured pixel's brightest channel is divided by the brightest channel of the ink
    around it (a 15-pixel maximum over coloured pixels): ink over paper becomes paper, ink over print
    stays print, even in a blurred JPEG photo where the crossings keep some colour. About 0.3 s for an
    A4 page at 300 DPI; ``prepare_look("ink")`` uses it, the first pass does not.
    """
    image = np.asarray(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return to_gray(image)
    bgr = image if image.shape[2] == 3 else np.ascontiguousarray(image[..., :3])
    luminance = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    background = cv2.resize(estimate_background(luminance), (luminance.shape[1], luminance.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
    background = np.maximum(background, 32).astype(np.float32)
    # full-page float32 planes are 35 MB each at 300 DPI: intermediates are dropped as soon as used
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)
    a = lab[..., 1].astype(np.float32)
    a -= 128.0
    b = lab[..., 2].astype(np.float32)
    b -= 128.0
    del lab
    sample = (slice(None, None, 8), slice(None, None, 8))
    paper = luminance[sample] >= 0.85 * background[sample]
    if paper.any():  # the paper's cast (yellowish light, a bluish white balance) is not ink colour
        a -= float(np.median(a[sample][paper]))
        b -= float(np.median(b[sample][paper]))
    weight = np.asarray(cv2.magnitude(a, b), dtype=np.float32)
    del a, b
    weight *= 255.0 / (INK_CHROMA_HIGH - INK_CHROMA_LOW)
    weight /= background
    weight -= INK_CHROMA_LOW / (INK_CHROMA_HIGH - INK_CHROMA_LOW)
    np.clip(weight, 0.0, 1.0, out=weight)
    if int((weight[sample] >= 1.0).sum()) < 50:
        return luminance  # no coloured ink worth the name
    brightest = cv2.max(cv2.max(bgr[..., 0], bgr[..., 1]), bgr[..., 2]).astype(np.float32)
    ink_alone = cv2.dilate(np.where(weight >= 1.0, brightest, np.float32(0)),
                           cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15)))
    # the ratio is about 1 for ink over paper, 0.1-0.5 for ink over print (a blurred photo compresses
    # it); uneven ink (a stamp's blotches) scatters the first down to about 0.6: stretched apart
    np.maximum(ink_alone, 16.0, out=ink_alone)
    under = np.asarray(cv2.divide(brightest, ink_alone), dtype=np.float32)
    del brightest, ink_alone
    under -= INK_RATIO_PRINT
    under *= 1.0 / (INK_RATIO_PAPER - INK_RATIO_PRINT)
    np.clip(under, 0.0, 1.0, out=under)
    under *= background
    del background
    # widen the mask by a pixel: a stroke's anti-aliased rim is paler in colour than its core
    weight = np.asarray(cv2.dilate(weight, np.ones((3, 3), np.uint8)), dtype=np.float32)
    lum = luminance.astype(np.float32)
    under -= lum
    np.maximum(under, 0.0, out=under)
    under *= weight
    under += lum
    return np.clip(under, 0, 255).astype(np.uint8)


# Lab chroma (relative to the paper's brightness) from which a pixel counts as coloured ink: black
# print scans at 0-10, bluish-black toner up to about 18, blue/violet stamps and ballpoints at 30-65.
INK_CHROMA_LOW = 18.0
INK_CHROMA_HIGH = 28.0
INK_RATIO_PRINT, INK_RATIO_PAPER = 0.15, 0.6


# chroma (max - min channel) -> weight 0..255 of the brightest channel: 0 up to 30, 255 from 70
_COLOURLESS = 30
_COLOUR_WEIGHT = np.clip((np.arange(256) - _COLOURLESS) * 255 / 40, 0, 255).astype(np.uint8)


def _thumbnail(gray: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """A downscaled copy whose longer side is at most ``long_side``, and its scale factor."""
    scale = min(1.0, long_side / max(gray.shape[:2]))
    if scale >= 1.0:
        return gray, 1.0
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA), scale


# ------------------------------------------------------------------------------------------ perspective

def find_page_quad(gray: np.ndarray) -> Optional[np.ndarray]:
    """Corners (tl, tr, br, bl; float32 4x2, full-resolution pixels) of the paper in a photo.

    None when the page already fills the frame (a scan) or no convincing quadrilateral is found.
    Works on a 640-pixel thumbnail. Candidate outlines come from the sharp edges of the log image
    (where the paper meets the table the brightness ratio is large and abrupt at any light level,
    while shadows and light fall-off are gradual) and from thresholding the brightness; the
    candidate whose four sides lie best on sharp edges wins.
    """
    thumb, scale = _thumbnail(gray, 640)
    h, w = thumb.shape
    if h < 32 or w < 32:
        return None
    thumb = cv2.GaussianBlur(thumb, (3, 3), 0)
    ring = max(2, round(0.02 * min(h, w)))
    border = np.concatenate([thumb[:ring].ravel(), thumb[-ring:].ravel(),
                             thumb[:, :ring].ravel(), thumb[:, -ring:].ravel()])
    if float(np.percentile(border, 25)) > 0.8 * float(np.percentile(thumb, 90)):
        return None  # the frame's edges are paper: nothing to crop

    log_image = np.log(thumb.astype(np.float32) + 8.0)
    gradient = cv2.magnitude(cv2.Sobel(log_image, cv2.CV_32F, 1, 0, ksize=3),
                             cv2.Sobel(log_image, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    support = cv2.dilate(gradient, np.ones((5, 5), np.uint8))
    best_score, best_quad = 0.0, None
    for mask in _paper_masks(thumb, gradient):
        quad = _quad_from_mask(mask)
        if quad is None:
            continue
        score = _edge_support(support, quad)
        if score > best_score:
            best_score, best_quad = score, quad
        if best_score >= 0.9:
            break
    if best_quad is None or best_score < 0.6:
        return None
    corners = best_quad / scale
    frame = np.array([[0, 0], [gray.shape[1], 0], [gray.shape[1], gray.shape[0]], [0, gray.shape[0]]],
                     dtype=np.float32)
    if np.abs(corners - frame).max() < 0.02 * max(gray.shape):
        return None  # the paper is the whole frame
    return corners.astype(np.float32)


_SHARP_EDGE = 0.12  # log-brightness change per pixel of the thumbnail


def _paper_masks(thumb: np.ndarray, gradient: np.ndarray):
    """Candidate paper regions (uint8 masks), most reliable first; generated lazily."""
    edges = cv2.morphologyEx((gradient > _SHARP_EDGE).astype(np.uint8) * 255, cv2.MORPH_CLOSE,
                             np.ones((3, 3), np.uint8))
    yield edges  # the outer contour of the sharp edges: the sheet's outline
    h, w = thumb.shape
    reach = max(15, min(h, w) // 3) | 1
    light = cv2.blur(cv2.dilate(thumb, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach))), (reach, reach))
    relative = cv2.divide(thumb, np.maximum(light, 1), scale=255)
    for image in (relative, thumb):  # brightness relative to the local light, then plain brightness
        _, mask = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        yield cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))


def _quad_from_mask(mask: np.ndarray) -> Optional[np.ndarray]:
    h, w = mask.shape
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    outline = cv2.convexHull(max(contours, key=cv2.contourArea))
    if cv2.contourArea(outline) < 0.2 * h * w:
        return None
    quad = _four_corners(outline)
    if quad is None or not _plausible_quad(quad, w, h):
        return None
    return _order_corners(quad)


def _edge_support(support: np.ndarray, quad: np.ndarray, samples_per_side: int = 60) -> float:
    """Share of points along the quadrilateral's sides that lie on a sharp edge (0..1).

    Sides along the frame's border (a page cut off by the photo) count as supported.
    """
    h, w = support.shape
    supported = total = 0
    t = np.linspace(0.05, 0.95, samples_per_side, dtype=np.float32)[:, None]
    for i in range(4):
        points = quad[i] + t * (quad[(i + 1) % 4] - quad[i])
        xs = np.clip(points[:, 0].round().astype(int), 0, w - 1)
        ys = np.clip(points[:, 1].round().astype(int), 0, h - 1)
        at_border = (xs <= 2) | (xs >= w - 3) | (ys <= 2) | (ys >= h - 3)
        supported += int(((support[ys, xs] > _SHARP_EDGE) | at_border).sum())
        total += len(xs)
    return supported / total


def _four_corners(hull: np.ndarray) -> Optional[np.ndarray]:
    perimeter = cv2.arcLength(hull, True)
    for fraction in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, fraction * perimeter, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float32)
        if len(approx) < 4:
            break
    # A page cut by the frame or with a bent corner: take the hull's extreme points instead.
    points = hull.reshape(-1, 2).astype(np.float32)
    sums, diffs = points.sum(axis=1), points[:, 0] - points[:, 1]
    quad = np.array([points[sums.argmin()], points[diffs.argmax()], points[sums.argmax()],
                     points[diffs.argmin()]], dtype=np.float32)
    return quad if len({tuple(p) for p in quad}) == 4 else None


def _order_corners(quad: np.ndarray) -> np.ndarray:
    """Corners in the order top-left, top-right, bottom-right, bottom-left."""
    center = quad.mean(axis=0)
    angles = np.arctan2(quad[:, 1] - center[1], quad[:, 0] - center[0])
    ordered = quad[np.argsort(angles)]  # clockwise in image coordinates, starting top-left-ish
    start = int(np.argmin(ordered.sum(axis=1)))
    return np.roll(ordered, -start, axis=0)


def _plausible_quad(quad: np.ndarray, w: int, h: int) -> bool:
    ordered = _order_corners(quad)
    if not cv2.isContourConvex(ordered.reshape(-1, 1, 2)):
        return False
    if cv2.contourArea(ordered) < 0.2 * w * h:
        return False
    for i in range(4):
        a, b, c = ordered[i - 1], ordered[i], ordered[(i + 1) % 4]
        u, v = a - b, c - b
        cosine = float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
        if abs(cosine) > 0.5:  # interior angle outside 60..120 degrees
            return False
    return True


def warp_quad(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Warp the quadrilateral ``corners`` (tl, tr, br, bl) of ``image`` to an upright rectangle."""
    tl, tr, br, bl = corners.astype(np.float32)
    width = round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    target = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    warped = cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    margin = round(0.006 * min(width, height))  # the paper's edge and a sliver of table
    return warped[margin:height - margin, margin:width - margin]


def correct_perspective(gray: np.ndarray) -> np.ndarray:
    """The paper of a phone photo warped to a rectangle; the image itself when no page outline is found."""
    corners = find_page_quad(gray)
    if corners is None:
        return gray
    log.debug("page outline found: %s", corners.round().tolist())
    return warp_quad(gray, corners)


# ---------------------------------------------------------------------------------------- illumination

def estimate_background(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness without the ink (a morphological close at about 1/4 scale)."""
    thumb, _ = _thumbnail(gray, max(64, max(gray.shape) // 4))
    size = max(5, round(min(thumb.shape) / 40) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    background = cv2.morphologyEx(thumb, cv2.MORPH_CLOSE, kernel)
    return cv2.medianBlur(background, 5)


def normalise_illumination(gray: np.ndarray) -> np.ndarray:
    """Flatten uneven light: divide the image by its background; unchanged when the light is even."""
    background = estimate_background(gray)
    low, high = np.percentile(background, (2, 98))
    if high - low < 24 and low > 150:
        return gray
    full = cv2.resize(background, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.divide(gray, np.maximum(full, 1), scale=255)


# ------------------------------------------------------------------------------------------------ ink

@dataclass
class InkMap:
    """The ink of a page at a working resolution (longer side ``INK_MAP_LONG_SIDE``): Otsu's
    binarisation and its connected components.

    ``preprocess_page`` computes it once and hands it to the steps that need it; a step called on
    its own computes its own. It describes the image it was made from (same geometry).
    """

    work: np.ndarray  # the downscaled gray image
    scale: float  # working pixels per image pixel
    ink: np.ndarray  # 255 where there is ink
    count: int
    labels: np.ndarray
    stats: np.ndarray
    centroids: np.ndarray

    @classmethod
    def of(cls, gray: np.ndarray) -> "InkMap":
        work, scale = _thumbnail(gray, INK_MAP_LONG_SIDE)
        _, ink = cv2.threshold(work, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        count, labels, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
        return cls(work, scale, ink, count, labels, stats, centroids)

    @functools.cached_property
    def paper(self) -> int:
        """The paper's gray level."""
        return int(np.percentile(self.work[::4, ::4], 90))

    @functools.cached_property
    def letters(self) -> np.ndarray:
        """Labels of the letter-sized blobs (not specks, rules, frames, pictures)."""
        stats = self.stats[1:]
        widths, heights = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        h, w = self.work.shape
        letter = (heights >= 3) & (heights <= h / 20) & (widths <= w / 10) & (widths <= 3 * heights) \
            & (stats[:, cv2.CC_STAT_AREA] >= 4)
        return np.flatnonzero(letter) + 1

    @functools.cached_property
    def x_height(self) -> Optional[float]:
        """Median height of the letter-sized blobs in working pixels; None with fewer than 20."""
        if len(self.letters) < 20:
            return None
        return float(np.median(self.stats[self.letters, cv2.CC_STAT_HEIGHT]))


# ----------------------------------------------------------------------------------------------- rules

def remove_rules(gray: np.ndarray, ink: Optional[InkMap] = None) -> np.ndarray:
    """Paint long horizontal and vertical lines (table borders, rules, blanks) with the paper's colour.

    Tesseract's layout analysis tends to drop whole table cells (an IIN in a form!) as non-text;
    without the borders it reads them as ordinary text. Lines are found by morphological opening
    with long thin kernels at the ink map's resolution. Unchanged when there are no such lines.
    """
    ink = ink or InkMap.of(gray)
    h, w = ink.ink.shape
    horizontal = cv2.morphologyEx(ink.ink, cv2.MORPH_OPEN,
                                  cv2.getStructuringElement(cv2.MORPH_RECT, (max(10, w // 25), 1)))
    vertical = cv2.morphologyEx(ink.ink, cv2.MORPH_OPEN,
                                cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(10, h // 35))))
    if not cv2.countNonZero(horizontal) and not cv2.countNonZero(vertical):
        return gray
    rules = cv2.bitwise_or(_drop_text_bands(horizontal, ink, True), _drop_text_bands(vertical, ink, False))
    if not cv2.countNonZero(rules):
        return gray
    return _paint_paper(gray, cv2.dilate(rules, np.ones((3, 3), np.uint8)), ink)


def _drop_text_bands(lines: np.ndarray, ink: InkMap, horizontal: bool) -> np.ndarray:
    """``lines`` (a rule mask) without the runs that lie inside text.

    In a blurred photo the serifs and strokes of a line of letters run together into bars as long as
    a rule; erasing them erased the words (measured: photos with 2-5 px of motion blur lost half
    their lines, the name's among them). A printed rule has paper on both sides of it along most of
    its length; a bar inside a word has the letters' bodies on one side: a component with ink
    beside it (a third of an x-height away) along more than half its length is text.
    """
    if not cv2.countNonZero(lines):
        return lines
    points = cv2.findNonZero(lines)[:, 0]  # much faster than np.nonzero on a mostly empty mask
    xs, ys = points[:, 0], points[:, 1]
    x, y, bw, bh = cv2.boundingRect(points)
    count, labels = cv2.connectedComponents(lines[y:y + bh, x:x + bw], connectivity=8)
    owner = labels[ys - y, xs - x]
    offset = max(2, round(0.33 * ink.x_height)) if ink.x_height else 3
    h, w = lines.shape
    if horizontal:
        before = ink.ink[np.maximum(ys - offset, 0), xs] > 0
        after = ink.ink[np.minimum(ys + offset, h - 1), xs] > 0
    else:
        before = ink.ink[ys, np.maximum(xs - offset, 0)] > 0
        after = ink.ink[ys, np.minimum(xs + offset, w - 1)] > 0
    size = np.maximum(np.bincount(owner, minlength=count), 1)
    beside = np.maximum(np.bincount(owner, weights=before, minlength=count),
                        np.bincount(owner, weights=after, minlength=count)) / size
    in_text = (beside > 0.5)[owner]
    if not in_text.any():
        return lines
    lines = lines.copy()
    lines[ys[in_text], xs[in_text]] = 0
    return lines


def _paint_paper(gray: np.ndarray, mask: np.ndarray, ink: InkMap) -> np.ndarray:
    """``gray`` with the pixels under ``mask`` (working resolution, 0/255) lightened to paper."""
    paint: np.ndarray = mask // 255 * np.uint8(ink.paper)
    if ink.scale < 1.0:
        paint = cv2.resize(paint, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.max(gray, paint)  # ink there becomes paper; anything lighter stays


# ---------------------------------------------------------------------------------------------- specks

def remove_specks(gray: np.ndarray, ink: Optional[InkMap] = None) -> np.ndarray:
    """Erase dust: ink blobs much smaller than a letter and far from any letter.

    A speck a line-height above a word makes Tesseract stretch the word's box to it and misread
    the word ("Ковальчук" -> "овалЕнук"). Periods, commas, quotes, the dots of і and ё stay: they lie
    within about one x-height of a letter's bounding box. Works at the ink map's resolution;
    unchanged when there is no speck.
    """
    ink = ink or InkMap.of(gray)
    if ink.x_height is None:
        return gray  # hardly any text: nothing to tell specks from
    areas = ink.stats[:, cv2.CC_STAT_AREA]
    small = areas <= max(2.0, (0.3 * ink.x_height) ** 2)
    small[0] = False
    if not small.any():
        return gray
    boxes = np.zeros_like(ink.ink)  # the bounding boxes of everything larger than a speck
    for x, y, w, h in ink.stats[1:, :4][~small[1:]]:
        boxes[y:y + h, x:x + w] = 255
    reach = max(2, round(0.9 * ink.x_height))
    near = cv2.dilate(boxes, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1, 2 * reach + 1)))
    touching = np.bincount(ink.labels[near > 0].ravel(), minlength=ink.count) > 0
    specks = small & ~touching
    if not specks.any():
        return gray
    return _paint_paper(gray, cv2.dilate(specks[ink.labels].astype(np.uint8) * 255, np.ones((3, 3), np.uint8)), ink)


# ---------------------------------------------------------------------------------------------- skew

@dataclass(frozen=True)
class LineAnalysis:
    """Direction of the text lines: ``skew`` degrees (positive = page turned counter-clockwise, the
    convention of ``PIL.Image.rotate``) relative to the nearest axis, and whether the lines run
    vertically (the page is turned by about 90 or 270 degrees). ``strength`` > 1 when lines are found."""

    skew: float
    vertical: bool
    strength: float


def _letter_centers(ink: InkMap) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the letter-sized blobs of an ink map.

    Blobs much larger than a letter (rules, table frames, a dark scanner edge, pictures) and specks are
    left out, so that only text decides the direction of the lines. The size test is symmetric in
    width and height: a page turned by 90 degrees must give the same blobs.
    """
    stats = ink.stats[1:]
    longest = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    letters = (longest >= 3) & (longest <= min(ink.work.shape) / 15) & (stats[:, cv2.CC_STAT_AREA] >= 4)
    centers = ink.centroids[1:][letters]
    return centers[:, 0].astype(np.float32), centers[:, 1].astype(np.float32)


def _profile_score(xs: np.ndarray, ys: np.ndarray, degrees: float) -> float:
    """How sharply the ink concentrates into rows after turning the page by ``degrees``."""
    a = math.radians(degrees)
    rows = (ys * math.cos(a) - xs * math.sin(a)).astype(np.int32)
    counts = np.bincount(rows - rows.min()).astype(np.float64)
    return float(np.dot(counts, counts))


def analyse_text_lines(gray: np.ndarray, ink: Optional[InkMap] = None) -> LineAnalysis:
    """Find the direction of the text lines by maximising the sharpness of projection profiles.

    Projections are computed on the centres of letter-sized blobs of a thumbnail for angles within
    ``MAX_SKEW_DEGREES`` of the horizontal and of the vertical (coarse 1-degree search, then 0.1).
    No ``cv2.minAreaRect`` is involved, so OpenCV's change of its angle range (4.5.1) does not matter.
    """
    xs, ys = _letter_centers(ink or InkMap.of(gray))
    if len(xs) < 40:
        return LineAnalysis(0.0, False, 0.0)
    best = {}
    for vertical in (False, True):
        px, py = (ys, xs) if vertical else (xs, ys)
        coarse = np.arange(-MAX_SKEW_DEGREES, MAX_SKEW_DEGREES + 0.5, 1.0)
        scores = [_profile_score(px, py, a) for a in coarse]
        center = float(coarse[int(np.argmax(scores))])
        fine = np.arange(center - 1.0, center + 1.05, 0.1)
        fine_scores = [_profile_score(px, py, a) for a in fine]
        i = int(np.argmax(fine_scores))
        best[vertical] = (float(fine[i]), fine_scores[i], float(np.median(scores)))
    vertical = best[True][1] > 1.5 * best[False][1]
    angle, score, typical = best[vertical]
    # angle turns the ink back to the axis; for vertical lines x and y were swapped (a mirror image)
    skew = angle if vertical else -angle
    return LineAnalysis(round(skew, 2), vertical, score / typical if typical else 0.0)


def rotate_image(gray: np.ndarray, degrees: float, fill: Optional[int] = None) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees`` on an enlarged canvas, so no corner is cut off."""
    h, w = gray.shape[:2]
    if fill is None:
        fill = int(np.percentile(_thumbnail(gray, 256)[0], 90))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    return cv2.warpAffine(gray, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def deskew(gray: np.ndarray, analysis: Optional[LineAnalysis] = None) -> np.ndarray:
    """Rotate away a skew between ``MIN_SKEW_DEGREES`` and ``MAX_SKEW_DEGREES`` (either sign).

    ``analysis`` is ``analyse_text_lines(gray)`` when the caller already has it.
    """
    analysis = analysis or analyse_text_lines(gray)
    if analysis.strength < MIN_LINE_STRENGTH or abs(analysis.skew) < MIN_SKEW_DEGREES:
        return gray
    log.debug("deskewing by %.2f degrees", analysis.skew)
    return rotate_image(gray, -analysis.skew)


def text_line_direction(gray: np.ndarray) -> Optional[str]:
    """``"vertical"`` when the text lines run top to bottom (the page is turned by 90 or 270 degrees),
    ``"horizontal"`` when they run across (upright or upside down), None when no lines are found.

    Measured on rendered and photographed pages: the horizontal profile's sharpness over the
    vertical one is at most 0.3 on pages turned sideways and at least 0.7 on upright hard photos,
    either side of the 1/1.5 that tells them apart.
    """
    analysis = analyse_text_lines(gray)
    if analysis.strength < MIN_LINE_STRENGTH:
        return None
    return "vertical" if analysis.vertical else "horizontal"


def rotate_right_angle(image: np.ndarray, degrees: int) -> np.ndarray:
    """Rotate clockwise by 0, 90, 180 or 270 degrees (Tesseract OSD's "Rotate:" value)."""
    turns = (degrees // 90) % 4
    if degrees % 90:
        raise ValueError(f"not a right angle: {degrees}")
    if turns == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k=-turns))


# ------------------------------------------------------------------------------------------- scaling

def estimate_x_height(gray: np.ndarray, ink: Optional[InkMap] = None) -> Optional[float]:
    """Median height in pixels of letter-sized ink blobs (about the lower-case letter height).

    None when there are too few of them to judge (a blank page, a picture).
    """
    ink = ink or InkMap.of(gray)
    return None if ink.x_height is None else ink.x_height / ink.scale


def scale_for_ocr(gray: np.ndarray, x_height: Optional[float] = None) -> np.ndarray:
    """Resize so that the x-height is near ``TARGET_X_HEIGHT``: small scans up, huge photos down.

    Unchanged when the letters are already in the comfortable range (15-48 px). ``x_height`` is
    ``estimate_x_height(gray)`` when the caller already has it.
    """
    x_height = x_height or estimate_x_height(gray)
    if x_height is None or MIN_GOOD_X_HEIGHT <= x_height <= MAX_GOOD_X_HEIGHT:
        return gray
    factor = min(MAX_UPSCALE, TARGET_X_HEIGHT / x_height,
                 math.sqrt(max(MAX_OCR_PIXELS, gray.size) / gray.size))
    if abs(factor - 1) < 0.05:
        return gray
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    log.debug("x-height %.1f px: scaling by %.2f", x_height, factor)
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    return cv2.resize(gray, size, interpolation=interpolation)


# ---------------------------------------------------------------------------------------- second look

SECOND_LOOKS = ("ink", "dark_print", "photo", "photo_binary", "photo_deblur",
                "ink+photo", "ink+photo_binary", "ink+photo_deblur")
PHOTO_X_HEIGHT = 30.0  # px: the second look at a photo reads larger letters than the first pass
STROKE_CORE_LEVELS = (40, 150)  # gray levels of a deblurred photo stretched to black..white
PHOTO_MIN_UPSCALE = 1.4
DARK_PRINT_LEVEL = 100  # of a flattened page (paper 255, print 0): lighter ink is a seal's, not the print's


def has_colour_ink(image: np.ndarray) -> bool:
    """Whether a loaded page has coloured ink at all (a stamp, a blue signature): a sample, ~5 ms."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        return False
    sample = np.ascontiguousarray(image[::6, ::6, :3])
    lab = cv2.cvtColor(sample, cv2.COLOR_BGR2LAB)
    a = lab[..., 1].astype(np.float32) - 128
    b = lab[..., 2].astype(np.float32) - 128
    chroma = cv2.magnitude(a - float(np.median(a)), b - float(np.median(b)))
    return int((chroma > INK_CHROMA_HIGH).sum()) >= 30


def prepare_look(image: np.ndarray, look: str) -> np.ndarray:
    """Another preparation of a loaded page (gray or BGR) for a second look, when the first was not enough.

    - ``ink``: the first pass's steps on ``separate_ink``'s gray: stamps and coloured signatures
      over the name divided out (the page outline is found on the plain gray first: a coloured
      table would otherwise turn into paper too);
    - ``dark_print``: the first pass's steps on ``keep_dark_print``'s page: the mid-gray ink of a
      seal on a page scanned in gray turned to paper;
    - ``photo``: for a hard phone photo: the outline, the illumination flattened always (the first
      pass leaves mild unevenness alone), a light denoise (JPEG blocks) and an unsharp mask against
      motion and focus blur, and letters enlarged to ``PHOTO_X_HEIGHT`` (Tesseract reads blurred
      small letters better at about 30 px than at 15-20);
    - ``photo_binary``: ``photo`` binarised by a local threshold, for light that still varies
      within a line;
    - ``photo_deblur``: ``photo`` with the camera's motion undone (``undo_motion_blur``) instead of
      the unsharp mask, then the strokes' gray halo turned to paper (``keep_stroke_cores``);
    - ``ink+photo``, ``ink+photo_binary``, ``ink+photo_deblur``: the same on the colour-separated page
      (ink on a photo).
    """
    if look not in SECOND_LOOKS:
        raise ValueError(f"unknown look {look!r}")
    gray = to_gray(image)
    corners = find_page_quad(gray)
    if look.startswith("ink"):
        gray = separate_ink(image if corners is None else warp_quad(np.asarray(image), corners))
    elif corners is not None:
        gray = warp_quad(gray, corners)
    if look == "ink":
        return _prepare_flat(normalise_illumination(gray))
    if look == "dark_print":
        return _prepare_flat(keep_dark_print(gray))
    flat = flatten_illumination(gray)
    crisp = undo_motion_blur(flat) if look.endswith("deblur") else sharpen(flat)
    prepared = _prepare_flat(crisp, target_x_height=PHOTO_X_HEIGHT)
    if look.endswith("photo_binary"):
        return binarise_local(prepared)
    if look.endswith("deblur"):
        return keep_stroke_cores(prepared)
    return prepared


def keep_dark_print(gray: np.ndarray) -> np.ndarray:
    """The page flattened (``flatten_illumination``) with only the ink darker than ``DARK_PRINT_LEVEL``
    kept: the rest turned to paper.

    A seal or a coloured signature scanned in gray has no colour left to separate it by, but its ink
    stays lighter than the black print (a violet or blue seal at 100-160 on the flattened page, the
    print under 60): "Лысенко Мария Даниловна" under a gray seal read "Лысено Мария, Данипо\\на". The
    print's own gray edges go too, which a page scanned at 200-300 DPI can spare.
    """
    table = np.arange(256, dtype=np.uint8)
    table[DARK_PRINT_LEVEL + 1:] = 255
    return cv2.LUT(flatten_illumination(gray), table)


def keep_stroke_cores(gray: np.ndarray) -> np.ndarray:
    """Only the dark core of each stroke kept as ink, its gray halo turned to paper (a flattened page:
    paper white, print black).

    Blur spreads a stroke's ink into a halo as wide as the blur, and what the deconvolution leaves of
    it Tesseract reads as ink: letters come out bold, counters close and neighbours touch
    ("Петровной" read "Петровнюй"). Gray levels from ``STROKE_CORE_LEVELS`` are stretched to black..white.
    Measured on 26 hard phone photos of the development set whose deblurred look did not find the
    applicant's name: with the cores kept it found it on 12 (levels 40-150), 9 (20-130), 8 (60-170),
    7 (40-200), 6 (0-120); without, on 1.
    """
    low, high = STROKE_CORE_LEVELS
    table = np.clip((np.arange(256) - low) * 255.0 / (high - low), 0, 255).astype(np.uint8)
    return cv2.LUT(gray, table)


def flatten_illumination(gray: np.ndarray) -> np.ndarray:
    """Divide by the background unconditionally, stretching the paper to white and print to black."""
    background = cv2.resize(estimate_background(gray), (gray.shape[1], gray.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
    flat = cv2.divide(gray, np.maximum(background, 1), scale=255)
    low = float(np.percentile(flat[::8, ::8], 1))
    if low >= 200:
        return flat
    return cv2.convertScaleAbs(flat, alpha=255.0 / (255.0 - low), beta=-low * 255.0 / (255.0 - low))


def sharpen(gray: np.ndarray, sigma: float = 1.5, amount: float = 1.0) -> np.ndarray:
    """Unsharp mask after a light median (JPEG block noise must not be sharpened with the letters)."""
    smooth = cv2.medianBlur(gray, 3)
    blurred = cv2.GaussianBlur(smooth, (0, 0), sigma)
    return cv2.addWeighted(smooth, 1 + amount, blurred, -amount, 0)


MOTION_MIN_LENGTH = 3.0  # px: shorter camera motion is left to the unsharp mask
MOTION_MAX_LENGTH = 10.0
WIENER_NOISE_TO_SIGNAL = 0.02
MOTION_SAMPLE_SIDE = 2048  # px: the square of the page the motion is measured on, at most
MOTION_MAX_PIXELS = 12_000_000  # larger pages get the unsharp mask (the Wiener filter is one FFT of the page)


def estimate_motion_blur(gray: np.ndarray) -> tuple[float, float]:
    """The camera's motion during the exposure: (length in pixels, direction in degrees, 0-180).

    A straight motion blur multiplies the page's spectrum by a sinc whose zeros repeat along the
    motion; in the cepstrum (the spectrum of the log spectrum) they add up to a deep minimum at the
    motion's length in its direction. Measured on rendered pages blurred by known lines of 5-7 px:
    the direction within 5 degrees, the length within a pixel; a 3 px blur is below what it tells
    from the letters' own structure. Read on the middle of the page (at most
    ``MOTION_SAMPLE_SIDE`` pixels square, whatever the page's size), about 30 ms.
    """
    h, w = gray.shape
    crop_h, crop_w = min(h - h // 4, MOTION_SAMPLE_SIDE), min(w - w // 4, MOTION_SAMPLE_SIDE)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = gray[top: top + crop_h, left: left + crop_w].astype(np.float32)
    crop -= float(crop.mean())
    window = np.outer(np.hanning(crop.shape[0]), np.hanning(crop.shape[1])).astype(np.float32)
    spectrum = np.abs(np.fft.fft2(crop * window))
    if float(spectrum.max()) < 1e-3:
        return 0.0, 0.0  # a blank page: no motion to see
    cepstrum = np.fft.fftshift(np.real(np.fft.ifft2(np.log(spectrum + 1e-3 * float(spectrum.max())))))
    cepstrum = cepstrum.astype(np.float32)
    cy, cx = cepstrum.shape[0] // 2, cepstrum.shape[1] // 2
    radii, angles = np.meshgrid(np.arange(2.0, MOTION_MAX_LENGTH + 0.01, 0.5), np.radians(np.arange(0, 180, 5)))
    xs = (cx + radii * np.cos(angles)).astype(np.float32)
    ys = (cy + radii * np.sin(angles)).astype(np.float32)
    values = cv2.remap(cepstrum, xs, ys, cv2.INTER_LINEAR)
    row, col = np.unravel_index(int(np.argmin(values)), values.shape)
    return float(radii[row, col]), float(np.degrees(angles[row, col]))


def motion_kernel(length: float, degrees: float) -> np.ndarray:
    """A normalised line of ``length`` pixels at ``degrees`` (anti-aliased): the point spread of a
    straight camera motion."""
    half = (length - 1) / 2
    size = 2 * math.ceil(half) + 1
    kernel = np.zeros((size, size), np.float32)
    centre, angle = size // 2, math.radians(degrees)
    for t in np.linspace(-half, half, max(2, int(4 * length))):
        x, y = centre + t * math.cos(angle), centre + t * math.sin(angle)
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        for dx, dy, weight in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                               (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            if 0 <= x0 + dx < size and 0 <= y0 + dy < size:
                kernel[y0 + dy, x0 + dx] += weight
    return kernel / kernel.sum()


def undo_motion_blur(gray: np.ndarray) -> np.ndarray:
    """The page with the camera's straight motion deconvolved (Wiener filter), or, when the motion
    is shorter than ``MOTION_MIN_LENGTH`` or the page larger than ``MOTION_MAX_PIXELS``, the unsharp
    mask of ``sharpen``."""
    if gray.size > MOTION_MAX_PIXELS:
        return sharpen(gray)  # not a phone photo; the page's spectrum would cost gigabytes
    length, degrees = estimate_motion_blur(gray)
    if length < MOTION_MIN_LENGTH:
        return sharpen(gray)
    kernel = motion_kernel(length + 1, degrees)
    pad = kernel.shape[0] * 2
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE).astype(np.float32) / 255
    spread = np.zeros_like(padded)
    spread[: kernel.shape[0], : kernel.shape[1]] = kernel
    spread = np.roll(spread, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), axis=(0, 1))
    transfer = np.fft.rfft2(spread)
    wiener = np.conj(transfer) / (np.abs(transfer) ** 2 + WIENER_NOISE_TO_SIGNAL)
    restored = np.fft.irfft2(np.fft.rfft2(padded) * wiener, s=padded.shape)
    log.debug("motion blur %.1f px at %.0f degrees undone", length, degrees)
    return np.clip(restored[pad:-pad, pad:-pad] * 255, 0, 255).astype(np.uint8)


def upscale_to(gray: np.ndarray, x_height: Optional[float], target: float) -> np.ndarray:
    """Enlarge so that the x-height reaches ``target`` (at least ``PHOTO_MIN_UPSCALE``, at most
    ``MAX_UPSCALE``, within ``MAX_OCR_PIXELS``); never shrinks."""
    if x_height is None:
        return gray
    factor = min(MAX_UPSCALE, max(PHOTO_MIN_UPSCALE, target / x_height),
                 math.sqrt(max(MAX_OCR_PIXELS, gray.size) / gray.size))
    if x_height * factor > 2 * target or factor <= 1.05:
        return gray
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)


def binarise_local(gray: np.ndarray) -> np.ndarray:
    """Black print on white by a threshold from each pixel's neighbourhood (about two text lines)."""
    ink = InkMap.of(gray)
    x_height = (ink.x_height / ink.scale) if ink.x_height else 20.0
    block = max(15, int(4 * x_height) | 1)
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 15)
