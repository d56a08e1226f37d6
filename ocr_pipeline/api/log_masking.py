"""IIN masking for the API's logs: the handler filter of :mod:`ocr_pipeline.log_masking` (re-exported).

``ocr-pipeline serve`` adds :class:`MaskIinFilter` to the root handler; importing ``ocr_pipeline``
also masks every record when it is created (:func:`ocr_pipeline.log_masking.install_record_masking`).
"""

from __future__ import annotations

from ..log_masking import MaskIinFilter, install_iin_masking, mask_iins, mask_record

__all__ = ["MaskIinFilter", "install_iin_masking", "mask_iins", "mask_record"]
